package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/presence"
	"github.com/hubrt/hub/protocol"
)

// These tests run trackers of several "nodes" against one real NATS
// server, with real connection actors whose outbound side is recorded.

func startNATS(t testing.TB) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// cluster is a set of trackers that see the same alive list.
type cluster struct {
	t     testing.TB
	quiet bool // record no frames or events (benchmarks)
	url   string
	mu    sync.Mutex
	alive []string
	nodes map[string]*fakeNode
}

type fakeNode struct {
	name string
	tr   *presence.Tracker
	sys  *actors.System
	nc   *nats.Conn
	mu   sync.Mutex
	// frames delivered to the room's local members, in order
	room   map[string][][]byte
	events []map[string]any
}

type nopBus struct{}

func (nopBus) Interest(_ actors.Kind, _ string, _ bool, done func()) {
	if done != nil {
		done()
	}
}
func (nopBus) Route(actors.Kind, string, string, string, []byte) {}
func (nopBus) Event(string, []byte, string)                      {}
func (nopBus) ReplySubject(string) string                        { return "" }

type sink struct {
	mu     sync.Mutex
	frames [][]byte
}

func (s *sink) Send(p []byte) bool {
	s.mu.Lock()
	s.frames = append(s.frames, p)
	s.mu.Unlock()
	return true
}
func (s *sink) Close(uint16, string) {}

func policy(room string) (presence.Room, bool) {
	switch room {
	case "p":
		return presence.Room{JoinLeave: true, MaxList: 1000}, true
	case "small":
		return presence.Room{JoinLeave: true, MaxList: 5}, true
	case "bench":
		return presence.Room{JoinLeave: true, MaxList: 1 << 20}, true
	}
	return presence.Room{}, false
}

func newCluster(t testing.TB) *cluster {
	return &cluster{t: t, url: startNATS(t), nodes: map[string]*fakeNode{}}
}

func (c *cluster) start(name string) *fakeNode {
	c.t.Helper()
	nc, err := nats.Connect(c.url)
	if err != nil {
		c.t.Fatal(err)
	}
	n := &fakeNode{name: name, nc: nc, room: map[string][][]byte{}}
	tr, err := presence.New(presence.Config{
		Node: name, Prefix: "hub", Conn: nc, Policy: policy,
		LeaveDelay: 300 * time.Millisecond, SyncWait: time.Second,
		Deliver: func(room string, frame []byte) {
			if c.quiet {
				return
			}
			n.mu.Lock()
			n.room[room] = append(n.room[room], frame)
			n.mu.Unlock()
		},
		Event: func(event string, payload []byte) {
			if c.quiet {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(payload, &m)
			n.mu.Lock()
			n.events = append(n.events, m)
			n.mu.Unlock()
		},
		Nodes: func() []string { c.mu.Lock(); defer c.mu.Unlock(); return slices.Clone(c.alive) },
	})
	if err != nil {
		c.t.Fatal(err)
	}
	n.tr = tr
	n.sys = actors.New(actors.Options{Node: name, Bus: nopBus{}, Presence: tr})
	c.t.Cleanup(func() { n.tr.Close(); n.sys.Shutdown(); nc.Close() })
	c.mu.Lock()
	c.alive = append(c.alive, name)
	c.nodes[name] = n
	c.mu.Unlock()
	for _, o := range c.nodes {
		o.tr.MembershipChanged()
	}
	return n
}

// kill takes a node out of everyone's alive list without telling it.
func (c *cluster) kill(name string) {
	c.mu.Lock()
	c.alive = slices.DeleteFunc(c.alive, func(s string) bool { return s == name })
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	n.tr.Close()
	n.nc.Close()
	for _, o := range c.nodes {
		o.tr.MembershipChanged()
	}
}

func (n *fakeNode) open(user string, info string) (*actors.Conn, *sink) {
	s := &sink{}
	r := &actors.OpenRequest{}
	r.User = user
	if info != "" {
		r.Info = []byte(info)
	}
	return n.sys.Open(s, r), s
}

func join(c *actors.Conn, room string) {
	c.Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, Room: room})
}

func snapshotUsers(t testing.TB, n *fakeNode, room string) ([]string, presence.Snapshot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := n.tr.Snapshot(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, m := range s.Members {
		users = append(users, fmt.Sprintf("%s:%d", m.User, len(m.Connections)))
	}
	sort.Strings(users)
	return users, s
}

func waitUsers(t *testing.T, n *fakeNode, room string, want ...string) {
	t.Helper()
	sort.Strings(want)
	var got []string
	deadline := time.Now().Add(hubtest.Wait)
	for time.Now().Before(deadline) {
		var s presence.Snapshot
		got, s = snapshotUsers(t, n, room)
		if slices.Equal(got, want) && s.Complete {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: members of %s = %v, want %v", n.name, room, got, want)
}

// changes decodes the join/leave/presence_diff frames a node delivered to
// a room, as "+user" and "-user" in order.
func (n *fakeNode) changes(room string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, f := range n.room[room] {
		var m struct {
			Type   string
			User   string
			Joins  []struct{ User string }
			Leaves []string
		}
		_ = json.Unmarshal(f, &m)
		switch m.Type {
		case "join":
			out = append(out, "+"+m.User)
		case "leave":
			out = append(out, "-"+m.User)
		case "presence_diff":
			for _, j := range m.Joins {
				out = append(out, "+"+j.User)
			}
			for _, l := range m.Leaves {
				out = append(out, "-"+l)
			}
		}
	}
	return out
}

func (n *fakeNode) eventsOf(kind string) []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []map[string]any
	for _, e := range n.events {
		if e["event"] == kind {
			out = append(out, e)
		}
	}
	return out
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func TestTracker_ThreeNodes(t *testing.T) {
	c := newCluster(t)
	a, b, d := c.start("a"), c.start("b"), c.start("d")
	all := []*fakeNode{a, b, d}
	ca, _ := a.open("alice", `{"name":"Alice"}`)
	join(ca, "p")
	for _, n := range all {
		waitUsers(t, n, "p", "alice:1")
	}
	cb, _ := b.open("bob", "")
	join(cb, "p")
	for _, n := range all {
		waitUsers(t, n, "p", "alice:1", "bob:1")
	}
	cb2, _ := d.open("bob", "") // bob's second tab, on another node: not a join
	join(cb2, "p")
	cc, _ := d.open("carol", "")
	join(cc, "p")
	for _, n := range all {
		waitUsers(t, n, "p", "alice:1", "bob:2", "carol:1")
	}
	hubtest.Eventually(t, "carol's join told on a and b", func() bool {
		return count(a.changes("p"), "+carol") == 1 && count(b.changes("p"), "+carol") == 1
	})
	// d dies: carol leaves at once, bob keeps his tab on b.
	c.kill("d")
	for _, n := range []*fakeNode{a, b} {
		waitUsers(t, n, "p", "alice:1", "bob:1")
	}
	hubtest.Eventually(t, "carol's leave on a and b", func() bool {
		return count(a.changes("p"), "-carol") == 1 && count(b.changes("p"), "-carol") == 1
	})
	// bob's last tab goes: his leave, after the leave delay.
	cb.Closed("client_close")
	hubtest.Eventually(t, "bob's leave on a", func() bool { return count(a.changes("p"), "-bob") == 1 })
	waitUsers(t, a, "p", "alice:1")
	got := a.changes("p")
	for _, want := range []string{"+bob", "+carol", "-carol", "-bob"} {
		if count(got, want) != 1 {
			t.Errorf("a's frames %v: %s %d times, want once", got, want, count(got, want))
		}
	}
	if count(got, "-alice") != 0 {
		t.Errorf("a's frames %v: alice left", got)
	}
	joins := map[string]int{}
	for _, n := range all {
		for _, e := range n.eventsOf("join") {
			joins[e["user"].(string)]++
		}
	}
	if joins["alice"] != 1 || joins["bob"] != 1 || joins["carol"] != 1 || len(joins) != 3 {
		t.Errorf("join events: %v, want one each for alice, bob, carol", joins)
	}
	hubtest.Eventually(t, "leave events for carol (node_down) and bob", func() bool {
		leaves := map[string]int{}
		for _, n := range all {
			for _, e := range n.eventsOf("leave") {
				leaves[fmt.Sprint(e["user"], "/", e["reason"])]++
			}
		}
		return leaves["carol/node_down"] == 1 && leaves["bob/client_close"] == 1 && len(leaves) == 2
	})
	occupied := 0
	for _, n := range all {
		occupied += len(n.eventsOf("room_occupied"))
		if v := n.eventsOf("room_vacated"); len(v) > 0 {
			t.Errorf("%s: room_vacated while alice is there: %v", n.name, v)
		}
	}
	if occupied != 1 {
		t.Errorf("room_occupied %d times, want once", occupied)
	}
	// alice goes: the room is vacated, once.
	ca.Closed("client_close")
	hubtest.Eventually(t, "room_vacated", func() bool {
		return len(a.eventsOf("room_vacated"))+len(b.eventsOf("room_vacated")) == 1
	})
}

func (n *fakeNode) dump(t *testing.T) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.events {
		t.Logf("%s event %v %v %v", n.name, e["event"], e["user"], e["connection_id"])
	}
	for r, fs := range n.room {
		for _, f := range fs {
			t.Logf("%s frame %s %s", n.name, r, f)
		}
	}
}

// A big room batches its members' frames longer: 100 ms per thousand
// connections (here 5,000: 500 ms), so a storm costs a bounded number of
// frames a second per node whatever the room's size.
func TestTracker_FrameWindowGrowsWithTheRoom(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	const n = 5000
	for i := 0; i < n; i++ {
		conn, _ := a.open(fmt.Sprintf("u%d", i), "")
		join(conn, "bench")
	}
	hubtest.Eventually(t, "5,000 members", func() bool {
		_, s := snapshotUsers(t, a, "bench")
		return s.Connections == n
	})
	hubtest.Eventually(t, "every join told", func() bool { return count(a.changes("bench"), fmt.Sprintf("+u%d", n-1)) == 1 })
	conn, _ := a.open("late", "")
	joined := time.Now()
	join(conn, "bench")
	hubtest.Eventually(t, "late's join told", func() bool { return count(a.changes("bench"), "+late") == 1 })
	if took := time.Since(joined); took < 400*time.Millisecond {
		t.Errorf("the join was told %v after it, want the room's 500 ms window", took)
	}
}

// Above max_list a local join or leave is told to the room's members as
// counts (a count-only presence_diff, at most once a second), not only a
// change on another node.
func TestTracker_CountsFollowLocalChanges(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	for i := range 6 { // one above max_list (5): counts only
		conn, _ := a.open(fmt.Sprintf("u%d", i), "")
		join(conn, "small")
	}
	lastCount := func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		for i := len(a.room["small"]) - 1; i >= 0; i-- {
			var m struct {
				Type  string
				Count *float64
			}
			if json.Unmarshal(a.room["small"][i], &m) == nil && m.Type == "presence_diff" && m.Count != nil {
				return *m.Count
			}
		}
		return -1
	}
	hubtest.Eventually(t, "the count of 6", func() bool { return lastCount() == 6 })
	conn, _ := a.open("u6", "")
	join(conn, "small")
	hubtest.Eventually(t, "the count of 7 after a local join", func() bool { return lastCount() == 7 })
	conn.Frame(&protocol.Frame{Type: protocol.TypeLeaveRoom, Room: "small"})
	hubtest.Eventually(t, "the count of 6 after a local leave", func() bool { return lastCount() == 6 })
}
