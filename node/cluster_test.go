package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// startCluster starts size in-process nodes, each with its own gossip and
// its own NATS (embedded, or the external url when given), and waits until
// they see each other.
func startCluster(t *testing.T, size int, externalNATS string) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i := 0; i < size; i++ {
		nodes = append(nodes, startMember(t, nodes, externalNATS))
	}
	waitFormed(t, nodes, externalNATS == "")
	return nodes
}

func startMember(t *testing.T, existing []*node.Node, externalNATS string) *node.Node {
	t.Helper()
	c := hubtest.ClusterConfig(t)
	c.NATS.URL = externalNATS
	if len(existing) > 0 {
		c.Cluster.Join = []string{existing[0].GossipAddr()}
	}
	return hubtest.Start(t, c)
}

func waitFormed(t *testing.T, nodes []*node.Node, embedded bool) {
	t.Helper()
	hubtest.Eventually(t, "gossip to see every node", func() bool {
		for _, n := range nodes {
			if n.ClusterSize() != len(nodes) {
				return false
			}
		}
		return true
	})
	if embedded {
		hubtest.Eventually(t, "NATS routes between every node", func() bool {
			for _, n := range nodes {
				if n.NATSRoutes() < len(nodes)-1 {
					return false
				}
			}
			return true
		})
	}
	// Ready: every node has proven its routes carry traffic both ways (a
	// route that is up may not have brought the peer's subscriptions yet,
	// and a join acknowledged then is not yet routable from the peer), as
	// a load balancer waits for before it sends clients.
	hubtest.Eventually(t, "every node ready", func() bool {
		for _, n := range nodes {
			if ok, _ := n.Ready(); !ok {
				return false
			}
		}
		return true
	})
}

func externalNATS(t *testing.T) string { return startNATS(t, server.RANDOM_PORT) }

// startNATS runs a NATS server on 127.0.0.1:port for the test and returns
// its client URL.
func startNATS(t *testing.T, port int) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func TestClusterEmbedded(t *testing.T) { testCluster(t, "") }

func TestClusterExternalNATS(t *testing.T) { testCluster(t, externalNATS(t)) }

func testCluster(t *testing.T, ext string) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startCluster(t, 3, ext)
	// On every node: alice (in room r), bob (in room r), carol (no room).
	type member struct{ alice, bob, carol *hubtest.Client }
	var ms []member
	for _, n := range nodes {
		m := member{
			alice: hubtest.Dial(t, n.WSURL()+"?user=alice", nil),
			bob:   hubtest.Dial(t, n.WSURL()+"?user=bob", nil),
			carol: hubtest.Dial(t, n.WSURL()+"?user=carol", nil),
		}
		m.alice.Join("r")
		m.bob.Join("r")
		ms = append(ms, m)
	}
	all := func() []*hubtest.Client {
		var cs []*hubtest.Client
		for _, m := range ms {
			cs = append(cs, m.alice, m.bob, m.carol)
		}
		return cs
	}
	expectOnce := func(want []*hubtest.Client, data string) {
		t.Helper()
		for _, c := range want {
			if m := c.Expect("message"); m.JSON("data") != data {
				t.Fatalf("got %v, want data %s", m["_raw"], data)
			}
		}
	}
	quietAll := func() {
		t.Helper()
		for _, c := range all() {
			c.Quiet(50 * time.Millisecond)
		}
	}
	natsURL := func(i int) string {
		if ext != "" {
			return ext
		}
		return nodes[i].NATSURL()
	}

	for i, n := range nodes {
		nc := hubtest.NATS(t, natsURL(i))
		// room via NATS
		nc.Publish("hub.room.r", []byte(fmt.Sprintf(`{"n":%d}`, i)))
		var members []*hubtest.Client
		for _, m := range ms {
			members = append(members, m.alice, m.bob)
		}
		expectOnce(members, fmt.Sprintf(`{"n":%d}`, i))
		// user via the HTTP API
		if code, _ := hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/users/carol/messages", "", `"hi carol"`); code != 202 {
			t.Fatalf("POST user: %d", code)
		}
		var carols []*hubtest.Client
		for _, m := range ms {
			carols = append(carols, m.carol)
		}
		expectOnce(carols, `"hi carol"`)
		// broadcast via the HTTP API
		hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/broadcast", "", `{"b":1}`)
		expectOnce(all(), `{"b":1}`)
		quietAll()
	}

	// A client room message from node 0 reaches the other five members, once.
	ms[0].alice.Send(`{"type":"message","room":"r","data":"from alice"}`)
	expectOnce([]*hubtest.Client{ms[0].bob, ms[1].alice, ms[1].bob, ms[2].alice, ms[2].bob}, `"from alice"`)
	// A user message from node 2 reaches bob on every node.
	ms[2].carol.Send(`{"type":"message","user":"bob","data":"psst"}`)
	for _, m := range ms {
		if got := m.bob.Expect("message"); got.S("from") != "carol" || got.JSON("data") != `"psst"` {
			t.Fatalf("got %v", got["_raw"])
		}
	}
	quietAll()

	// Counts and lookups from every node.
	nc := hubtest.NATS(t, natsURL(0))
	connects := hubtest.Events(t, nc, "hub.events.connect")
	late := hubtest.Dial(t, nodes[2].WSURL()+"?user=dave", nil)
	var ev struct {
		ConnectionID string `json:"connection_id"`
	}
	decode(t, hubtest.NextMsg(t, connects).Data, &ev)
	for _, n := range nodes {
		_, room := hubtest.HTTP(t, http.MethodGet, n.HTTPURL()+"/api/rooms/r", "", "")
		if room["members"] != float64(6) || room["complete"] != true {
			t.Fatalf("room from %s: %v", n.Name(), room)
		}
		_, user := hubtest.HTTP(t, http.MethodGet, n.HTTPURL()+"/api/users/alice", "", "")
		if user["connections"] != float64(3) || user["online"] != true {
			t.Fatalf("user from %s: %v", n.Name(), user)
		}
		code, info := hubtest.HTTP(t, http.MethodGet, n.HTTPURL()+"/api/connections/"+ev.ConnectionID, "", "")
		if code != 200 || info["user"] != "dave" || info["node"] != nodes[2].Name() {
			t.Fatalf("connection from %s: %d %v", n.Name(), code, info)
		}
		code, _ = hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/connections/"+ev.ConnectionID+"/messages", "", `{"to":"dave"}`)
		if code != 202 {
			t.Fatalf("POST connection from %s: %d", n.Name(), code)
		}
		if m := late.Expect("message"); m.JSON("data") != `{"to":"dave"}` {
			t.Fatalf("got %v", m["_raw"])
		}
	}
	if code, _ := hubtest.HTTP(t, http.MethodDelete, nodes[0].HTTPURL()+"/api/connections/"+ev.ConnectionID, "", ""); code != 204 {
		t.Fatalf("DELETE remote connection: %d", code)
	}
	if code, reason := late.Closed(); code != 4500 || reason != "kicked" {
		t.Fatalf("kicked client got %d %q", code, reason)
	}
	hubtest.Eventually(t, "the kicked connection to be gone", func() bool {
		code, _ := hubtest.HTTP(t, http.MethodGet, nodes[1].HTTPURL()+"/api/connections/"+ev.ConnectionID, "", "")
		return code == 404
	})
	if code, _ := hubtest.HTTP(t, http.MethodGet, nodes[1].HTTPURL()+"/api/connections/nosuchnode.1", "", ""); code != 404 {
		t.Fatalf("connection on unknown node: %d", code)
	}
}

// A node that joins later gets the traffic of the rooms its clients join
// as soon as the join is acknowledged.
func TestClusterLateJoiner(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startCluster(t, 2, "")
	nc := hubtest.NATS(t, nodes[0].NATSURL())
	nodes = append(nodes, startMember(t, nodes, ""))
	waitFormed(t, nodes, true)
	for i := 0; i < 20; i++ {
		c := hubtest.Dial(t, nodes[2].WSURL(), nil)
		room := fmt.Sprintf("late%d", i)
		c.Join(room)
		if err := nc.Publish("hub.room."+room, []byte(`"now"`)); err != nil {
			t.Fatal(err)
		}
		if m := c.Expect("message"); m.S("room") != room {
			t.Fatalf("got %v", m["_raw"])
		}
	}
}

// Node events: node_up when a node starts, node_down when it leaves.
func TestClusterNodeEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startCluster(t, 2, "")
	nc := hubtest.NATS(t, nodes[0].NATSURL())
	ups := hubtest.Events(t, nc, "hub.events.node_up")
	downs := hubtest.Events(t, nc, "hub.events.node_down")
	third := startMember(t, nodes, "")
	waitFormed(t, append(nodes, third), true)
	var ev map[string]any
	for ev["node"] != third.Name() {
		decode(t, hubtest.NextMsg(t, ups).Data, &ev)
	}
	stop(t, third)
	decode(t, hubtest.NextMsg(t, downs).Data, &ev)
	if ev["node"] != third.Name() || ev["reason"] != "left" {
		t.Fatalf("node_down %v", ev)
	}
	// Reported once: the survivors do not report a node that left as failed.
	select {
	case m := <-downs:
		t.Fatalf("second node_down: %s", m.Data)
	case <-time.After(500 * time.Millisecond):
	}
	hubtest.Eventually(t, "the others to see the node gone", func() bool {
		return nodes[0].ClusterSize() == 2 && nodes[1].ClusterSize() == 2
	})
}
