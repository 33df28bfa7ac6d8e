package node_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

// A node whose external NATS is down at start comes up not ready, and
// serves once NATS arrives.
func TestExternalNATSDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	c := hubtest.Config(t)
	c.NATS.URL = "nats://127.0.0.1:" + strconv.Itoa(port)
	n := hubtest.Start(t, c)
	if ok, checks := n.Ready(); ok || checks["nats"] {
		t.Fatalf("ready without NATS: %v", checks)
	}
	if code, _ := hubtest.HTTP(t, "GET", n.HTTPURL()+"/readyz", "", ""); code != 503 {
		t.Fatalf("/readyz: %d, want 503", code)
	}

	natsURL := startNATS(t, port)
	hubtest.Eventually(t, "the node to connect and be ready", func() bool { ok, _ := n.Ready(); return ok })

	cl := hubtest.Dial(t, n.WSURL(), nil)
	cl.Join("r")
	nc := hubtest.NATS(t, natsURL)
	if err := nc.Publish("hub.room.r", []byte(`"late"`)); err != nil {
		t.Fatal(err)
	}
	if m := cl.Expect("message"); m.JSON("data") != `"late"` {
		t.Fatalf("got %v", m["_raw"])
	}
}
