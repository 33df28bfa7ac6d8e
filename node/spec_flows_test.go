package node_test

// Conformance tests for SPEC §2: the three example flows, loaded from an
// HCL file exactly as the SPEC writes them.

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/protocol"
)

// specHCL is SPEC §2's example, verbatim.
const specHCL = `connector "ws" {
  type          = "websocket"
  port          = 8080
  host          = "0.0.0.0"   # default
  path          = "/ws"       # default; may hold route params: "/ws/{tenant}"
  ping_interval = "30s"       # default: how often the server pings each client
  pong_timeout  = "10s"       # default: how long it waits for the pong before closing
}

connector "bus" {
  type = "nats"
  url  = "nats://nats:4222"   # leave out for the embedded server
}

# Map an existing NATS subject onto a hub operation, no code needed.
flow "live_orders" {
  from { connector = "bus" operation = "order.updated" }
  to   { connector = "ws"  operation = "broadcast" }
}
flow "room_notification" {
  from { connector = "bus" operation = "room.event" }
  to   { connector = "ws"  operation = "send_to_room" target = "input.room" }
}
flow "handle_chat" {
  from { connector = "ws"  operation = "message" }
  to   { connector = "bus" target = "chat.messages" }
}
`

// loadSpecConfig loads specHCL from a file and moves its listeners to
// loopback test ports with the embedded NATS, as hubtest.Config does.
func loadSpecConfig(t *testing.T) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.hcl")
	if err := os.WriteFile(path, []byte(specHCL), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if len(c.Flows) != 3 || c.WebSocket.Port != 8080 || c.NATS.URL != "nats://nats:4222" {
		t.Fatalf("loaded %+v", c)
	}
	tc := hubtest.Config(t)
	c.Node.Name, c.Node.Dev, c.Node.ShutdownTimeout = tc.Node.Name, tc.Node.Dev, tc.Node.ShutdownTimeout
	c.WebSocket.Host, c.WebSocket.Port = tc.WebSocket.Host, tc.WebSocket.Port
	c.NATS.URL, c.NATS.Listen, c.NATS.ClusterListen = "", tc.NATS.Listen, tc.NATS.ClusterListen
	c.Cluster.Bind, c.Cluster.RejoinInterval = tc.Cluster.Bind, tc.Cluster.RejoinInterval
	return c
}

func TestFlows_SpecExample(t *testing.T) {
	n := hubtest.Start(t, loadSpecConfig(t))
	nc := hubtest.NATS(t, n.NATSURL())
	chat := hubtest.Events(t, nc, "chat.messages")
	a := dial(t, n, "alice")
	b := dial(t, n, "bob")
	anon := dial(t, n, "")
	a.Join("r1")
	b.Join("r2")

	t.Run("live_orders: NATS subject to broadcast", func(t *testing.T) {
		nc.Publish("order.updated", []byte(`{"order":42,"status":"shipped"}`))
		for _, c := range []*hubtest.Client{a, b, anon} {
			if m := c.Expect("message"); m.JSON("data") != `{"order":42,"status":"shipped"}` {
				t.Fatalf("got %s", m["_raw"])
			}
		}
	})

	t.Run("room_notification: NATS subject to the room named in the payload", func(t *testing.T) {
		nc.Publish("room.event", []byte(`{"room":"r1","text":"for r1"}`))
		m := a.Expect("message")
		if m.S("room") != "r1" || m.JSON("data") != `{"room":"r1","text":"for r1"}` {
			t.Fatalf("got %s, want the whole JSON as data", m["_raw"])
		}
		// A payload without the field, or with a bad name, goes nowhere.
		nc.Publish("room.event", []byte(`{"text":"no room"}`))
		nc.Publish("room.event", []byte(`{"room":"a b"}`))
		nc.Publish("room.event", []byte(`not json`))
		nc.Publish("room.event", []byte(`{"room":"r2","n":2}`))
		if m := b.Expect("message"); m.JSON("data") != `{"n":2,"room":"r2"}` {
			t.Fatalf("got %s", m["_raw"])
		}
		a.Quiet(quiet)
		anon.Quiet(0)
	})

	t.Run("handle_chat: client messages to a NATS subject, with a reply subject", func(t *testing.T) {
		a.Send(`{"type":"message","data":{"text":"hello backend"},"id":1}`)
		a.Expect("ack")
		msg := hubtest.NextMsg(t, chat)
		e := hubtest.Event(t, msg)
		if e.Event != "message" || e.User != "alice" || string(e.Message) != `{"text":"hello backend"}` {
			t.Fatalf("chat.messages got %s", msg.Data)
		}
		if msg.Reply == "" {
			t.Fatal("no reply subject on the flow's message")
		}
		if err := msg.Respond([]byte(`{"body":"got it"}`)); err != nil {
			t.Fatal(err)
		}
		if m := a.Expect("message"); m.JSON("data") != `"got it"` {
			t.Fatalf("reply: got %s", m["_raw"])
		}
		// Room messages go to the flow too, and still reach the room.
		c := dial(t, n, "carol")
		c.Join("r1")
		c.Send(`{"type":"message","room":"r1","data":"hi r1"}`)
		if m := a.Expect("message"); m.S("from") != "carol" {
			t.Fatalf("got %s", m["_raw"])
		}
		e = hubtest.Event(t, hubtest.NextMsg(t, chat))
		if e.Room != "r1" || e.User != "carol" {
			t.Fatalf("flow event %+v", e)
		}
	})
}

// TestFlows_OtherTargets covers the remaining flow targets with literal
// and input targets.
func TestFlows_OtherTargets(t *testing.T) {
	src := `
flow "to_user" {
  from { connector = "bus" operation = "notify.user" }
  to   { connector = "ws"  operation = "send_to_user" target = "input.to.user" }
}
flow "to_conn" {
  from { connector = "bus" operation = "notify.conn" }
  to   { connector = "ws"  operation = "send_to_connection" target = "input.conn" }
}
flow "to_lobby" {
  from { connector = "bus" operation = "lobby.*" }
  to   { connector = "ws"  operation = "send_to_room" target = "lobby" }
}
flow "connects" {
  from { connector = "ws"  operation = "connect" }
  to   { connector = "bus" target = "audit.connects" }
}
flow "disconnects" {
  from { connector = "ws"  operation = "disconnect" }
  to   { connector = "bus" target = "audit.disconnects" }
}
`
	c, err := config.Parse([]byte(src), "flows.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tc := hubtest.Config(t)
	tc.Flows = c.Flows
	n := hubtest.Start(t, tc)
	nc := hubtest.NATS(t, n.NATSURL())
	connects := hubtest.Events(t, nc, "audit.connects")
	disconnects := hubtest.Events(t, nc, "audit.disconnects")

	bob := dial(t, n, "bob")
	e := hubtest.Event(t, hubtest.NextMsg(t, connects))
	if e.Event != protocol.EventConnect || e.User != "bob" {
		t.Fatalf("connect flow %+v", e)
	}
	other := dial(t, n, "")
	oe := hubtest.Event(t, hubtest.NextMsg(t, connects))
	other.Join("lobby")

	nc.Publish("notify.user", []byte(`{"to":{"user":"bob"},"n":1}`))
	if m := bob.Expect("message"); m.JSON("data") != `{"n":1,"to":{"user":"bob"}}` && m.JSON("data") != `{"to":{"user":"bob"},"n":1}` {
		t.Fatalf("got %s", m["_raw"])
	}
	nc.Publish("notify.conn", []byte(`{"conn":"`+oe.ConnectionID+`"}`))
	if m := other.Expect("message"); m.S("room") != "" {
		t.Fatalf("got %s", m["_raw"])
	}
	nc.Publish("lobby.news", []byte(`"news"`))
	if m := other.Expect("message"); m.S("room") != "lobby" || m.JSON("data") != `"news"` {
		t.Fatalf("got %s", m["_raw"])
	}
	bob.Quiet(quiet)

	bob.Close()
	bob.Closed()
	d := hubtest.Event(t, hubtest.NextMsg(t, disconnects))
	if d.ConnectionID != e.ConnectionID || d.Reason != "client_close" {
		t.Fatalf("disconnect flow %+v", d)
	}
}
