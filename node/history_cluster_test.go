package node_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// historyCluster is 3 in-process nodes with history (R3, file storage) on
// their embedded NATS, each with a fixed name, gossip port and data
// directory so that one can be started again as itself.
type historyCluster struct {
	t     *testing.T
	cfgs  []*config.Config
	nodes []*node.Node
}

func startHistoryCluster(t *testing.T) *historyCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-node test")
	}
	hc := &historyCluster{t: t}
	var gossip []string
	for range 3 {
		gossip = append(gossip, freeAddr(t))
	}
	for i := range 3 {
		c := historyConfig(t, 10000, namespace.StorageFile)
		c.Cluster.Bind = gossip[i]
		c.Cluster.Secret = hubtest.ClusterSecret
		c.Cluster.BootstrapExpect = 3
		for j, g := range gossip {
			if j != i {
				c.Cluster.Join = append(c.Cluster.Join, g)
			}
		}
		c.WebSocket.WriteQueueFrames = 8192
		hc.cfgs = append(hc.cfgs, c)
	}
	hc.nodes = make([]*node.Node, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { hc.nodes[i] = hc.start(i) })
	}
	wg.Wait()
	for i := range 3 {
		hc.waitReady(i)
	}
	return hc
}

// start starts node i (its Start blocks until bootstrap_expect members).
// A gossip port picked free may have been taken since (the ports are
// picked before the nodes start, from the range outgoing connections use
// too): then the node starts on another, and still joins the others.
func (hc *historyCluster) start(i int) *node.Node {
	var n *node.Node
	for attempt := 0; ; attempt++ {
		var err error
		n, err = node.New(hc.cfgs[i], hubtest.Logger(hc.t))
		if err != nil {
			hc.t.Error(err)
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = n.Start(ctx)
		cancel()
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(err.Error(), "gossip port") && strings.Contains(err.Error(), "already in use") {
			ln, lerr := net.Listen("tcp", "127.0.0.1:0") // not freeAddr: this may run off the test's goroutine
			if lerr != nil {
				hc.t.Error(lerr)
				return nil
			}
			hc.cfgs[i].Cluster.Bind = ln.Addr().String()
			ln.Close()
			continue
		}
		hc.t.Errorf("start node %d: %v", i, err)
		return nil
	}
	hc.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func (hc *historyCluster) waitReady(i int) {
	hc.t.Helper()
	if hc.nodes[i] == nil {
		hc.t.FailNow()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, checks := hc.nodes[i].Ready()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			hc.t.Fatalf("node %d not ready: %v", i, checks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (hc *historyCluster) index(name string) int {
	for i, n := range hc.nodes {
		if n != nil && n.Name() == name {
			return i
		}
	}
	return -1
}

// recoverer is a client that follows a history room across reconnects,
// joining with since each time, and records every message value once seen.
type recoverer struct {
	t      *testing.T
	room   string
	cl     *hubtest.Client
	epoch  string
	offset uint64
	got    []int
	acks   []hubtest.Msg
	joins  int
}

func (r *recoverer) connect(url string) {
	r.cl = hubtest.Dial(r.t, url, nil)
	r.joins++
	m := map[string]any{"type": "join_room", "room": r.room, "id": r.joins}
	if r.epoch != "" {
		m["since"] = map[string]any{"offset": r.offset, "epoch": r.epoch}
	}
	r.cl.Send(m)
}

// joined pumps until the last join is acknowledged (then the client has
// the room's epoch and offset, and is a member), or the connection ends.
func (r *recoverer) joined() {
	r.t.Helper()
	for end := time.Now().Add(20 * time.Second); len(r.acks) < r.joins; {
		if !r.pump(20*time.Millisecond) || time.Now().After(end) {
			r.t.Fatalf("%s: join %d not acknowledged", r.room, r.joins)
		}
	}
}

// pump reads frames for up to d; false once the connection closed.
func (r *recoverer) pump(d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return true
		}
		m, alive := r.cl.TryNext(min(left, 10*time.Millisecond))
		if !alive {
			return false
		}
		if m == nil {
			continue
		}
		switch m.S("type") {
		case "message":
			off := offsetOf(r.t, m)
			if off <= r.offset {
				r.t.Errorf("%s: offset %d after %d: out of order or doubled", r.room, off, r.offset)
			}
			r.offset = off
			v, _ := strconv.Atoi(m.JSON("data"))
			r.got = append(r.got, v)
		case "ack":
			r.acks = append(r.acks, m)
			r.epoch = m.S("epoch")
			if off := offsetOf(r.t, m); off > r.offset {
				r.offset = off
			}
		case "resync":
			r.t.Errorf("%s: resync %v", r.room, m["_raw"])
		}
	}
}

// checkExact asserts the client saw exactly the accepted values, in order.
func checkExact(t *testing.T, who string, got, accepted []int) {
	t.Helper()
	if len(got) != len(accepted) {
		t.Fatalf("%s got %d messages, %d were accepted (first missing or extra near %s)", who, len(got), len(accepted), firstDiff(got, accepted))
	}
	for i := range got {
		if got[i] != accepted[i] {
			t.Fatalf("%s: message %d is %d, want %d", who, i, got[i], accepted[i])
		}
	}
}

func firstDiff(a, b []int) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %d vs %d", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("index %d", min(len(a), len(b)))
}

// publisher posts numbered messages to the room through the API of the
// nodes still up, and keeps the accepted ones in offset order.
type publisher struct {
	mu       sync.Mutex
	accepted map[uint64]int
	refused  int
	targets  []string
}

func (p *publisher) run(t *testing.T, room string, stop <-chan struct{}, every time.Duration) {
	for i := 1; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		p.mu.Lock()
		url := p.targets[i%len(p.targets)]
		p.mu.Unlock()
		code, m := hubtest.HTTP(t, "POST", url+"/api/rooms/"+room+"/messages", "", strconv.Itoa(i))
		p.mu.Lock()
		if code == 202 {
			p.accepted[uint64(m["offset"].(float64))] = i
		} else {
			p.refused++
		}
		p.mu.Unlock()
	}
}

func (p *publisher) inOrder() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	offs := make([]uint64, 0, len(p.accepted))
	for o := range p.accepted {
		offs = append(offs, o)
	}
	for i := 1; i < len(offs); i++ {
		for j := i; j > 0 && offs[j] < offs[j-1]; j-- {
			offs[j], offs[j-1] = offs[j-1], offs[j]
		}
	}
	out := make([]int, len(offs))
	for i, o := range offs {
		out[i] = p.accepted[o]
	}
	return out
}

// SPEC §10, Done 2: 3 nodes, R3; the node leading the stream dies (its
// NATS first, with no hand-over) while messages are published. Clients of
// the dead node reconnect to the others and recover with recovered:true,
// no gap, no duplicate; members on the survivors lose nothing; publishers
// see errors, never a silent loss.
func TestHistoryCluster_LeaderDies(t *testing.T) {
	t0 := time.Now()
	hc := startHistoryCluster(t)
	t.Logf("cluster ready after %v", time.Since(t0))
	if r := hc.nodes[0].StreamReplicas("chat"); r != 3 {
		t.Fatalf("stream replicas %d, want 3", r)
	}
	leader := hc.index(hc.nodes[0].StreamLeader("chat"))
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	survivors := []int{(leader + 1) % 3, (leader + 2) % 3}
	clients := make([]*recoverer, 3)
	for i := range 3 {
		clients[i] = &recoverer{t: t, room: "chat.r"}
		clients[i].connect(hc.nodes[i].WSURL())
		clients[i].joined()
	}
	pub := &publisher{accepted: map[uint64]int{}, targets: []string{hc.nodes[survivors[0]].HTTPURL(), hc.nodes[survivors[1]].HTTPURL()}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { pub.run(t, "chat.r", stop, 5*time.Millisecond) })
	for range 10 {
		for _, c := range clients {
			c.pump(20 * time.Millisecond)
		}
	}
	t.Logf("crash at %v", time.Since(t0))
	hc.nodes[leader].Crash()
	t.Logf("crashed at %v", time.Since(t0))
	// The dead node's client reconnects to a survivor, with since.
	for clients[leader].pump(50 * time.Millisecond) {
	}
	clients[leader].connect(hc.nodes[survivors[0]].WSURL())
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range clients {
			c.pump(20 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("publisher stopped at %v", time.Since(t0))
	// Everything accepted reaches everyone.
	want := pub.inOrder()
	for _, c := range clients {
		for end := time.Now().Add(10 * time.Second); len(c.got) < len(want) && time.Now().Before(end); {
			c.pump(100 * time.Millisecond)
		}
	}
	t.Logf("drained at %v", time.Since(t0))
	t.Logf("accepted %d, refused %d during the election", len(want), pub.refused)
	if len(want) < 100 {
		t.Fatalf("only %d messages accepted", len(want))
	}
	for i, c := range clients {
		checkExact(t, fmt.Sprintf("client of node %d", i), c.got, want)
	}
	last := clients[leader].acks[len(clients[leader].acks)-1]
	if last["recovered"] != true {
		t.Fatalf("the moved client's ack %v, want recovered:true", last["_raw"])
	}
}

// SPEC §10, Done 3: a rolling restart of all 3 nodes while messages are
// published: every client that moved recovers with no gap, and no client
// ever sees recovered:false.
func TestHistoryCluster_RollingRestart(t *testing.T) {
	hc := startHistoryCluster(t)
	clients := make([]*recoverer, 3)
	at := make([]int, 3) // the node each client is on
	for i := range 3 {
		clients[i] = &recoverer{t: t, room: "chat.roll"}
		clients[i].connect(hc.nodes[i].WSURL())
		at[i] = i
		clients[i].joined()
	}
	pub := &publisher{accepted: map[uint64]int{}}
	setTargets := func(down int) {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		pub.targets = nil
		for i, n := range hc.nodes {
			if i != down {
				pub.targets = append(pub.targets, n.HTTPURL())
			}
		}
	}
	setTargets(-1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { pub.run(t, "chat.roll", stop, 5*time.Millisecond) })
	pumpAll := func(d time.Duration) {
		for _, c := range clients {
			c.pump(d)
		}
	}
	pumpAll(200 * time.Millisecond)
	for r := range 3 {
		setTargets(r)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := hc.nodes[r].Shutdown(ctx); err != nil {
			t.Logf("shutdown node %d: %v", r, err)
		}
		cancel()
		// Its clients move to the next node, recovering with since.
		for i, c := range clients {
			if at[i] == r {
				for c.pump(20 * time.Millisecond) {
				}
				at[i] = (r + 1) % 3
				c.connect(hc.nodes[at[i]].WSURL())
				// Recovered on the next node before that one restarts.
				c.joined()
			}
		}
		hc.nodes[r] = hc.start(r)
		hc.waitReady(r)
		// Every node is back and has delivered live messages since.
		mark := len(pub.inOrder())
		for _, c := range clients {
			for end := time.Now().Add(20 * time.Second); len(c.got) <= mark; {
				if !c.pump(20*time.Millisecond) || time.Now().After(end) {
					t.Fatalf("no message reached a client after node %d restarted", r)
				}
			}
		}
	}
	setTargets(-1)
	pumpAll(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	want := pub.inOrder()
	for _, c := range clients {
		for end := time.Now().Add(10 * time.Second); len(c.got) < len(want) && time.Now().Before(end); {
			c.pump(100 * time.Millisecond)
		}
	}
	t.Logf("accepted %d, refused %d", len(want), pub.refused)
	for i, c := range clients {
		checkExact(t, fmt.Sprintf("client %d", i), c.got, want)
		for _, a := range c.acks {
			if a["recovered"] == false {
				t.Fatalf("client %d saw %v, want no recovered:false in a rolling restart", i, a["_raw"])
			}
		}
	}
}
