package node_test

// Tests of SPEC §13 across three in-process nodes: the per-user connection
// limit under concurrent connects, and every server API call (HTTP and
// NATS), complete or not.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

// startClusterWith starts size nodes configured by edit and waits until
// they see each other.
func startClusterWith(t *testing.T, size int, edit func(c *config.Config)) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for range size {
		c := hubtest.ClusterConfig(t)
		if len(nodes) > 0 {
			c.Cluster.Join = []string{nodes[0].GossipAddr()}
		}
		if edit != nil {
			edit(c)
		}
		nodes = append(nodes, hubtest.Start(t, c))
	}
	waitFormed(t, nodes, true)
	// Subscription interest travels between the NATS servers after the
	// routes are up: wait until every node hears every other.
	hubtest.Eventually(t, "every node to answer cluster-wide commands", func() bool {
		for _, n := range nodes {
			if _, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms?prefix=none", "", ""); body["complete"] != true {
				return false
			}
		}
		return true
	})
	return nodes
}

// clusterEvents subscribes to subject on every node's own NATS server,
// so that no event is missed while subscription interest is still
// travelling between the servers, and merges what arrives.
func clusterEvents(t *testing.T, nodes []*node.Node, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 4096)
	for _, n := range nodes {
		nc := hubtest.NATS(t, n.NATSURL())
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			var e struct{ Node string }
			if json.Unmarshal(m.Data, &e) == nil && e.Node == n.Name() {
				ch <- m // each event once: from its own node's server
			}
		}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

// connectEvent is a connection's id and when its connect event says it
// connected.
type connectEvent struct {
	id string
	at time.Time
}

func TestUserLimit_ConcurrentConnects(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	for _, policy := range []string{config.PolicyRefuseNew, config.PolicyCloseOldest} {
		t.Run(policy, func(t *testing.T) { testUserLimit(t, policy) })
	}
}

// testUserLimit opens 20 connections of one user at once, spread over 3
// nodes, with max_connections_per_user = 3: once things settle exactly 3
// are open, the others were closed with 4501, and the 3 left are the first
// to connect (refuse_new) or the last (close_oldest).
func testUserLimit(t *testing.T, policy string) {
	const limit, total = 3, 20
	nodes := startClusterWith(t, 3, func(c *config.Config) {
		c.WebSocket.MaxConnectionsPerUser = limit
		c.WebSocket.UserLimitPolicy = policy
	})
	connects := clusterEvents(t, nodes, "hub.events.connect")
	disconnects := clusterEvents(t, nodes, "hub.events.disconnect")

	clients := make([]*hubtest.Client, total)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range total {
		wg.Go(func() {
			<-start
			clients[i] = hubtest.Dial(t, nodes[i%3].WSURL()+"?user=lim", nil)
		})
	}
	close(start)
	wg.Wait()

	// Every connection ends with a disconnect event; those closed before
	// they were routable have their connect event published just before.
	closedIDs := map[string]bool{}
	for len(closedIDs) < total-limit {
		e, _ := hubtest.NextEvent(t, disconnects, func(e protocol.Event) bool { return e.User == "lim" })
		if e.Reason != protocol.ReasonConnectionLimit {
			t.Fatalf("connection %s ended with %q, want %q", e.ConnectionID, e.Reason, protocol.ReasonConnectionLimit)
		}
		closedIDs[e.ConnectionID] = true
	}
	// The dust settles: no more closes, 3 connections open in the cluster.
	select {
	case m := <-disconnects:
		t.Fatalf("a %d-th connection was closed: %s", len(closedIDs)+1, m.Data)
	case <-time.After(time.Second):
	}
	open, closed4501 := 0, 0
	for _, c := range clients {
		select {
		case <-c.Done():
			if code, reason := c.Closed(); code == int(protocol.CloseConnectionLimit) && reason == protocol.ReasonConnectionLimit {
				closed4501++
			} else {
				t.Errorf("a client was closed with %d %q", code, reason)
			}
		default:
			open++
		}
	}
	if open != limit || closed4501 != total-limit {
		t.Fatalf("%d clients open, %d closed with 4501; want %d and %d", open, closed4501, limit, total-limit)
	}
	if _, body := hubtest.HTTP(t, "GET", nodes[1].HTTPURL()+"/api/users/lim", "", ""); body["connections"] != float64(limit) || body["complete"] != true {
		t.Fatalf("GET /api/users/lim: %v, want %d connections", body, limit)
	}

	// The policy: the connections left are the first (refuse_new) or the
	// last (close_oldest) to have connected, by the time their connect
	// events carry (when each was accepted).
	var opened []connectEvent
	for drained := false; !drained; {
		select {
		case m := <-connects:
			if e := hubtest.Event(t, m); e.User == "lim" {
				opened = append(opened, connectEvent{e.ConnectionID, e.Time})
			}
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
	var kept []connectEvent
	for _, e := range opened {
		if !closedIDs[e.id] {
			kept = append(kept, e)
		}
	}
	if len(kept) != limit {
		t.Fatalf("%d connect events of connections still open, want %d", len(kept), limit)
	}
	if len(opened) != total {
		t.Fatalf("%d connect events for %d connections, want one each", len(opened), total)
	}
	for _, e := range opened {
		if !closedIDs[e.id] {
			continue
		}
		for _, k := range kept {
			if policy == config.PolicyRefuseNew && e.at.Before(k.at) || policy == config.PolicyCloseOldest && e.at.After(k.at) {
				t.Errorf("%s: %s (connected %s) was closed, %s (connected %s) kept", policy,
					e.id, e.at.Format(time.StampMicro), k.id, k.at.Format(time.StampMicro))
			}
		}
	}
}

// apiCall is an HTTP call to a node's API.
func apiCall(t *testing.T, n *node.Node, method, path, body string) (int, map[string]any) {
	t.Helper()
	return hubtest.HTTP(t, method, n.HTTPURL()+path, "", body)
}

func TestServerAPI_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startClusterWith(t, 3, nil)
	nc := hubtest.NATS(t, nodes[0].NATSURL())
	connects := clusterEvents(t, nodes, "hub.events.connect")
	// ann on every node, bob on node 2.
	var ann []*hubtest.Client
	for _, n := range nodes {
		ann = append(ann, dial(t, n, "ann"))
	}
	bob := dial(t, nodes[2], "bob")
	ids := map[string]string{}
	for range 4 {
		e, _ := hubtest.NextEvent(t, connects, nil)
		ids[e.User+"@"+e.Node] = e.ConnectionID
	}
	bobID := ids["bob@"+nodes[2].Name()]

	t.Run("user joins and leaves a room on every node", func(t *testing.T) {
		status, body := apiCall(t, nodes[0], "POST", "/api/users/ann/rooms/news", "")
		if status != 200 || body["connections"] != float64(3) || body["nodes"] != float64(3) || body["complete"] != true {
			t.Fatalf("POST /api/users/ann/rooms/news: %d %v", status, body)
		}
		for _, c := range ann {
			if m := c.Expect("joined"); m.S("room") != "news" || m.S("by") != "server" {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		// The answer came once the rooms were joined: a message published
		// right after it reaches every connection.
		apiCall(t, nodes[1], "POST", "/api/rooms/news/messages", `"n1"`)
		for _, c := range ann {
			if m := c.Expect("message"); m.S("room") != "news" {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		status, body = apiCall(t, nodes[1], "DELETE", "/api/users/ann/rooms/news", "")
		if status != 200 || body["connections"] != float64(3) || body["complete"] != true {
			t.Fatalf("DELETE /api/users/ann/rooms/news: %d %v", status, body)
		}
		for _, c := range ann {
			if m := c.Expect("left"); m.S("_raw") != `{"type":"left","room":"news","by":"server","reason":"api"}` {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		apiCall(t, nodes[1], "POST", "/api/rooms/news/messages", `"gone"`)
		for _, c := range ann {
			c.Quiet(100 * time.Millisecond)
		}
	})

	t.Run("one connection joins and leaves a room", func(t *testing.T) {
		status, body := apiCall(t, nodes[0], "POST", "/api/connections/"+bobID+"/rooms/desk", "")
		if status != 200 || body["complete"] != true {
			t.Fatalf("POST /api/connections/%s/rooms/desk: %d %v", bobID, status, body)
		}
		bob.Expect("joined")
		status, body = apiCall(t, nodes[1], "DELETE", "/api/connections/"+bobID+"/rooms/desk", "")
		if status != 200 || body["was_member"] != true {
			t.Fatalf("DELETE: %d %v", status, body)
		}
		if m := bob.Expect("left"); m.S("room") != "desk" {
			t.Fatalf("got %s", m["_raw"])
		}
		if status, _ := apiCall(t, nodes[0], "POST", "/api/connections/"+nodes[2].Name()+".zzz/rooms/desk", ""); status != 404 {
			t.Fatalf("unknown connection: %d, want 404", status)
		}
	})

	t.Run("rooms are listed with their members across the cluster", func(t *testing.T) {
		for i, c := range ann {
			c.Join("list.all")
			if i > 0 {
				c.Join(fmt.Sprintf("list.n%d", i))
			}
		}
		bob.Join("list.n2")
		status, body := apiCall(t, nodes[1], "GET", "/api/rooms?prefix=list.&limit=2", "")
		if status != 200 || body["complete"] != true || body["next_cursor"] != "list.n1" {
			t.Fatalf("GET /api/rooms: %d %v", status, body)
		}
		got, _ := json.Marshal(body["rooms"])
		if string(got) != `[{"members":3,"room":"list.all"},{"members":1,"room":"list.n1"}]` {
			t.Fatalf("first page %s", got)
		}
		_, body = apiCall(t, nodes[2], "GET", "/api/rooms?prefix=list.&cursor=list.n1", "")
		if got, _ := json.Marshal(body["rooms"]); string(got) != `[{"members":2,"room":"list.n2"}]` || body["next_cursor"] != "" {
			t.Fatalf("second page %s %v", got, body)
		}
		_, body = apiCall(t, nodes[0], "GET", "/api/rooms?prefix=list.&sort=members&limit=2", "")
		if got, _ := json.Marshal(body["rooms"]); string(got) != `[{"members":3,"room":"list.all"},{"members":2,"room":"list.n2"}]` {
			t.Fatalf("busiest %s", got)
		}
	})

	t.Run("one message to many rooms", func(t *testing.T) {
		status, body := apiCall(t, nodes[0], "POST", "/api/messages", `{"rooms":["list.n1","list.n2","list.n2"],"data":{"x":1}}`)
		if status != 202 || body["rooms"] != float64(2) {
			t.Fatalf("POST /api/messages: %d %v", status, body)
		}
		for _, c := range []*hubtest.Client{ann[1], ann[2], bob} {
			if m := c.Expect("message"); m.JSON("data") != `{"x":1}` || !strings.HasPrefix(m.S("room"), "list.n") {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		ann[0].Quiet(100 * time.Millisecond)
		for _, bad := range []string{`{"rooms":[],"data":1}`, `{"rooms":["a b"],"data":1}`, `{"rooms":["a"]}`, `[1]`} {
			if status, _ := apiCall(t, nodes[0], "POST", "/api/messages", bad); status != 400 {
				t.Errorf("POST /api/messages %s: %d, want 400", bad, status)
			}
		}
	})

	t.Run("the same commands over NATS", func(t *testing.T) {
		req := func(op string, v any) map[string]any {
			t.Helper()
			b, _ := json.Marshal(v)
			m, err := nc.Request("hub.api."+op, b, 5*time.Second)
			if err != nil {
				t.Fatalf("hub.api.%s: %v", op, err)
			}
			var out map[string]any
			decode(t, m.Data, &out)
			return out
		}
		if r := req("users.join", map[string]any{"user": "ann", "room": "bus"}); r["connections"] != float64(3) || r["complete"] != true {
			t.Fatalf("users.join: %v", r)
		}
		for _, c := range ann {
			c.Expect("joined")
		}
		if r := req("messages.publish", map[string]any{"rooms": []string{"bus"}, "data": "via nats"}); r["status"] != "accepted" {
			t.Fatalf("messages.publish: %v", r)
		}
		for _, c := range ann {
			if m := c.Expect("message"); m.JSON("data") != `"via nats"` {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		if r := req("rooms.list", map[string]any{"prefix": "bus"}); r["complete"] != true {
			t.Fatalf("rooms.list: %v", r)
		} else if got, _ := json.Marshal(r["rooms"]); string(got) != `[{"members":3,"room":"bus"}]` {
			t.Fatalf("rooms.list: %s", got)
		}
		if r := req("users.leave", map[string]any{"user": "ann", "room": "bus"}); r["connections"] != float64(3) {
			t.Fatalf("users.leave: %v", r)
		}
		for _, c := range ann {
			c.Expect("left")
		}
		if r := req("connections.join", map[string]any{"connection": bobID, "room": "bus2"}); r["complete"] != true {
			t.Fatalf("connections.join: %v", r)
		}
		bob.Expect("joined")
		if r := req("connections.leave", map[string]any{"connection": bobID, "room": "bus2"}); r["was_member"] != true {
			t.Fatalf("connections.leave: %v", r)
		}
		bob.Expect("left")
		if r := req("users.join", map[string]any{"user": "a b", "room": "x"}); r["error"] != "invalid user name" || r["http_status"] != float64(400) {
			t.Fatalf("bad request: %v", r)
		}
		if r := req("nothing", map[string]any{}); r["http_status"] != float64(404) {
			t.Fatalf("unknown command: %v", r)
		}
	})

	t.Run("a user is disconnected everywhere with the code given", func(t *testing.T) {
		if status, _ := apiCall(t, nodes[0], "DELETE", "/api/users/ann?code=3000", ""); status != 400 {
			t.Fatalf("code 3000: %d, want 400", status)
		}
		status, body := apiCall(t, nodes[1], "DELETE", "/api/users/ann?code=4000", "")
		if status != 200 || body["connections"] != float64(3) || body["code"] != float64(4000) || body["complete"] != true {
			t.Fatalf("DELETE /api/users/ann: %d %v", status, body)
		}
		for _, c := range ann {
			if code, reason := c.Closed(); code != 4000 || reason != protocol.ReasonReconnect {
				t.Fatalf("closed %d %q, want 4000 reconnect", code, reason)
			}
		}
		r, err := nc.Request("hub.api.connections.disconnect", fmt.Appendf(nil, `{"connection":%q}`, bobID), 5*time.Second)
		if err != nil || !strings.Contains(string(r.Data), `"code":4500`) {
			t.Fatalf("connections.disconnect: %v %s", err, r.Data)
		}
		if code, _ := bob.Closed(); code != int(protocol.CloseKicked) {
			t.Fatalf("bob closed with %d, want 4500", code)
		}
	})
}

// A node that stops answering (its NATS cut, still a gossip member) makes
// every cluster-wide answer incomplete, and a call about one of its
// connections a 504; the other nodes still do their part.
func TestServerAPI_Incomplete(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startClusterWith(t, 3, nil)
	nc := hubtest.NATS(t, nodes[0].NATSURL())
	connects := clusterEvents(t, nodes, "hub.events.connect")
	var cls []*hubtest.Client
	for _, n := range nodes {
		cls = append(cls, dial(t, n, "cy"))
	}
	var cutID string
	for range 3 {
		e, _ := hubtest.NextEvent(t, connects, nil)
		if e.Node == nodes[2].Name() {
			cutID = e.ConnectionID
		}
	}
	nodes[2].CutNATS()

	calls := []struct{ method, path, body string }{
		{"POST", "/api/users/cy/rooms/r", ""},
		{"DELETE", "/api/users/cy/rooms/r", ""},
		{"GET", "/api/rooms", ""},
		{"DELETE", "/api/users/cy?code=4001", ""},
	}
	for _, c := range calls {
		status, body := apiCall(t, nodes[0], c.method, c.path, c.body)
		if status != 200 || body["complete"] != false || body["nodes"] != float64(2) {
			t.Errorf("%s %s with a node cut off: %d %v, want 200 complete:false nodes:2", c.method, c.path, status, body)
		}
	}
	// The reachable nodes did their part.
	for _, c := range cls[:2] {
		if code, _ := c.Closed(); code != 4001 {
			t.Errorf("closed with %d, want 4001", code)
		}
	}
	status, body := apiCall(t, nodes[1], "POST", "/api/connections/"+cutID+"/rooms/r", "")
	if status != http.StatusGatewayTimeout || body["complete"] != false {
		t.Fatalf("join for a connection of the cut node: %d %v, want 504 complete:false", status, body)
	}
	// Over NATS too.
	m, err := nc.Request("hub.api.users.disconnect", []byte(`{"user":"cy"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	decode(t, m.Data, &r)
	if r["complete"] != false {
		t.Fatalf("users.disconnect over NATS: %v, want complete:false", r)
	}
}
