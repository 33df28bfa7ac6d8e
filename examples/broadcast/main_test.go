package main

import (
	"context"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
)

func TestBroadcast(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	a := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	b := hubtest.Dial(t, n.WSURL(), nil)
	// The 101 reaches a client before the node has opened the connection
	// on its side; the first tick follows within milliseconds.
	hubtest.Eventually(t, "both connections open on the node", func() bool { return n.NumConns() == 2 })
	if err := run(context.Background(), options{NATS: n.NATSURL(), Prefix: "hub", Interval: 10 * time.Millisecond, Count: 3}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*hubtest.Client{a, b} {
		for i := 1; i <= 3; i++ {
			m := c.Expect("message")
			data, _ := m["data"].(map[string]any)
			if data["tick"] != float64(i) || data["time"] == nil {
				t.Fatalf("tick %d: got %s", i, m["_raw"])
			}
		}
	}
	a.Quiet(100 * time.Millisecond)
}

func TestBroadcast_StopsOnCancel(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, options{NATS: n.NATSURL(), Prefix: "hub", Interval: time.Hour, Count: 0}); err != nil {
		t.Fatal(err)
	}
}
