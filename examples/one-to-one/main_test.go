package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/protocol"
)

func TestOneToOne(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	// Another connection of bob, opened by the test, gets both messages too,
	// once it is routable (its connect event is out: before, a message to
	// bob may reach only the connections that are).
	connects := hubtest.Events(t, hubtest.NATS(t, n.NATSURL()), "hub.events.connect")
	other := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	hubtest.NextEvent(t, connects, func(e protocol.Event) bool { return e.User == "bob" })
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, options{WS: n.WSURL(), NATS: n.NATSURL(), Prefix: "hub", Out: &out}); err != nil {
		t.Fatal(err)
	}
	want := "bob got from alice: {\"text\":\"hi bob, it's alice\"}\nbob got from the API: {\"text\":\"hi bob, it's the backend\"}\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if m := other.Expect("message"); m.S("from") != "alice" {
		t.Fatalf("bob's other connection got %s", m["_raw"])
	}
	if m := other.Expect("message"); m["from"] != nil || !strings.Contains(m.JSON("data"), "backend") {
		t.Fatalf("bob's other connection got %s", m["_raw"])
	}
	other.Quiet(100 * time.Millisecond)
}

func TestOneToOne_APIKey(t *testing.T) {
	c := hubtest.Config(t)
	c.Auth.APIKey = "k"
	n := hubtest.Start(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	defer cancel()
	if err := run(ctx, options{WS: n.WSURL(), NATS: n.NATSURL(), Prefix: "hub"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without the key: %v, want a 401", err)
	}
	if err := run(ctx, options{WS: n.WSURL(), NATS: n.NATSURL(), Prefix: "hub", APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
}
