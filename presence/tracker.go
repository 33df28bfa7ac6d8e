package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// Room is the presence configuration of one room (a namespace's
// `presence { join_leave = true  max_list = 1000 }`).
type Room struct {
	JoinLeave bool // members receive join and leave frames
	MaxList   int  // above this many connections only counts are kept and sent; <= 0 means DefaultMaxList
	// LeaveDelay replaces Config.LeaveDelay for the room: 0 keeps the
	// tracker's, a negative value means leaves go out at once.
	LeaveDelay time.Duration
}

// DefaultMaxList is Room.MaxList when it is not set.
const DefaultMaxList = 1000

// Policy says whether room has presence and with which options. It is
// called on connection actors and NATS handlers: it must be fast and safe
// for concurrent use.
type Policy func(room string) (Room, bool)

// Config configures a Tracker. Durations of zero take the default.
type Config struct {
	Node   string     // this node's name
	Prefix string     // subject prefix, "hub"
	Conn   *nats.Conn // connected by the caller
	Policy Policy
	// LeaveDelay is how long a user whose last connection left stays
	// announced before its leave goes out, so a reconnect does not flap;
	// also how long an empty room waits before room_vacated. Default 2s.
	LeaveDelay time.Duration
	// DiffWindow batches this node's changes of one room into one diff
	// for the other nodes. Default 50ms.
	DiffWindow time.Duration
	// FrameWindow batches the joins and leaves told to one room's local
	// members: at most one frame per room per window. Default 100ms; a
	// room of N thousand connections uses N windows (up to 10).
	FrameWindow time.Duration
	// SyncWait bounds how long a node waits for the others' slices.
	// Default 2s.
	SyncWait time.Duration
	// Deliver hands a frame to the local members of room; it must not block.
	Deliver func(room string, frame []byte)
	// Event publishes an event for backends (<prefix>.events.<event>).
	Event func(event string, payload []byte)
	// Nodes lists the alive members of the cluster, this node included;
	// nil means this node alone.
	Nodes  func() []string
	Logger *slog.Logger
}

// Tracker owns a node's presence state: its own members of every presence
// room exactly, and, for each room it watches, what the other nodes hold.
// One goroutine (the loop) owns all of it; the methods post to the loop
// and never block on it, but Snapshot and Flush, which wait for its answer.
type Tracker struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	inbox  string // reply subjects of this node's requests: inbox + "." + id
	diffs  string // prefix of the rooms' diff subjects
	sync   string // the sync subject every node answers
	in     chan *nats.Msg
	fixed  []*nats.Subscription
	wake   chan struct{}
	stop   chan struct{}
	done   sync.WaitGroup
	closed bool

	mu     sync.Mutex
	posted []any

	// Owned by the loop.
	rooms  map[string]*room
	dirty  map[*room]struct{}
	alive  map[string]bool
	nodes  []string // alive, sorted
	reqs   map[uint64]*request
	reqSeq uint64
	gen    uint64
	now    int64 // unix nanoseconds, read once per loop turn
}

// Messages posted to the loop.
type (
	localJoin struct {
		room string
		conn *actors.Conn
		info []byte
		at   int64  // unix nanoseconds
		ev   []byte // its join event, in case it is news
	}
	localLeave struct {
		room, reason string
		conn         *actors.Conn
		ev           []byte // its leave event, in case it is its user's last
	}
	frameQuery struct {
		room string
		conn *actors.Conn
		id   []byte
	}
	snapshotQuery struct {
		room  string
		reply chan Snapshot
	}
	membership struct{}
	flushReq   struct{ done chan struct{} }
)

// New subscribes the fixed subjects and starts the loop.
func New(cfg Config) (*Tracker, error) {
	if cfg.LeaveDelay == 0 {
		cfg.LeaveDelay = 2 * time.Second
	}
	if cfg.LeaveDelay < 0 {
		cfg.LeaveDelay = 0
	}
	if cfg.DiffWindow <= 0 {
		cfg.DiffWindow = 50 * time.Millisecond
	}
	if cfg.FrameWindow <= 0 {
		cfg.FrameWindow = 100 * time.Millisecond
	}
	if cfg.SyncWait <= 0 {
		cfg.SyncWait = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Deliver == nil {
		cfg.Deliver = func(string, []byte) {}
	}
	if cfg.Event == nil {
		cfg.Event = func(string, []byte) {}
	}
	t := &Tracker{
		cfg: cfg, log: cfg.Logger.With("component", "presence"), nc: cfg.Conn,
		diffs: cfg.Prefix + ".internal.presence.diff.",
		sync:  cfg.Prefix + ".internal.presence.sync",
		// Diffs of every watched room, requests and answers: one channel,
		// one goroutine. A node that falls this far behind loses messages
		// (NATS drops them), which the sequences detect.
		in:   make(chan *nats.Msg, 1<<15),
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		rooms: map[string]*room{}, dirty: map[*room]struct{}{},
		alive: map[string]bool{}, reqs: map[uint64]*request{},
		gen: uint64(time.Now().UnixNano()),
	}
	t.inbox = t.nc.NewRespInbox()
	for _, subj := range []string{
		t.sync,
		t.nodeSubject(cfg.Node, "presence_slice"),
		t.nodeSubject(cfg.Node, "presence_watch"),
		t.inbox + ".*",
	} {
		s, err := t.nc.ChanSubscribe(subj, t.in)
		if err != nil {
			t.unsubscribe()
			return nil, fmt.Errorf("subscribe %s: %w", subj, err)
		}
		t.fixed = append(t.fixed, s)
	}
	t.done.Add(1)
	go t.loop()
	return t, nil
}

func (t *Tracker) nodeSubject(node, op string) string {
	return t.cfg.Prefix + ".internal.node." + node + "." + op
}

func (t *Tracker) unsubscribe() {
	for _, s := range t.fixed {
		_ = s.Unsubscribe()
	}
	t.fixed = nil
}

// Close stops the loop and unsubscribes; it does not close the NATS
// connection. Call Flush first to send what is pending.
func (t *Tracker) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	t.done.Wait()
	t.unsubscribe()
}

func (t *Tracker) post(m any) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.posted = append(t.posted, m)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Enabled implements actors.Presence.
func (t *Tracker) Enabled(room string) bool {
	_, ok := t.cfg.Policy(room)
	return ok
}

// Joined implements actors.Presence.
func (t *Tracker) Joined(room string, c *actors.Conn) {
	// The events are made now, on the connection's actor, while the
	// connection has its details: whether they go out is known later.
	info := c.Info()
	var ev []byte
	if c.User() != "" {
		ev = c.AppendEvent(nil, protocol.EventJoin, &protocol.EventExtra{Room: room, Info: info})
	}
	t.post(&localJoin{room: room, conn: c, info: info, at: time.Now().UnixNano(), ev: ev})
}

// Left implements actors.Presence.
func (t *Tracker) Left(room string, c *actors.Conn, reason string) {
	var ev []byte
	if c.User() != "" {
		ev = c.AppendEvent(nil, protocol.EventLeave, &protocol.EventExtra{Room: room, Reason: reason})
	}
	t.post(&localLeave{room: room, conn: c, reason: reason, ev: ev})
}

// Query implements actors.Presence.
func (t *Tracker) Query(room string, c *actors.Conn, id []byte) {
	t.post(&frameQuery{room: room, conn: c, id: id})
}

// MembershipChanged tells the tracker that the cluster's members changed
// (it reads Config.Nodes again). It does not block.
func (t *Tracker) MembershipChanged() { t.post(&membership{}) }

// Flush publishes every pending diff and, as the node is about to stop,
// the leave events still waiting for their delay; it returns once done or
// when ctx ends.
func (t *Tracker) Flush(ctx context.Context) error {
	done := make(chan struct{})
	t.post(&flushReq{done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Snapshot is a room's presence as one node knows it.
type Snapshot struct {
	Room        string
	Members     []protocol.Member // nil above max_list: counts only
	Count       int               // users
	Connections int
	Nodes       int  // nodes whose part is known, this one included
	Complete    bool // every alive node's part is known
	Enabled     bool // the room has presence
}

// AppendJSON appends the snapshot as the HTTP API answers it.
func (s *Snapshot) AppendJSON(b []byte) []byte {
	b = append(b, `{"room":`...)
	b = protocol.AppendString(b, s.Room)
	if s.Members != nil {
		b = append(b, `,"members":`...)
		b = protocol.AppendMembers(b, s.Members)
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(s.Count), 10)
	b = append(b, `,"connections":`...)
	b = strconv.AppendInt(b, int64(s.Connections), 10)
	b = append(b, `,"nodes":`...)
	b = strconv.AppendInt(b, int64(s.Nodes), 10)
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, s.Complete)
	return append(b, "}\n"...)
}

// Snapshot returns the presence of room across the cluster: from this
// node's view when it watches the room, else by asking every node (bounded
// by SyncWait).
func (t *Tracker) Snapshot(ctx context.Context, room string) (Snapshot, error) {
	if _, ok := t.cfg.Policy(room); !ok {
		return Snapshot{Room: room}, nil
	}
	ch := make(chan Snapshot, 1)
	t.post(&snapshotQuery{room: room, reply: ch})
	select {
	case s := <-ch:
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}

// loop owns every room; it wakes on posted messages, on NATS messages and
// every quarter of the diff window for the batches and timers.
func (t *Tracker) loop() {
	defer t.done.Done()
	tick := time.NewTicker(t.cfg.DiffWindow / 2)
	defer tick.Stop()
	t.now = time.Now().UnixNano()
	t.reconcile()
	for {
		select {
		case <-t.stop:
			return
		case <-t.wake:
			t.now = time.Now().UnixNano()
			t.mu.Lock()
			batch := t.posted
			t.posted = nil
			t.mu.Unlock()
			for _, m := range batch {
				t.handlePosted(m)
			}
		case m := <-t.in:
			t.now = time.Now().UnixNano()
			t.handleNATS(m)
			// Drain what else is there before timers run.
			for n := 0; n < 256; n++ {
				select {
				case m := <-t.in:
					t.handleNATS(m)
					continue
				default:
				}
				break
			}
		case <-tick.C:
			t.now = time.Now().UnixNano()
			t.timers()
		}
	}
}

func (t *Tracker) handlePosted(m any) {
	switch m := m.(type) {
	case *localJoin:
		t.localJoin(m)
	case *localLeave:
		t.localLeave(m)
	case *frameQuery:
		t.frameQuery(m)
	case *snapshotQuery:
		t.snapshotQuery(m)
	case *membership:
		t.reconcile()
	case *flushReq:
		t.flush()
		close(m.done)
	}
}

func (t *Tracker) handleNATS(m *nats.Msg) {
	switch {
	case strings.HasPrefix(m.Subject, t.diffs):
		var d wireSlice
		if json.Unmarshal(m.Data, &d) != nil || d.Node == t.cfg.Node {
			return
		}
		metrics.PresenceMessages.WithLabelValues("diff_in").Inc()
		if r := t.rooms[d.Room]; r != nil && t.alive[d.Node] {
			t.applyDiff(r, &d)
		}
	case strings.HasPrefix(m.Subject, t.inbox+"."):
		id, err := strconv.ParseUint(m.Subject[len(t.inbox)+1:], 10, 64)
		if err != nil {
			return
		}
		var a wireSlice
		if json.Unmarshal(m.Data, &a) != nil {
			return
		}
		t.answer(id, &a)
	case m.Subject == t.sync, strings.HasSuffix(m.Subject, ".presence_slice"), strings.HasSuffix(m.Subject, ".presence_watch"):
		var q wireRequest
		if json.Unmarshal(m.Data, &q) != nil || q.From == t.cfg.Node {
			return
		}
		if strings.HasSuffix(m.Subject, ".presence_watch") {
			for _, name := range q.Rooms {
				if t.rooms[name] == nil && protocol.ValidName(name) {
					t.watch(name, false)
				}
			}
			return
		}
		t.serveSlices(m.Reply, &q)
	}
}

// serveSlices answers a request for this node's slices, one message per
// room, and starts watching the rooms this node decides for.
func (t *Tracker) serveSlices(reply string, q *wireRequest) {
	for _, name := range q.Rooms {
		if !protocol.ValidName(name) {
			continue
		}
		r := t.rooms[name]
		if r != nil {
			t.publishOut(r) // the answer's seq covers everything so far
		}
		if reply != "" {
			a := wireSlice{Node: t.cfg.Node, Room: name, Full: true}
			if r != nil {
				self := r.self()
				a.Gen, a.Seq, a.N = r.gen, r.seq, self.n
				max := r.maxList()
				if self.n > max {
					a.Counts = true
				} else {
					a.Add = make([]wireMember, 0, len(self.members))
					for _, m := range self.members {
						a.Add = append(a.Add, m.wire())
					}
				}
			}
			b, _ := json.Marshal(a)
			if err := t.nc.Publish(reply, b); err == nil {
				metrics.PresenceMessages.WithLabelValues("slice_out").Inc()
			}
		}
		if q.Watch && r == nil && t.decides(name) {
			t.watch(name, true)
		}
	}
}

// reconcile reads the cluster's members and handles every node that came
// or went since the last time.
func (t *Tracker) reconcile() {
	now := map[string]bool{t.cfg.Node: true}
	if t.cfg.Nodes != nil {
		for _, n := range t.cfg.Nodes() {
			now[n] = true
		}
	}
	var ups, downs []string
	for n := range now {
		if !t.alive[n] {
			ups = append(ups, n)
		}
	}
	for n := range t.alive {
		if !now[n] {
			downs = append(downs, n)
		}
	}
	if len(ups) == 0 && len(downs) == 0 {
		return
	}
	t.alive = now
	t.nodes = t.nodes[:0]
	for n := range now {
		t.nodes = append(t.nodes, n)
	}
	sort.Strings(t.nodes)
	for _, n := range downs {
		t.nodeDown(n)
	}
	for _, n := range ups {
		if n != t.cfg.Node {
			t.nodeUp(n)
		}
	}
	t.nudge()
	// Deciders changed: a room this node watched as owner or standby may
	// be someone else's now.
	for _, r := range t.rooms {
		t.touch(r)
	}
}

// nodeDown drops every member of a node that died or left, at once: the
// users whose last connection it held leave now, without the leave delay.
func (t *Tracker) nodeDown(node string) {
	for _, r := range t.rooms {
		if sl := r.slices[node]; sl != nil {
			t.dropSlice(r, node, sl, causeNodeDown)
			t.touch(r)
		}
	}
	for _, q := range t.reqs {
		delete(q.want, node)
	}
	t.checkRequests()
}

// nodeUp fetches a new (or returning) node's slice of every watched room.
func (t *Tracker) nodeUp(node string) {
	var names []string
	for name, r := range t.rooms {
		if r.slices[node] == nil {
			r.slices[node] = &slice{}
		}
		r.slices[node].fetching = true
		r.slices[node].cause = causeNodeUp
		names = append(names, name)
	}
	if len(names) > 0 {
		t.request(t.nodeSubject(node, "presence_slice"), []string{node}, names, false, nil)
	}
}

// nudge tells each room's owner and standby, when they are other nodes, to
// watch it: after a membership change they may be nodes that never heard
// of it.
func (t *Tracker) nudge() {
	if len(t.nodes) < 2 {
		return
	}
	byNode := map[string][]string{}
	for name := range t.rooms {
		for _, n := range t.deciders(name) {
			if n != t.cfg.Node {
				byNode[n] = append(byNode[n], name)
			}
		}
	}
	for n, names := range byNode {
		for len(names) > 0 {
			k := min(len(names), 500)
			b, _ := json.Marshal(wireRequest{From: t.cfg.Node, Rooms: names[:k]})
			_ = t.nc.Publish(t.nodeSubject(n, "presence_watch"), b)
			names = names[k:]
		}
	}
}

// flush sends every pending diff, and publishes now the leave events that
// wait for their delay: this node is stopping, and nobody else could tell
// them with the connection's details.
func (t *Tracker) flush() {
	for _, r := range t.rooms {
		t.publishOut(r)
		if r.users == nil {
			continue
		}
		for name, u := range r.users {
			if u.conns == 0 && u.last != nil && u.last.conn != nil {
				t.userGone(r, name, u, false)
			}
		}
	}
	_ = t.nc.Flush()
}
