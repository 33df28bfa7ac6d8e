//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/internal/hubtest"
)

// waitFor waits until cond holds, for at most d.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func whole(ps []*proc) bool {
	for _, p := range ps {
		if m := p.readyz(); m["cluster_size"] != float64(len(ps)) || m["status"] != "ready" {
			return false
		}
	}
	return true
}

// publisher publishes {"seq":n} to subject every interval until stopped.
type publisher struct {
	stop chan struct{}
	done chan int
}

func publish(nc *nats.Conn, subject string, every time.Duration) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan int, 1)}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-p.stop:
				_ = nc.Flush()
				p.done <- n
				return
			case <-tick.C:
				if nc.Publish(subject, fmt.Appendf(nil, `{"seq":%d}`, n)) == nil {
					n++
				}
			}
		}
	}()
	return p
}

// end stops the publisher and returns how many messages it published.
func (p *publisher) end() int {
	close(p.stop)
	return <-p.done
}

func seqOf(t *testing.T, m hubtest.Msg) int {
	var got struct{ Seq int }
	if err := json.Unmarshal([]byte(m.JSON("data")), &got); err != nil {
		t.Fatalf("message %v: %v", m["_raw"], err)
	}
	return got.Seq
}

// expectAll checks that cl gets seq 0..n-1 of room, each once, in order.
func expectAll(t *testing.T, who string, cl *hubtest.Client, room string, n int) {
	t.Helper()
	for want := 0; want < n; want++ {
		m := cl.Expect("message")
		if m.S("room") != room {
			want--
			continue
		}
		if got := seqOf(t, m); got != want {
			t.Fatalf("%s: got seq %d, want %d (of %d)", who, got, want, n)
		}
	}
}

// expectTail checks that cl gets an increasing run of seqs (no message
// twice) ending with n-1: a node that was away may miss some, never
// repeat one.
func expectTail(t *testing.T, who string, cl *hubtest.Client, room string, n int) (got int) {
	t.Helper()
	last := -1
	for last < n-1 {
		m := cl.Expect("message")
		if m.S("room") != room {
			continue
		}
		s := seqOf(t, m)
		if s <= last {
			t.Fatalf("%s: seq %d after %d: delivered twice or out of order", who, s, last)
		}
		last = s
		got++
	}
	return got
}

// nodeDowns returns the node_down events that arrived so far.
func nodeDowns(ch chan *nats.Msg) []map[string]any {
	var out []map[string]any
	for {
		select {
		case m := <-ch:
			var ev map[string]any
			_ = json.Unmarshal(m.Data, &ev)
			out = append(out, ev)
		default:
			return out
		}
	}
}

// SIGSTOP of a node for 8 s, then SIGCONT: the others lose nothing, report
// it down once at most, and it is back within seconds, with no message
// delivered twice to its clients.
func TestProcessSIGSTOP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ps := startProcCluster(t)
	a, c := ps[0], ps[2]
	nc := a.natsConn(t)
	downs := hubtest.Events(t, nc, "hub.events.node_down")
	var clients [3][]*hubtest.Client
	for i, p := range ps {
		for k := 0; k < 2; k++ {
			cl := p.dial(t, fmt.Sprintf("?user=%s%d", p.name, k))
			cl.Join("r")
			clients[i] = append(clients[i], cl)
		}
	}
	// Every 10 ms: the frozen node's clients get the 800 messages of the
	// freeze at once when it resumes, and the test reads its clients one
	// after the other; at 5 ms (1,600) a client read last on a loaded
	// machine could pass the 1,024-frame queue and be closed as a slow
	// consumer, as it should be.
	pub := publish(nc, "hub.room.r", 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // traffic before the fault
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(8 * time.Second) // the fault: the node is frozen this long
	if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stopped for %v", c.name, time.Since(stopped).Round(time.Millisecond))
	resumed := time.Now()
	waitFor(t, "the cluster whole again", 15*time.Second, func() bool { return whole(ps) })
	t.Logf("cluster whole %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond) // traffic after the heal
	n := pub.end()
	for i, p := range ps[:2] {
		for k, cl := range clients[i] {
			expectAll(t, fmt.Sprintf("%s client %d", p.name, k), cl, "r", n)
		}
	}
	for k, cl := range clients[2] {
		got := expectTail(t, fmt.Sprintf("%s client %d", c.name, k), cl, "r", n)
		t.Logf("%s client %d got %d of %d messages", c.name, k, got, n)
	}
	// At most one node_down, and only for the stopped node.
	time.Sleep(500 * time.Millisecond) // a late node_down would arrive now
	evs := nodeDowns(downs)
	if len(evs) > 1 {
		t.Errorf("%d node_down events, want at most 1: %v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev["node"] != c.name {
			t.Errorf("node_down for %v, which never stopped", ev["node"])
		}
	}
}
