package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hubrt/hub/cluster"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// A client's room message reaches the node's other members without NATS,
// and goes to NATS only once someone else subscribes to the room: a
// backend, which sees it with its sender in the headers.
func TestRouting_LocalMembersWithoutNATS(t *testing.T) {
	n := startNode(t, nil)
	a, b := dial(t, n, "alice"), dial(t, n, "bob")
	a.Join("r")
	b.Join("r")
	out := n.NATSOut()
	const sent = 80 // within the default burst of inbound frames
	for i := range sent {
		a.Send(fmt.Sprintf(`{"type":"message","room":"r","data":%d}`, i))
	}
	for i := range sent {
		if m := b.Expect("message"); m.JSON("data") != fmt.Sprint(i) || m.S("from") != "alice" {
			t.Fatalf("message %d: got %s", i, m["_raw"])
		}
	}
	a.Quiet(quiet)
	if d := n.NATSOut() - out; d >= sent/4 {
		t.Fatalf("%d of %d room messages with no other subscriber went to NATS", d, sent)
	}

	spy := hubtest.NATS(t, n.NATSURL())
	ch := hubtest.Events(t, spy, "hub.room.r")
	a.Send(`{"type":"message","room":"r","data":"seen"}`)
	m := hubtest.NextMsg(t, ch)
	if string(m.Data) != `"seen"` || m.Header.Get(cluster.HeaderFrom) != "alice" || m.Header.Get(cluster.HeaderExclude) == "" {
		t.Fatalf("the backend got %q with headers %v", m.Data, m.Header)
	}
	if g := b.Expect("message"); g.JSON("data") != `"seen"` {
		t.Fatalf("bob got %s", g["_raw"])
	}
	b.Quiet(quiet) // once: the copy NATS brings back is not delivered again
	a.Quiet(0)
}

// A member on another node gets every message sent after its join's ack,
// however often its node's interest in the room starts and ends, and the
// sender's own node delivers each message once.
func TestRouting_InterestChangesLoseNothing(t *testing.T) {
	nodes, a, b := roomOnTwoNodes(t)
	for i := range 20 {
		c := hubtest.Dial(t, nodes[1].WSURL()+"?user=carol", nil)
		c.Join("r")
		a.Send(fmt.Sprintf(`{"type":"message","room":"r","data":%d}`, i))
		for _, cl := range []*hubtest.Client{b, c} {
			if m := cl.Expect("message"); m.JSON("data") != fmt.Sprint(i) {
				t.Fatalf("round %d: got %s", i, m["_raw"])
			}
		}
		c.Close()
		// With no member left on the second node, its interest ends; the
		// next round starts it again.
		hubtest.Eventually(t, "carol's connection to be gone", func() bool {
			_, room := hubtest.HTTP(t, "GET", nodes[1].HTTPURL()+"/api/rooms/r", "", "")
			return room["members"] == float64(2)
		})
	}
	b.Quiet(quiet)
	a.Quiet(0)
}

// The copy of a local client's message that comes back from NATS is
// dropped however late it comes: bob, on the sender's node, gets each of a
// quick run of messages once and in order while carol, on another node,
// gets them too.
func TestRouting_OnceEachInOrder(t *testing.T) {
	nodes, a, b := roomOnTwoNodes(t)
	c := hubtest.Dial(t, nodes[1].WSURL()+"?user=carol", nil)
	c.Join("r")
	const sent = 80
	for i := range sent {
		a.Send(fmt.Sprintf(`{"type":"message","room":"r","data":%d}`, i))
	}
	for _, cl := range []*hubtest.Client{b, c} {
		for i := range sent {
			if m := cl.Expect("message"); m.JSON("data") != fmt.Sprint(i) {
				t.Fatalf("message %d: got %s", i, m["_raw"])
			}
		}
	}
	b.Quiet(200 * time.Millisecond)
	c.Quiet(0)
	a.Quiet(0)
}

// roomOnTwoNodes starts two nodes and has alice and bob, both on the
// first, join room r.
func roomOnTwoNodes(t *testing.T) ([]*node.Node, *hubtest.Client, *hubtest.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startCluster(t, 2, "")
	a := hubtest.Dial(t, nodes[0].WSURL()+"?user=alice", nil)
	b := hubtest.Dial(t, nodes[0].WSURL()+"?user=bob", nil)
	a.Join("r")
	b.Join("r")
	return nodes, a, b
}

// A node with members of the room dies (its embedded NATS stops at once,
// as with kill -9) while a client on another node keeps sending: the
// members left, on the sender's node and on the third, get every message
// once and in order, before the death and after it.
func TestRouting_RemoteNodeDies(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startCluster(t, 3, "")
	a := hubtest.Dial(t, nodes[0].WSURL()+"?user=alice", nil)
	b := hubtest.Dial(t, nodes[0].WSURL()+"?user=bob", nil)
	c := hubtest.Dial(t, nodes[1].WSURL()+"?user=carol", nil)
	d := hubtest.Dial(t, nodes[2].WSURL()+"?user=dave", nil)
	for _, cl := range []*hubtest.Client{a, b, c, d} {
		cl.Join("r")
	}
	const half = 40
	for i := range 2 * half {
		if i == half {
			nodes[2].Crash()
		}
		a.Send(fmt.Sprintf(`{"type":"message","room":"r","data":%d}`, i))
	}
	for _, cl := range []*hubtest.Client{b, c} {
		for i := range 2 * half {
			if m := cl.Expect("message"); m.JSON("data") != fmt.Sprint(i) {
				t.Fatalf("message %d: got %s", i, m["_raw"])
			}
		}
	}
	b.Quiet(200 * time.Millisecond)
	c.Quiet(0)
	a.Quiet(0)
}
