package main

import (
	"context"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

func TestEcho(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{NATS: n.NATSURL(), Prefix: "hub", Queue: "echo", Ready: func() { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	c := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	c.Send(`{"type":"message","data":{"text":"hello"}}`)
	if m := c.Expect("message"); m.JSON("data") != `{"text":"hello"}` {
		t.Fatalf("got %s", m["_raw"])
	}
	c.Send(`{"type":"message","data":"again","id":1}`)
	c.Expect("ack")
	if m := c.Expect("message"); m.JSON("data") != `"again"` {
		t.Fatalf("got %s", m["_raw"])
	}

	// Room and direct messages are not for echo: nothing comes back to
	// their sender, while a message for the backends still does.
	bob := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	c.Join("lobby")
	bob.Join("lobby")
	c.Send(`{"type":"message","room":"lobby","data":"to the room","id":2}`)
	c.Expect("ack")
	c.Send(`{"type":"message","user":"bob","data":"to bob","id":3}`)
	c.Expect("ack")
	c.Send(`{"type":"message","data":"last","id":4}`)
	c.Expect("ack")
	if m := c.Expect("message"); m.JSON("data") != `"last"` {
		t.Fatalf("after a room and a direct message, alice got %s; want only the echo of \"last\"", m["_raw"])
	}
	if m := bob.Expect("message"); m.JSON("data") != `"to the room"` {
		t.Fatalf("bob got %s", m["_raw"])
	}
	if m := bob.Expect("message"); m.JSON("data") != `"to bob"` {
		t.Fatalf("bob got %s", m["_raw"])
	}
}
