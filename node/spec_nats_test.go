package node_test

// Conformance tests for SPEC §4: the NATS subjects publishers use, the
// events the hub publishes, and replies to message events.

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

func TestNATS_PublishSubjects(t *testing.T) {
	n := startNode(t, nil)
	nc, ev := events(t, n, "connect")
	alice := dial(t, n, "alice")
	aliceID := connID(t, ev, "alice")
	bob1 := dial(t, n, "bob")
	bob2 := dial(t, n, "bob")
	anon := dial(t, n, "")
	everyone := []*hubtest.Client{alice, bob1, bob2, anon}
	alice.Join("r1")
	anon.Join("r1")
	hubtest.Eventually(t, "bob online twice", func() bool {
		_, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/users/bob", "", "")
		return m["connections"] == float64(2)
	})

	t.Run("broadcast", func(t *testing.T) {
		nc.Publish("hub.broadcast", []byte(`{"b":1}`))
		for _, c := range everyone {
			if m := c.Expect("message"); m.JSON("data") != `{"b":1}` || m["room"] != nil || m["from"] != nil {
				t.Fatalf("got %s", m["_raw"])
			}
		}
	})
	t.Run("room", func(t *testing.T) {
		nc.Publish("hub.room.r1", []byte(`[1,"two"]`))
		for _, c := range []*hubtest.Client{alice, anon} {
			if m := c.Expect("message"); m.JSON("data") != `[1,"two"]` || m.S("room") != "r1" || m["from"] != nil {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		bob1.Quiet(quiet)
		bob2.Quiet(0)
	})
	t.Run("user", func(t *testing.T) {
		nc.Publish("hub.user.bob", []byte(`"for bob"`))
		for _, c := range []*hubtest.Client{bob1, bob2} {
			if m := c.Expect("message"); m.JSON("data") != `"for bob"` || m["room"] != nil {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		alice.Quiet(quiet)
		anon.Quiet(0)
	})
	t.Run("connection", func(t *testing.T) {
		nc.Publish("hub.conn."+aliceID, []byte(`{"only":"alice"}`))
		if m := alice.Expect("message"); m.JSON("data") != `{"only":"alice"}` {
			t.Fatalf("got %s", m["_raw"])
		}
		bob1.Quiet(quiet)
		bob2.Quiet(0)
		anon.Quiet(0)
	})
	t.Run("non-JSON payload becomes a JSON string", func(t *testing.T) {
		nc.Publish("hub.broadcast", []byte("hello world"))
		for _, c := range everyone {
			if m := c.Expect("message"); m.JSON("data") != `"hello world"` {
				t.Fatalf("got %s", m["_raw"])
			}
		}
		nc.Publish("hub.conn."+aliceID, []byte("{not json"))
		if m := alice.Expect("message"); m.JSON("data") != `"{not json"` {
			t.Fatalf("got %s", m["_raw"])
		}
	})
}

func TestNATS_SubjectPrefix(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.NATS.SubjectPrefix = "acme.rt" })
	nc := hubtest.NATS(t, n.NATSURL())
	ev := hubtest.Events(t, nc, "acme.rt.events.connect")
	c := dial(t, n, "alice")
	hubtest.NextEvent(t, ev, nil)
	c.Join("r")
	nc.Publish("acme.rt.room.r", []byte(`1`))
	c.Expect("message")
	nc.Publish("hub.room.r", []byte(`2`))
	c.Quiet(quiet)
}

// eventKeys are the fields every event carries.
var eventKeys = []string{"event", "connection_id", "user", "node", "time", "peer", "method", "path", "params", "query", "headers"}

func checkEventShape(t *testing.T, raw []byte, event string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("event %q: %v", raw, err)
	}
	for _, k := range eventKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s event lacks %q: %s", event, k, raw)
		}
	}
	if m["event"] != event {
		t.Errorf("event = %v, want %s", m["event"], event)
	}
	ts, _ := m["time"].(string)
	tm, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Errorf("time %q is not RFC 3339: %v", ts, err)
	}
	if !strings.Contains(ts, ".") || len(ts) < len("2006-01-02T15:04:05.000000Z") {
		t.Errorf("time %q does not carry sub-second precision", ts)
	}
	if d := time.Since(tm); d < -time.Minute || d > time.Minute {
		t.Errorf("time %v is %v away from now", tm, d)
	}
	return m
}

func TestEvents_Fields(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.WebSocket.Path = "/ws/{tenant}" })
	nc := hubtest.NATS(t, n.NATSURL())
	ev := hubtest.Events(t, nc, "hub.events.*")
	base := "ws://" + n.Addr().String() + "/ws/acme"

	h := http.Header{}
	h.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
	h.Set("Authorization", "Bearer top-secret")
	h.Set("Cookie", "session=abc")
	h.Set("X-Custom", "yes")
	h.Add("X-Multi", "one")
	h.Add("X-Multi", "two")
	c := hubtest.Dial(t, base+"?user=alice&tag=a&tag=b&token=not-for-backends", h)

	e, m := hubtest.NextEvent(t, ev, nil)
	raw := checkEventShape(t, m.Data, "connect")
	if m.Subject != "hub.events.connect" {
		t.Errorf("subject %s", m.Subject)
	}
	if e.User != "alice" || e.Node != n.Name() || e.Method != "GET" || e.Path != "/ws/acme" {
		t.Errorf("connect event %+v", e)
	}
	if e.Peer != "203.0.113.7, 10.0.0.1, 127.0.0.2" {
		t.Errorf("peer %q, want the X-Forwarded-For chain then the socket IP", e.Peer)
	}
	if len(e.Params) != 1 || e.Params["tenant"] != "acme" {
		t.Errorf("params %v, want tenant=acme", e.Params)
	}
	if !slices.Equal(e.Query["tag"], []string{"a", "b"}) || !slices.Equal(e.Query["user"], []string{"alice"}) {
		t.Errorf("query %v", e.Query)
	}
	if _, ok := e.Query["token"]; ok {
		t.Errorf("query carries the token: %v", e.Query)
	}
	if !slices.Equal(e.Headers["X-Custom"], []string{"yes"}) || !slices.Equal(e.Headers["X-Multi"], []string{"one", "two"}) {
		t.Errorf("headers %v", e.Headers)
	}
	for _, k := range []string{"Authorization", "Cookie", "Sec-Websocket-Key"} {
		if _, ok := e.Headers[k]; ok {
			t.Errorf("headers carry %s", k)
		}
	}
	for _, secret := range []string{"top-secret", "session=abc", "not-for-backends"} {
		if strings.Contains(string(m.Data), secret) {
			t.Errorf("event leaks %q: %s", secret, m.Data)
		}
	}
	if _, ok := raw["reason"]; ok {
		t.Errorf("connect event has a reason: %s", m.Data)
	}
	id := e.ConnectionID
	if id == "" {
		t.Fatal("empty connection_id")
	}

	// message events: the same connection fields plus message/room/to_user.
	c.Join("r1")
	c.Send(`{"type":"message","data":{"a":1}}`)
	c.Send(`{"type":"message","room":"r1","data":"to room"}`)
	c.Send(`{"type":"message","user":"bob","data":3}`)
	wants := []struct{ message, room, toUser string }{{`{"a":1}`, "", ""}, {`"to room"`, "r1", ""}, {`3`, "", "bob"}}
	for _, w := range wants {
		e, m := hubtest.NextEvent(t, ev, nil)
		raw := checkEventShape(t, m.Data, "message")
		if m.Subject != "hub.events.message" || m.Reply == "" {
			t.Errorf("message event on %s, reply %q", m.Subject, m.Reply)
		}
		if e.ConnectionID != id || e.User != "alice" || e.Peer != "203.0.113.7, 10.0.0.1, 127.0.0.2" || e.Params["tenant"] != "acme" {
			t.Errorf("message event %+v", e)
		}
		if string(e.Message) != w.message || e.Room != w.room || e.ToUser != w.toUser {
			t.Errorf("message event message=%s room=%q to_user=%q, want %s %q %q", e.Message, e.Room, e.ToUser, w.message, w.room, w.toUser)
		}
		if _, ok := raw["room"]; ok && w.room == "" {
			t.Errorf("room present without a room: %s", m.Data)
		}
		if _, ok := raw["to_user"]; ok && w.toUser == "" {
			t.Errorf("to_user present without a user: %s", m.Data)
		}
	}

	// Without X-Forwarded-For, the peer is the socket IP; anonymous user is "".
	c2 := hubtest.Dial(t, "ws://"+n.Addr().String()+"/ws/other", nil)
	e2, m2 := hubtest.NextEvent(t, ev, func(e protocol.Event) bool { return e.Event == "connect" })
	raw2 := checkEventShape(t, m2.Data, "connect")
	if e2.Peer != "127.0.0.2" || e2.User != "" || raw2["user"] != "" || e2.Params["tenant"] != "other" {
		t.Errorf("second connect %+v", e2)
	}
	if e2.ConnectionID == id {
		t.Errorf("two connections share id %s", id)
	}

	// disconnect: the same fields plus the reason.
	c.Close()
	c.Closed()
	e3, m3 := hubtest.NextEvent(t, ev, func(e protocol.Event) bool { return e.Event == "disconnect" })
	checkEventShape(t, m3.Data, "disconnect")
	if e3.ConnectionID != id || e3.Reason != "client_close" || e3.User != "alice" || e3.Peer != e.Peer {
		t.Errorf("disconnect %+v", e3)
	}
	_ = c2
}

func TestEvents_ConnectionIDsUnique(t *testing.T) {
	n := startNode(t, nil)
	_, ev := events(t, n, "connect")
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		c := dial(t, n, "")
		e, _ := hubtest.NextEvent(t, ev, nil)
		if seen[e.ConnectionID] || !protocol.ValidName(e.ConnectionID) {
			t.Fatalf("connection id %q repeated or not subject-safe", e.ConnectionID)
		}
		seen[e.ConnectionID] = true
		if i%2 == 0 {
			c.Close()
			c.Closed()
		}
	}
}

func TestEvents_Reply(t *testing.T) {
	n := startNode(t, nil)
	nc, ev := events(t, n, "*")
	c := dial(t, n, "alice")
	id := connID(t, ev, "alice")

	c.Send(`{"type":"message","data":"ping"}`)
	_, m := hubtest.NextEvent(t, ev, func(e protocol.Event) bool { return e.Event == "message" })
	if m.Reply == "" {
		t.Fatal("message event without reply subject")
	}
	if err := m.Respond([]byte(`{"body":{"pong":true},"end":false}`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Expect("message"); got.JSON("data") != `{"pong":true}` || got["room"] != nil {
		t.Fatalf("got %s", got["_raw"])
	}
	// A reply that is not an envelope is the body itself.
	if err := m.Respond([]byte(`plain text`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Expect("message"); got.JSON("data") != `"plain text"` {
		t.Fatalf("got %s", got["_raw"])
	}
	alive(t, c)

	// A reply sent as a request (nats req) is acknowledged at once.
	ack, err := nc.Request(m.Reply, []byte(`{"body":"asked"}`), 5*time.Second)
	if err != nil || string(ack.Data) != `{"status":"delivered"}` {
		t.Fatalf("reply as a request: %v %q, want {\"status\":\"delivered\"}", err, ackData(ack))
	}
	if got := c.Expect("message"); got.JSON("data") != `"asked"` {
		t.Fatalf("got %s", got["_raw"])
	}

	// end:true sends the body, then closes normally.
	if err := nc.Publish(m.Reply, []byte(`{"body":"bye","end":true}`)); err != nil {
		t.Fatal(err)
	}
	if got := c.Expect("message"); got.JSON("data") != `"bye"` {
		t.Fatalf("got %s", got["_raw"])
	}
	code, reason := c.Closed()
	if code != 1000 || reason != "reply_end" {
		t.Fatalf("closed %d %q, want 1000 reply_end", code, reason)
	}
	e, _ := hubtest.NextEvent(t, ev, func(e protocol.Event) bool { return e.Event == "disconnect" })
	if e.ConnectionID != id || e.Reason != "reply_end" {
		t.Fatalf("disconnect %+v", e)
	}
	// Once the connection is gone, a request on its reply subject says so.
	hubtest.Eventually(t, "reply to a gone connection answered", func() bool {
		ack, err := nc.Request(m.Reply, []byte(`"late"`), time.Second)
		return err == nil && string(ack.Data) == `{"error":"connection gone"}`
	})
}

func ackData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// TestEvents_NoBackendNoReply: with no backend listening, NATS answers the
// message event's request with a "no responders" status on the reply
// subject; that must not reach the client as a message.
func TestEvents_NoBackendNoReply(t *testing.T) {
	n := startNode(t, nil)
	c := dial(t, n, "alice")
	for i := 0; i < 5; i++ {
		c.Send(`{"type":"message","data":1,"id":1}`)
		c.Expect("ack")
	}
	c.Quiet(quiet)
}

// TestEvents_DisconnectOnce ends a connection in every way there is and
// checks that exactly one disconnect event with the right reason follows.
func TestEvents_DisconnectOnce(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		edit   func(c *config.Config)
		// end ends the connection; c is a hubtest client unless raw is set.
		raw bool
		end func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn)
	}{
		{name: "client close", reason: "client_close", end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			c.Close()
			if code, _ := c.Closed(); code != 1000 {
				t.Errorf("close echoed with %d, want 1000", code)
			}
		}},
		{name: "tcp drop", reason: "connection_lost", end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			c.Conn().Close()
		}},
		{name: "timeout", reason: "timeout", raw: true, edit: func(c *config.Config) {
			c.WebSocket.PingInterval = 50 * time.Millisecond
			c.WebSocket.PongTimeout = 100 * time.Millisecond
		}, end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			if code, reason := r.ReadClose(t); code != 4001 || reason != "timeout" {
				t.Errorf("closed %d %q", code, reason)
			}
		}},
		{name: "kick", reason: "kicked", end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			if status, body := hubtest.HTTP(t, "DELETE", n.HTTPURL()+"/api/connections/"+id, "", ""); status != http.StatusNoContent {
				t.Errorf("DELETE: %d %v", status, body)
			}
			if code, reason := c.Closed(); code != 4500 || reason != "kicked" {
				t.Errorf("closed %d %q, want 4500 kicked", code, reason)
			}
		}},
		{name: "node shutdown", reason: "shutdown", end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			done := make(chan error, 1)
			go func() { done <- n.Shutdown(context.Background()) }()
			if code, reason := c.Closed(); code != 1001 {
				t.Errorf("closed %d %q, want 1001", code, reason)
			}
			if err := <-done; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if ok, _ := n.Ready(); ok {
				t.Error("Ready after Shutdown")
			}
		}},
		{name: "reply end", reason: "reply_end", end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			if err := nc.Publish("hub.reply."+id, []byte(`{"end":true}`)); err != nil {
				t.Fatal(err)
			}
			if code, reason := c.Closed(); code != 1000 || reason != "reply_end" {
				t.Errorf("closed %d %q", code, reason)
			}
		}},
		{name: "protocol error", reason: "protocol_error", end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			_ = ws.WriteFrame(c.Conn(), ws.NewTextFrame([]byte(`{}`))) // unmasked
			if code, _ := c.Closed(); code != 1002 {
				t.Errorf("closed %d, want 1002", code)
			}
		}},
		{name: "slow consumer", reason: "slow_consumer", raw: true, edit: func(c *config.Config) {
			c.WebSocket.WriteQueueBytes = 256 << 10
			c.WebSocket.WriteQueueFrames = 64
		}, end: func(t *testing.T, n *node.Node, nc *nats.Conn, id string, c *hubtest.Client, r *hubtest.RawConn) {
			// The client never reads; the hub keeps sending until its
			// socket buffers and then its write queue are full.
			big := []byte(`"` + strings.Repeat("x", 32<<10) + `"`)
			for i := 0; i < 4000 && n.NumConns() > 0; i++ {
				if err := nc.Publish("hub.conn."+id, big); err != nil {
					t.Fatal(err)
				}
				if i%64 == 63 {
					_ = nc.Flush()
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An external NATS, so the events outlive a node that shuts down.
			ns := hubtest.StartNATS(t)
			n := startNode(t, func(c *config.Config) {
				c.NATS.URL = ns.ClientURL()
				if tt.edit != nil {
					tt.edit(c)
				}
			})
			nc := hubtest.NATS(t, ns.ClientURL())
			ev := hubtest.Events(t, nc, "hub.events.*")
			var c *hubtest.Client
			var r *hubtest.RawConn
			if tt.raw {
				r = hubtest.RawDial(t, n.WSURL()+"?user=victim", nil)
			} else {
				c = dial(t, n, "victim")
			}
			// A bystander that must not be affected (except by shutdown).
			other := dial(t, n, "bystander")
			id := connIDs(t, ev, "victim", "bystander")["victim"]
			if c != nil {
				alive(t, c)
			}
			tt.end(t, n, nc, id, c, r)
			e, _ := hubtest.NextEvent(t, ev, func(e protocol.Event) bool { return e.Event == "disconnect" && e.ConnectionID == id })
			if e.Reason != tt.reason {
				t.Errorf("reason %q, want %q", e.Reason, tt.reason)
			}
			// No second disconnect for the same connection.
			deadline := time.After(quiet)
			for {
				select {
				case m := <-ev:
					e := hubtest.Event(t, m)
					if e.Event == "disconnect" && e.ConnectionID == id {
						t.Fatalf("second disconnect event: %s", m.Data)
					}
					continue
				case <-deadline:
				}
				break
			}
			if tt.reason != "shutdown" {
				alive(t, other)
			}
		})
	}
}

func TestEvents_ShutdownPublishesEveryDisconnect(t *testing.T) {
	ns := hubtest.StartNATS(t)
	n := startNode(t, func(c *config.Config) { c.NATS.URL = ns.ClientURL() })
	nc := hubtest.NATS(t, ns.ClientURL())
	ev := hubtest.Events(t, nc, "hub.events.disconnect")
	const conns = 20
	var clients []*hubtest.Client
	for i := 0; i < conns; i++ {
		c := dial(t, n, "")
		c.Join("r")
		clients = append(clients, c)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if code, _ := c.Closed(); code != 1001 {
			t.Fatalf("closed %d, want 1001", code)
		}
	}
	ids := map[string]bool{}
	for range conns {
		e, _ := hubtest.NextEvent(t, ev, nil)
		if e.Reason != "shutdown" || ids[e.ConnectionID] {
			t.Fatalf("disconnect %+v", e)
		}
		ids[e.ConnectionID] = true
	}
	select {
	case m := <-ev:
		t.Fatalf("extra disconnect %s", m.Data)
	case <-time.After(quiet):
	}
	// A node that shut down refuses new clients.
	if _, err := hubtest.TryRawDial(n.WSURL(), nil); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
}
