package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// startHistoryProcs starts 3 hub processes with history R3 (file storage)
// on namespace chat: all three at once, since each waits for the others
// (bootstrap_expect) before its embedded JetStream starts.
func startHistoryProcs(t *testing.T) []*proc {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.hcl")
	if err := os.WriteFile(cfg, []byte(`
namespace "chat" {
  rooms = ["chat.>"]
  history {
    size    = 100000
    storage = "file"
  }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := func(name string) procOpts {
		return procOpts{gossipOnly: true, args: []string{"-config", cfg, "-bootstrap-expect", "3",
			"-data-dir", filepath.Join(dir, name), "-failure-grace", "2s"}}
	}
	a := startProcWith(t, "pa", "", opts("pa"))
	b := startProcWith(t, "pb", a.gossip, opts("pb"))
	c := startProcWith(t, "pc", a.gossip, opts("pc"))
	ps := []*proc{a, b, c}
	for _, p := range ps {
		p.awaitListeners()
	}
	hubtest.Eventually(t, "three ready members with history", func() bool {
		for _, p := range ps {
			if m := p.readyz(); m["cluster_size"] != float64(3) || m["status"] != "ready" {
				return false
			}
		}
		return true
	})
	return ps
}

func (p *proc) historyCluster(t *testing.T) node.HistoryCluster {
	t.Helper()
	var hc node.HistoryCluster
	resp, err := p.httpc.Get(p.url("/api/history/cluster"))
	if err != nil {
		return hc
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&hc)
	return hc
}

// follower is a client that follows a history room across reconnects,
// joining with since each time, and records every message value it gets.
type follower struct {
	t      *testing.T
	who    string
	room   string
	cl     *hubtest.Client
	epoch  string
	offset uint64
	got    []int
	offs   []uint64 // the offset of each of got
	acks   []hubtest.Msg
	joins  int
}

func (f *follower) connect(p *proc) {
	f.cl = p.dial(f.t, "")
	f.joins++
	m := map[string]any{"type": "join_room", "room": f.room, "id": f.joins}
	if f.epoch != "" {
		m["since"] = map[string]any{"offset": f.offset, "epoch": f.epoch}
	}
	f.cl.Send(m)
}

// pump reads frames for up to d; false once the connection closed.
func (f *follower) pump(d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return true
		}
		m, alive := f.cl.TryNext(min(left, 10*time.Millisecond))
		if !alive {
			return false
		}
		if m == nil {
			continue
		}
		off, _ := m["offset"].(float64)
		switch m.S("type") {
		case "message":
			if uint64(off) <= f.offset {
				f.t.Errorf("%s: offset %v after %d: out of order or doubled", f.who, off, f.offset)
			}
			f.offset = uint64(off)
			v, _ := strconv.Atoi(m.JSON("data"))
			f.got = append(f.got, v)
			f.offs = append(f.offs, uint64(off))
		case "ack":
			f.acks = append(f.acks, m)
			f.epoch = m.S("epoch")
			f.offset = max(f.offset, uint64(off))
		case "resync", "error":
			f.t.Errorf("%s: %v", f.who, m["_raw"])
		}
	}
}

// apiPublisher posts numbered messages to a room through the HTTP API of
// its targets, one at a time, and counts every outcome: an offset, or an
// error.
type apiPublisher struct {
	mu       sync.Mutex
	targets  []*proc
	accepted map[uint64]int // offset → value
	refused  map[int]string // value → why
	after    time.Time      // count the accepted publishes sent after this
	resumed  int            // how many
	slowest  time.Duration  // the longest publish
}

func (p *apiPublisher) run(t *testing.T, room string, stop <-chan struct{}) {
	for i := 1; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(3 * time.Millisecond):
		}
		target := p.targets[i%len(p.targets)]
		sent := time.Now()
		resp, err := target.httpc.Post(target.url("/api/rooms/"+room+"/messages"), "application/json", strings.NewReader(strconv.Itoa(i)))
		var body struct {
			Offset uint64 `json:"offset"`
			Error  string `json:"error"`
		}
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != 202 || body.Offset == 0 {
				why = fmt.Sprintf("%d %s", resp.StatusCode, body.Error)
			}
		}
		p.mu.Lock()
		p.slowest = max(p.slowest, time.Since(sent))
		if why == "" {
			p.accepted[body.Offset] = i
			if !p.after.IsZero() && sent.After(p.after) {
				p.resumed++
			}
		} else {
			p.refused[i] = why
		}
		p.mu.Unlock()
	}
}

func (p *apiPublisher) inOrder() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	offs := make([]uint64, 0, len(p.accepted))
	for o := range p.accepted {
		offs = append(offs, o)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	out := make([]int, len(offs))
	for i, o := range offs {
		out[i] = p.accepted[o]
	}
	return out
}

func (p *apiPublisher) mark(t time.Time) {
	p.mu.Lock()
	p.after = t
	p.mu.Unlock()
}

// resumedAfter reports whether n publishes sent after the mark were accepted.
func (p *apiPublisher) resumedAfter(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resumed >= n
}

// SPEC §10, Done 2, with real processes: 3 hub processes, history R3; the
// stream leader's process gets kill -9 while messages are published
// through the API of the other two. Clients of the dead node reconnect to
// the survivors and recover with recovered:true, no gap, no duplicate;
// members on the survivors lose nothing; every publish got an offset (and
// then reached every member exactly once) or an error, never a silent
// loss. Then the dead node is removed from JetStream for good with
// `hub peer remove`, which first refuses while it still looks live.
func TestProcessHistoryLeaderKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t0 := time.Now()
	ps := startHistoryProcs(t)
	t.Logf("cluster ready after %v", time.Since(t0).Round(time.Millisecond))
	const room = "chat.k9"
	// The room's stream needs a first message for its leader to matter.
	if code, m := hubtest.HTTP(t, "POST", ps[0].url("/api/rooms/"+room+"/messages"), "", "0"); code != 202 {
		t.Fatalf("first publish: %d %v", code, m)
	}
	leaderOf := func(p *proc) string {
		for _, s := range p.historyCluster(t).Streams {
			if s.Namespace == "chat" && len(s.Followers) == 2 {
				return s.Leader
			}
		}
		return ""
	}
	var leader *proc
	var survivors []*proc
	pick := func() bool {
		leader, survivors = nil, nil
		name := leaderOf(ps[0])
		for _, p := range ps {
			if p.name == name {
				leader = p
			} else {
				survivors = append(survivors, p)
			}
		}
		return leader != nil
	}
	hubtest.Eventually(t, "a stream leader", pick)
	t.Logf("stream leader %s", leader.name)
	var fs []*follower
	for _, p := range ps {
		for k := range 2 {
			f := &follower{t: t, who: fmt.Sprintf("%s-%d", p.name, k), room: room}
			f.connect(p)
			fs = append(fs, f)
		}
	}
	pumpAll := func(d time.Duration) {
		for _, f := range fs {
			f.pump(d)
		}
	}
	pumpAll(100 * time.Millisecond)
	for _, f := range fs {
		if len(f.acks) != 1 {
			t.Fatalf("%s: no join ack", f.who)
		}
	}
	pub := &apiPublisher{targets: survivors, accepted: map[uint64]int{}, refused: map[int]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { pub.run(t, room, stop) })
	pumpAll(100 * time.Millisecond)

	// The leader may have moved since: look again right before the kill.
	hubtest.Eventually(t, "a stream leader", pick)
	killed := time.Now()
	pub.mark(killed)
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.exited
	t.Logf("killed %s at %v", leader.name, time.Since(t0).Round(time.Millisecond))
	// The dead node's clients see their connection end and reconnect to a
	// survivor, with since; the others keep reading.
	moved := 0
	for _, f := range fs {
		if strings.HasPrefix(f.who, leader.name) {
			for f.pump(20 * time.Millisecond) {
			}
			f.connect(survivors[moved%2])
			moved++
		}
	}
	// Publish until a new leader stores again: 50 publishes sent after
	// the kill accepted, bounded.
	for end := time.Now().Add(20 * time.Second); !pub.resumedAfter(50) && time.Now().Before(end); {
		pumpAll(20 * time.Millisecond)
	}
	hubtest.Eventually(t, "a new stream leader", func() bool {
		for _, s := range survivors[0].historyCluster(t).Streams {
			if s.Namespace == "chat" && s.Leader != "" && s.Leader != leader.name {
				return true
			}
		}
		return false
	})
	pumpAll(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	want := pub.inOrder()
	isWanted := map[int]bool{}
	for _, v := range want {
		isWanted[v] = true
	}
	// Drained once every accepted message came: a publish refused during
	// the election may have been stored after all, and counts for nothing.
	drained := func(f *follower) bool {
		n := 0
		for _, v := range f.got {
			if isWanted[v] {
				n++
			}
		}
		return n >= len(want)
	}
	for _, f := range fs {
		for end := time.Now().Add(10 * time.Second); !drained(f) && time.Now().Before(end); {
			f.pump(50 * time.Millisecond)
		}
	}
	t.Logf("accepted %d (%d sent after the kill), refused %d; the slowest publish took %v",
		len(want), pub.resumed, len(pub.refused), pub.slowest.Round(time.Millisecond))
	for v, why := range pub.refused {
		t.Logf("a refusal: %d: %s", v, why)
		break
	}
	if len(want) < 100 || pub.resumed < 50 {
		t.Fatalf("only %d messages accepted, %d after the kill", len(want), pub.resumed)
	}
	// Every member got the same messages in the same (offset) order: every
	// accepted one exactly once, and no other but a refused one (a publish
	// that timed out during the election may have been stored after all).
	var canon []int
	for _, f := range fs {
		got := f.got
		if len(got) > 0 && got[0] == 0 {
			got = got[1:]
		}
		if canon == nil {
			canon = got
		}
		if len(got) != len(canon) {
			t.Fatalf("%s got %d messages, %s %d: %s", f.who, len(got), fs[0].who, len(canon), diffGot(fs[0], f))
		}
		for i := range got {
			if got[i] != canon[i] {
				t.Fatalf("%s: message %d is %d, %s has %d", f.who, i, got[i], fs[0].who, canon[i])
			}
		}
		if strings.HasPrefix(f.who, leader.name) {
			if last := f.acks[len(f.acks)-1]; last["recovered"] != true {
				t.Fatalf("%s moved and was answered %v, want recovered:true", f.who, last["_raw"])
			}
		}
	}
	var only []int
	storedRefused := 0
	for _, v := range canon {
		switch {
		case isWanted[v]:
			only = append(only, v)
		case pub.refused[v] != "":
			storedRefused++
			t.Logf("%d was refused (%s) but stored", v, pub.refused[v])
		default:
			t.Fatalf("members got %d, never published", v)
		}
	}
	if len(only) != len(want) {
		t.Fatalf("members got %d of the %d accepted messages", len(only), len(want))
	}
	for i := range only {
		if only[i] != want[i] {
			t.Fatalf("accepted message %d is %d, want %d", i, only[i], want[i])
		}
	}
	t.Logf("%d refused publishes were stored after all", storedRefused)
	t.Logf("every member has every accepted message after %v", time.Since(t0).Round(time.Millisecond))

	// Scaling down for good: remove the dead node from JetStream.
	code, out, errs := runCmd("peer", "list", "-url", survivors[0].url(""))
	if code != 0 || !strings.Contains(out, leader.name) {
		t.Fatalf("peer list: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("hub peer list:\n%s", out)
	hubtest.Eventually(t, "hub peer remove "+leader.name, func() bool {
		code, out, errs = runCmd("peer", "remove", "-url", survivors[0].url(""), leader.name)
		if code != 0 && !strings.Contains(errs, "still") {
			t.Fatalf("peer remove: exit %d: %s", code, errs)
		}
		return code == 0
	})
	t.Logf("hub peer remove %s:\n%s", leader.name, out)
	if !strings.Contains(out, "and its streams") {
		t.Errorf("the streams still list %s after its removal", leader.name)
	}
	if hc := survivors[1].historyCluster(t); len(hc.Peers) != 2 {
		t.Fatalf("peers after the removal: %+v", hc.Peers)
	}
	t.Logf("done after %v", time.Since(t0).Round(time.Millisecond))
}

// diffGot says which messages (value@offset) one follower got and the other
// did not, and the acks of each.
func diffGot(a, b *follower) string {
	only := func(x, y *follower) []string {
		in := map[int]bool{}
		for _, v := range y.got {
			in[v] = true
		}
		var out []string
		for i, v := range x.got {
			if !in[v] {
				out = append(out, fmt.Sprintf("%d@%d", v, x.offs[i]))
			}
		}
		return out
	}
	raws := func(f *follower) []any {
		var out []any
		for _, m := range f.acks {
			out = append(out, m["_raw"])
		}
		return out
	}
	return fmt.Sprintf("only %s: %v (acks %v); only %s: %v (acks %v)", a.who, only(a, b), raws(a), b.who, only(b, a), raws(b))
}
