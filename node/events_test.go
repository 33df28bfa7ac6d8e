package node_test

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/metrics"
)

func counterValue(t *testing.T, event string) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.EventsUnwanted.WithLabelValues(event).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// With the embedded NATS, a message event nobody subscribes to is neither
// encoded nor published; a backend that subscribes gets the events from
// then on, and they stop being published once it leaves.
func TestEvents_PublishedOnlyWithInterest(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	nc := hubtest.NATS(t, n.NATSURL())
	unwanted := func() float64 { return counterValue(t, "message") }
	c := dial(t, n, "alice")
	c.Join("r1")

	before := unwanted()
	c.Send(`{"type":"message","room":"r1","data":1,"id":1}`)
	c.Expect("ack")
	if got := unwanted() - before; got != 1 {
		t.Fatalf("hub_events_unwanted_total{event=message} grew by %v with no subscriber, want 1", got)
	}

	ev := hubtest.Events(t, nc, "hub.events.message")
	before = unwanted()
	c.Send(`{"type":"message","room":"r1","data":2,"id":2}`)
	c.Expect("ack")
	m := hubtest.NextMsg(t, ev)
	if want := `"message":2,"room":"r1"}`; len(m.Data) < len(want) || string(m.Data[len(m.Data)-len(want):]) != want || m.Reply == "" {
		t.Fatalf("event %s (reply %q), want the message 2 with a reply subject", m.Data, m.Reply)
	}
	if got := unwanted() - before; got != 0 {
		t.Fatalf("an event was counted unwanted while a backend subscribes")
	}

	// A subscriber on another connection with a wildcard counts too.
	nc2 := hubtest.NATS(t, n.NATSURL())
	ev2 := hubtest.Events(t, nc2, "hub.events.>")
	if err := nc.Drain(); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "the first subscriber to leave", func() bool { return !nc.IsConnected() })
	c.Send(`{"type":"message","room":"r1","data":3,"id":3}`)
	c.Expect("ack")
	for {
		m := hubtest.NextMsg(t, ev2)
		if m.Subject == "hub.events.message" {
			break
		}
	}
	if err := nc2.Drain(); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "the second subscriber to leave", func() bool { return !nc2.IsConnected() })
	before = unwanted()
	c.Send(`{"type":"message","room":"r1","data":4,"id":4}`)
	c.Expect("ack")
	if got := unwanted() - before; got != 1 {
		t.Fatalf("hub_events_unwanted_total{event=message} grew by %v after the subscribers left, want 1", got)
	}
}
