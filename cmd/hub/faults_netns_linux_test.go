package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
)

// A partition that heals loses nothing between the nodes that were never
// cut off: three nodes in their own network namespaces on a bridge, a room
// with members on all three, node 1 publishing 200 messages/s; node 3's
// link goes down for 10 s and comes back.
func TestProcessPartitionHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	needNetlab(t)
	runs := 1
	if os.Getenv("HUB_SOAK") != "" {
		runs = 20
	} else {
		t.Log("one run; HUB_SOAK=1 runs 20")
	}
	for run := 0; run < runs; run++ {
		t.Run(fmt.Sprint(run), func(t *testing.T) { partitionOnce(t) })
	}
}

func partitionOnce(t *testing.T) {
	lab := newNetlab(t, 3)
	var ps []*proc
	for i := 1; i <= 3; i++ {
		join := ""
		if i > 1 {
			join = ps[0].gossip
		}
		ps = append(ps, startProcWith(t, fmt.Sprintf("n%d", i), join, procOpts{host: lab.addr(i), netns: lab.ns(i)}))
	}
	waitFor(t, "three members everywhere", 20*time.Second, func() bool { return whole(ps) })
	var clients [3][]*hubtest.Client
	for i, p := range ps {
		for k := 0; k < 2; k++ {
			cl := p.dial(t, fmt.Sprintf("?user=%s-%d", p.name, k))
			cl.Join("r")
			if i == 2 {
				cl.Join("local")
			}
			clients[i] = append(clients[i], cl)
		}
	}
	nc1, nc2, nc3 := ps[0].natsConn(t), ps[1].natsConn(t), ps[2].natsConn(t)
	downs1 := hubtest.Events(t, nc1, "hub.events.node_down")
	downs2 := hubtest.Events(t, nc2, "hub.events.node_down")
	pub := publish(nc1, "hub.room.r", 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // traffic before the cut

	lab.cut(3, true)
	cut := time.Now()
	// During the cut, node 3's own clients get what is published on node 3.
	local := publish(nc3, "hub.room.local", 20*time.Millisecond)
	time.Sleep(2 * time.Second)
	nLocal := local.end()
	for k, cl := range clients[2] {
		expectAll(t, fmt.Sprintf("n3 client %d during the cut", k), cl, "local", nLocal)
	}
	time.Sleep(time.Until(cut.Add(10 * time.Second))) // the fault: 10 s without a link
	lab.cut(3, false)
	healed := time.Now()

	waitFor(t, "the cluster whole with right counts from every node", 30*time.Second, func() bool {
		if !whole(ps) {
			return false
		}
		for _, p := range ps {
			if m := p.get("/api/rooms/r"); m["members"] != float64(6) || m["complete"] != true {
				return false
			}
		}
		return true
	})
	t.Logf("cluster whole %v after the heal", time.Since(healed).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond) // traffic after the heal
	n := pub.end()
	for i := 0; i < 2; i++ {
		for k, cl := range clients[i] {
			expectAll(t, fmt.Sprintf("%s client %d", ps[i].name, k), cl, "r", n)
		}
	}
	for k, cl := range clients[2] {
		got := expectTail(t, fmt.Sprintf("n3 client %d", k), cl, "r", n)
		t.Logf("n3 client %d got %d of %d messages", k, got, n)
	}
	// Nothing is reported down: node 3 was away for less than the grace,
	// and nodes 1 and 2 never went away.
	time.Sleep(500 * time.Millisecond) // a late node_down would arrive now
	for _, evs := range [][]map[string]any{nodeDowns(downs1), nodeDowns(downs2)} {
		for _, ev := range evs {
			t.Errorf("false node_down: %v", ev)
		}
	}
}
