package presence

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// member is one connection in a room.
type member struct {
	id   string
	user string
	node string
	at   int64 // connected_at, unix nanoseconds
	in   int64 // when it joined the room, unix nanoseconds (by its node's clock)
	info []byte
	conn *actors.Conn // local members only
	// ev is a local member's join event until it is told (or is not
	// news), then its leave event once it left.
	ev []byte
}

func (m *member) wire() wireMember {
	return wireMember{ID: m.id, User: m.user, At: m.at, In: m.in, Info: m.info}
}

func earlier(a, b *member) bool {
	if a.in != b.in {
		return a.in < b.in
	}
	return a.id < b.id
}

// cause says why a slice changed, which decides what members and backends
// are told.
type cause uint8

const (
	causeDiff     cause = iota + 1 // a change on its node
	causeSync                      // the first view of a room: nothing is news
	causeNodeDown                  // its node is gone: leaves at once
	causeNodeUp                    // its node came (back): the slice is fetched
)

// slice is one node's part of a room, as this node knows it.
type slice struct {
	gen, seq uint64
	n        int                // connections
	members  map[string]*member // by connection id; nil when only counted
	fetching bool               // a request for it is out; diffs wait in buffered
	cause    cause              // of the fetch
	buffered []*wireSlice
}

// user is one user of a room (list mode only).
type user struct {
	conns   int
	leaveAt int64   // unix nanoseconds; 0 while present
	last    *member // the connection whose leave made conns 0
}

// room is a presence room this node watches: it has local members, or it
// is the room's owner or standby, or its timers still run.
type room struct {
	name   string
	opts   Room
	slices map[string]*slice // by node, this one included
	users  map[string]*user  // nil in counts mode
	total  int               // connections
	// present counts users with a connection (list mode).
	present int
	counts  bool // counts mode: above max_list
	sub     *nats.Subscription

	syncing  bool // slices are being fetched for a first view or a resync
	announce bool // the first view is news (room_occupied may follow)
	waiting  []*frameQuery
	fresh    []*member // local members that joined during the sync

	// This node's slice as published: gen, seq and what is not sent yet.
	gen, seq uint64
	outAdd   []wireMember
	outDel   []string
	outAt    int64 // when the pending diff goes out
	beaconAt int64 // when to repeat the last seq (detects a lost last diff)

	// Frames for the local members.
	joins   []protocol.PresenceJoin
	leaves  []string
	frameAt int64 // when the pending frame goes out; 0 when none
	countAt int64 // counts mode: next count update, 0 when none pending

	leaving   int   // users waiting for their leave delay
	nextLeave int64 // earliest leaveAt

	occupied bool
	vacateAt int64
}

func (r *room) self() *slice { return r.slices[""] }

// leaveDelay is how long the room's users stay after their last
// connection left (and an empty room before room_vacated).
func (t *Tracker) leaveDelay(r *room) time.Duration {
	switch d := r.opts.LeaveDelay; {
	case d < 0:
		return 0
	case d > 0:
		return d
	}
	return t.cfg.LeaveDelay
}

func (r *room) maxList() int {
	if r.opts.MaxList > 0 {
		return r.opts.MaxList
	}
	return DefaultMaxList
}

// watch starts watching a room: subscribe to its diffs, then ask every
// node for its slice. fresh says the room was unknown to this node, so its
// occupancy after the first view is news (when this node is its owner).
func (t *Tracker) watch(name string, fresh bool) *room {
	opts, ok := t.cfg.Policy(name)
	if !ok {
		return nil
	}
	r := &room{name: name, opts: opts, slices: map[string]*slice{"": {members: map[string]*member{}}},
		users: map[string]*user{}, announce: fresh}
	sub, err := t.nc.ChanSubscribe(t.diffs+name, t.in)
	if err != nil {
		t.log.Error("presence subscribe failed", "room", name, "err", err)
	}
	r.sub = sub
	t.rooms[name] = r
	metrics.PresenceRooms.Inc()
	var others []string
	for _, n := range t.nodes {
		if n != t.cfg.Node {
			others = append(others, n)
			r.slices[n] = &slice{fetching: true, cause: causeSync, members: map[string]*member{}}
		}
	}
	if len(others) == 0 {
		t.synced(r)
		return r
	}
	r.syncing = true
	t.request(t.sync, others, []string{name}, true, nil)
	return r
}

// synced ends a first view (or resync): occupancy is settled and waiting
// presence frames are answered.
func (t *Tracker) synced(r *room) {
	r.syncing = false
	// A local member that joined during the sync is news if it is its
	// user's first connection in the room: of the connections this node
	// now sees, the one that joined first (then the lowest id). Two nodes
	// whose first views saw each other's connection agree on which one
	// that is; at least one of them sees the other's, so a user that
	// comes in on two nodes at once is announced once.
	if r.users != nil && len(r.fresh) > 0 {
		first := map[string]*member{}
		for _, m := range r.fresh {
			if m.user != "" {
				first[m.user] = nil
			}
		}
		for _, sl := range r.slices {
			for _, m := range sl.members {
				if f, ok := first[m.user]; ok && (f == nil || earlier(m, f)) {
					first[m.user] = m
				}
			}
		}
		for _, m := range first {
			if m != nil && m.conn != nil && slices.Contains(r.fresh, m) {
				t.userCame(r, m, causeDiff)
			}
		}
	}
	r.fresh = nil
	t.occupancy(r, !r.announce)
	r.announce = false
	for _, q := range r.waiting {
		t.answerFrame(r, q)
	}
	r.waiting = nil
	t.checkMode(r)
	t.touch(r)
}

func (t *Tracker) localJoin(j *localJoin) {
	r := t.rooms[j.room]
	if r == nil {
		if r = t.watch(j.room, true); r == nil {
			return
		}
	}
	self := r.self()
	id := j.conn.ID()
	if self.members[id] != nil {
		return
	}
	if r.gen == 0 {
		t.gen++
		r.gen = t.gen
	}
	at := j.conn.ConnectedAt()
	if at == 0 {
		at = j.at // joined server-side before it was routable
	}
	m := &member{id: id, user: j.conn.User(), node: t.cfg.Node, at: at, in: j.at, info: j.info, conn: j.conn, ev: j.ev}
	t.add(r, self, m, causeDiff)
	self.n++
	r.outAdd = append(r.outAdd, m.wire())
	r.outDel = slices.DeleteFunc(r.outDel, func(s string) bool { return s == id })
	t.outPending(r)
	t.localCountChanged(r)
	metrics.PresenceMembers.Inc()
}

func (t *Tracker) localLeave(l *localLeave) {
	r := t.rooms[l.room]
	if r == nil {
		return
	}
	self := r.self()
	id := l.conn.ID()
	m := self.members[id]
	if m == nil {
		return
	}
	m.ev = l.ev
	t.del(r, self, m, causeDiff)
	self.n--
	r.outDel = append(r.outDel, id)
	t.outPending(r)
	t.localCountChanged(r)
	metrics.PresenceMembers.Dec()
}

// localCountChanged follows a local join or leave: the room may change
// mode, and in counts mode its members are told the new counts (as for a
// change from another node).
func (t *Tracker) localCountChanged(r *room) {
	wasCounts := r.counts
	t.checkMode(r)
	if wasCounts && r.counts {
		t.countChanged(r)
	}
}

func (t *Tracker) outPending(r *room) {
	if r.outAt == 0 {
		r.outAt = t.now + int64(t.cfg.DiffWindow)
	}
	t.touch(r)
}

// add puts a member into a slice and the room's view.
func (t *Tracker) add(r *room, sl *slice, m *member, c cause) {
	if sl.members != nil {
		sl.members[m.id] = m
	}
	r.total++
	if r.users != nil && m.user != "" {
		u := r.users[m.user]
		if u == nil {
			u = &user{}
			r.users[m.user] = u
		}
		u.conns++
		if u.conns > 1 && !r.syncing {
			m.ev = nil // not news
		}
		if u.conns == 1 {
			r.present++
			if u.leaveAt != 0 {
				// Back within the leave delay: nobody was told it left.
				u.leaveAt, u.last = 0, nil
				r.leaving--
				m.ev = nil
			} else if c != causeSync && !r.syncing {
				t.userCame(r, m, c)
			}
		}
		if r.syncing && m.conn != nil {
			// Whether this is news is known once the first view is.
			r.fresh = append(r.fresh, m)
		}
	}
	if c != causeSync && !r.syncing {
		t.occupancy(r, false)
	}
}

// del takes a member out of a slice and the room's view.
func (t *Tracker) del(r *room, sl *slice, m *member, c cause) {
	if sl.members != nil {
		delete(sl.members, m.id)
	}
	r.total--
	if r.users != nil && m.user != "" {
		if u := r.users[m.user]; u != nil && u.conns > 0 {
			u.conns--
			if u.conns == 0 {
				r.present--
				u.last = m
				switch {
				case c == causeSync || r.syncing:
					delete(r.users, m.user)
				case c == causeNodeDown || t.leaveDelay(r) == 0:
					t.userGone(r, m.user, u, c == causeNodeDown)
				default:
					u.leaveAt = t.now + int64(t.leaveDelay(r))
					r.leaving++
					if r.nextLeave == 0 || u.leaveAt < r.nextLeave {
						r.nextLeave = u.leaveAt
					}
					t.touch(r)
				}
			}
		}
	}
	if c != causeSync && !r.syncing {
		t.occupancy(r, false)
	}
}

// userCame tells the local members, and backends when this node holds the
// connection (or, for a node that came back, when this node owns the room).
func (t *Tracker) userCame(r *room, m *member, c cause) {
	// Frames are for the members already here (and the one that joins):
	// a member that comes later asks for the list.
	if r.opts.JoinLeave && (r.self().n > 0 || m.conn != nil) {
		// A leave of this user not told yet cancels out.
		if i := slices.Index(r.leaves, m.user); i >= 0 {
			r.leaves = slices.Delete(r.leaves, i, i+1)
		} else {
			r.joins = append(r.joins, protocol.PresenceJoin{User: m.user, Info: m.info})
			t.framePending(r)
		}
	}
	now := time.Unix(0, t.now)
	switch {
	case m.conn != nil:
		if m.ev != nil {
			t.cfg.Event(protocol.EventJoin, m.ev)
			m.ev = nil
		}
	case c == causeNodeUp && t.owner(r.name) == t.cfg.Node:
		t.cfg.Event(protocol.EventJoin, protocol.AppendLostLeave(nil, now, m.id, m.user, m.node, r.name, "node_up", t.cfg.Node))
	}
}

// userGone ends a user's presence: frames to the members, the leave event.
func (t *Tracker) userGone(r *room, name string, u *user, nodeDown bool) {
	if u.leaveAt != 0 {
		r.leaving--
	}
	delete(r.users, name)
	if r.opts.JoinLeave && (r.self().n > 0 || len(r.joins) > 0) {
		// A join of this user not told yet cancels out.
		if i := slices.IndexFunc(r.joins, func(j protocol.PresenceJoin) bool { return j.User == name }); i >= 0 {
			r.joins = slices.Delete(r.joins, i, i+1)
		} else {
			r.leaves = append(r.leaves, name)
			t.framePending(r)
		}
	}
	m := u.last
	if m == nil {
		return
	}
	now := time.Unix(0, t.now)
	switch {
	case m.conn != nil:
		if m.ev != nil {
			t.cfg.Event(protocol.EventLeave, m.ev)
		}
	case (nodeDown || !t.alive[m.node]) && t.owner(r.name) == t.cfg.Node:
		t.cfg.Event(protocol.EventLeave, protocol.AppendLostLeave(nil, now, m.id, m.user, m.node, r.name, "node_down", t.cfg.Node))
	}
}

func (t *Tracker) framePending(r *room) {
	if r.frameAt == 0 {
		r.frameAt = t.now + int64(t.frameWindow(r))
	}
	t.touch(r)
}

// frameWindow is how long a room's joins and leaves are batched for its
// members: FrameWindow, times the room's thousands of connections, up to
// ten times. What a storm costs is mostly per frame (a write to every
// member, a read on every client): a 5,000-join storm over three nodes took
// 5.5-6.5 s to dial with 100 ms windows and 3.0 s with 500 ms (BENCHMARKS.md),
// for the same bytes. So a node writes at most about 10,000 presence frames
// a second per room, whatever its size, and a room under 2,000
// connections keeps the plain window.
func (t *Tracker) frameWindow(r *room) time.Duration {
	return t.cfg.FrameWindow * time.Duration(min(10, max(1, r.total/1000)))
}

// occupancy follows the room from empty to occupied and back; the owner
// publishes room_occupied at once and room_vacated after the leave delay of
// emptiness (a room that fills again within it was never vacated).
func (t *Tracker) occupancy(r *room, silent bool) {
	if r.total > 0 {
		r.vacateAt = 0
		if !r.occupied {
			r.occupied = true
			if !silent && t.owner(r.name) == t.cfg.Node {
				t.roomEvent(protocol.EventRoomOccupied, r.name)
			}
		}
		return
	}
	if r.occupied && r.vacateAt == 0 {
		r.vacateAt = t.now + int64(t.leaveDelay(r))
		t.touch(r)
	}
}

func (t *Tracker) roomEvent(event, room string) {
	t.cfg.Event(event, protocol.AppendRoomEvent(nil, event, time.Unix(0, t.now), room, t.cfg.Node))
}

// checkMode switches a room to counts only above max_list and back (with
// a tenth of hysteresis, and a resync of the lists) below it.
func (t *Tracker) checkMode(r *room) {
	max := r.maxList()
	switch {
	case !r.counts && r.total > max:
		t.countsMode(r)
	case r.counts && !r.syncing && r.total <= max-max/10:
		t.resync(r)
	}
}

func (t *Tracker) countsMode(r *room) {
	r.counts = true
	r.users, r.present, r.leaving, r.nextLeave = nil, 0, 0, 0
	r.joins, r.leaves = nil, nil
	for n, sl := range r.slices {
		if n != "" {
			sl.members = nil
		}
	}
	r.outAdd, r.outDel = nil, nil
	r.countAt = t.now
	t.touch(r)
}

// resync leaves counts mode: the users are counted again from the local
// members and every other node's list, fetched again.
func (t *Tracker) resync(r *room) {
	r.counts = false
	r.users, r.present = map[string]*user{}, 0
	r.total = 0
	self := r.self()
	for _, m := range self.members {
		t.add(r, &slice{}, m, causeSync) // counts it: members nil, the slice keeps its own
	}
	var others []string
	for n, sl := range r.slices {
		if n == "" {
			continue
		}
		sl.members, sl.fetching, sl.cause, sl.n = map[string]*member{}, true, causeSync, 0
		others = append(others, n)
	}
	if len(others) == 0 {
		return
	}
	r.syncing = true
	t.request(t.sync, others, []string{r.name}, false, nil)
}

// applyDiff applies a diff from another node in order; a diff after a gap
// (or from a slice this node does not know) fetches the whole slice.
func (t *Tracker) applyDiff(r *room, d *wireSlice) {
	sl := r.slices[d.Node]
	if sl == nil {
		sl = &slice{members: map[string]*member{}}
		if r.counts {
			sl.members = nil
		}
		r.slices[d.Node] = sl
		if d.Seq != 1 {
			t.fetch(r, d.Node, sl, d)
			return
		}
		sl.gen = d.Gen
	}
	if sl.fetching {
		sl.buffered = append(sl.buffered, d)
		return
	}
	switch {
	case d.Gen != sl.gen && d.Seq == 1:
		// A new life of the node's slice: it started from nothing.
		t.dropMembers(r, sl, causeDiff)
		sl.gen, sl.seq = d.Gen, 0
	case d.Gen != sl.gen, d.Seq > sl.seq+1:
		metrics.PresenceGaps.Inc()
		t.fetch(r, d.Node, sl, d)
		return
	case d.Seq <= sl.seq:
		return // seen, or a beacon
	}
	t.applyChanges(r, sl, d, causeDiff)
}

func (t *Tracker) applyChanges(r *room, sl *slice, d *wireSlice, c cause) {
	sl.seq = d.Seq
	if d.Counts || sl.members == nil {
		if !r.counts && d.Counts {
			t.countsMode(r)
		}
		r.total += d.N - sl.n
		sl.n = d.N
		if r.counts {
			t.countChanged(r)
		}
		t.checkMode(r)
		return
	}
	for _, id := range d.Del {
		if m := sl.members[id]; m != nil {
			t.del(r, sl, m, c)
			sl.n--
		}
	}
	for _, w := range d.Add {
		if sl.members[w.ID] == nil && protocol.ValidName(w.ID) && (w.User == "" || protocol.ValidName(w.User)) {
			t.add(r, sl, &member{id: w.ID, user: w.User, node: d.Node, at: w.At, in: w.In, info: validInfo(w.Info)}, c)
			sl.n++
		}
	}
	t.checkMode(r)
}

// validInfo keeps an info only when it is one JSON value: it is written
// into frames as is.
func validInfo(b json.RawMessage) []byte {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func (t *Tracker) countChanged(r *room) {
	if r.countAt == 0 {
		r.countAt = t.now + int64(time.Second)
		t.touch(r)
	}
}

// dropMembers removes every member of a slice from the view.
func (t *Tracker) dropMembers(r *room, sl *slice, c cause) {
	if sl.members == nil {
		r.total -= sl.n
		sl.n = 0
		t.occupancy(r, false)
		return
	}
	for _, m := range sl.members {
		t.del(r, sl, m, c)
	}
	sl.n = 0
}

// dropSlice forgets a node's part of a room: the node is gone.
func (t *Tracker) dropSlice(r *room, node string, sl *slice, c cause) {
	wasSyncing := sl.fetching
	sl.fetching = false
	t.dropMembers(r, sl, c)
	delete(r.slices, node)
	if wasSyncing && r.syncing && !t.anyFetching(r) {
		t.synced(r)
	}
	if r.counts {
		t.countChanged(r)
	}
}

func (t *Tracker) anyFetching(r *room) bool {
	for _, sl := range r.slices {
		if sl.fetching {
			return true
		}
	}
	return false
}

// fetch asks one node for its slice again; diffs wait until the answer.
func (t *Tracker) fetch(r *room, node string, sl *slice, d *wireSlice) {
	sl.fetching, sl.cause = true, causeDiff
	sl.buffered = append(sl.buffered[:0], d)
	t.request(t.nodeSubject(node, "presence_slice"), []string{node}, []string{r.name}, false, nil)
}

// install replaces a node's slice with its answer: in a first view
// silently, otherwise telling the difference as joins and leaves.
func (t *Tracker) install(r *room, node string, a *wireSlice) {
	sl := r.slices[node]
	if sl == nil || !sl.fetching {
		return
	}
	c := sl.cause
	if r.syncing {
		c = causeSync
	}
	sl.fetching = false
	sl.gen, sl.seq = a.Gen, a.Seq
	if a.Counts || r.counts {
		if !r.counts && a.Counts {
			t.countsMode(r)
		}
		r.total += a.N - sl.n
		sl.n = a.N
		sl.members = nil
	} else {
		if sl.members == nil {
			sl.members = map[string]*member{}
		}
		in := make(map[string]bool, len(a.Add))
		for _, w := range a.Add {
			in[w.ID] = true
		}
		for id, m := range sl.members {
			if !in[id] {
				t.del(r, sl, m, c)
				sl.n--
			}
		}
		for _, w := range a.Add {
			if sl.members[w.ID] == nil && protocol.ValidName(w.ID) && (w.User == "" || protocol.ValidName(w.User)) {
				t.add(r, sl, &member{id: w.ID, user: w.User, node: node, at: w.At, in: w.In, info: validInfo(w.Info)}, c)
				sl.n++
			}
		}
	}
	buffered := sl.buffered
	sl.buffered = nil
	for _, d := range buffered {
		if d.Gen == sl.gen && d.Seq > sl.seq {
			if d.Seq == sl.seq+1 {
				t.applyChanges(r, sl, d, c)
			} else {
				t.fetch(r, node, sl, d)
				return
			}
		}
	}
	if r.syncing && !t.anyFetching(r) {
		t.synced(r)
	}
	if r.counts {
		t.countChanged(r)
	}
	t.checkMode(r)
}

// publishOut sends this node's pending changes of a room as one diff (or a
// few, for a storm).
func (t *Tracker) publishOut(r *room) {
	if r.outAt == 0 {
		return
	}
	r.outAt = 0
	self := r.self()
	for first := true; first || len(r.outAdd)+len(r.outDel) > 0; first = false {
		d := wireSlice{Node: t.cfg.Node, Room: r.name, Gen: r.gen, N: self.n}
		if r.counts {
			d.Counts = true
			r.outAdd, r.outDel = nil, nil
		} else {
			k := min(len(r.outDel), maxDiffChanges)
			d.Del, r.outDel = r.outDel[:k:k], r.outDel[k:]
			k = min(len(r.outAdd), maxDiffChanges-len(d.Del))
			d.Add, r.outAdd = r.outAdd[:k:k], r.outAdd[k:]
		}
		r.seq++
		d.Seq = r.seq
		t.send(&d)
	}
	r.outAdd, r.outDel = nil, nil
	r.beaconAt = t.now + int64(time.Second)
	t.touch(r)
}

func (t *Tracker) send(d *wireSlice) {
	b, _ := json.Marshal(d)
	if err := t.nc.Publish(t.diffs+d.Room, b); err != nil {
		t.log.Warn("presence diff publish failed", "room", d.Room, "err", err)
		return
	}
	metrics.PresenceMessages.WithLabelValues("diff_out").Inc()
}

func (t *Tracker) touch(r *room) { t.dirty[r] = struct{}{} }

// timers runs the batches and delays that are due, for the rooms that have
// any, and stops watching rooms that need it no longer.
func (t *Tracker) timers() {
	now := t.now
	for r := range t.dirty {
		if r.outAt != 0 && now >= r.outAt {
			t.publishOut(r)
		}
		if r.beaconAt != 0 && now >= r.beaconAt {
			r.beaconAt = 0
			if r.gen != 0 {
				t.send(&wireSlice{Node: t.cfg.Node, Room: r.name, Gen: r.gen, Seq: r.seq, N: r.self().n, Counts: r.counts})
			}
		}
		if r.leaving > 0 && now >= r.nextLeave {
			t.expireLeaves(r)
		}
		if r.vacateAt != 0 && now >= r.vacateAt {
			r.vacateAt = 0
			if r.total == 0 && r.occupied {
				r.occupied = false
				if t.owner(r.name) == t.cfg.Node {
					t.roomEvent(protocol.EventRoomVacated, r.name)
				}
			}
		}
		if r.frameAt != 0 && now >= r.frameAt {
			t.sendFrames(r)
		}
		if r.countAt != 0 && now >= r.countAt {
			r.countAt = 0
			if r.counts && r.opts.JoinLeave && r.self().n > 0 {
				t.cfg.Deliver(r.name, protocol.EncodePresenceDiff(r.name, nil, nil, r.total, r.total))
				metrics.PresenceFrames.Inc()
			}
		}
		if r.outAt == 0 && r.beaconAt == 0 && r.leaving == 0 && r.vacateAt == 0 && r.frameAt == 0 && r.countAt == 0 {
			delete(t.dirty, r)
			t.maybeStop(r)
		}
	}
	t.checkRequests()
}

func (t *Tracker) expireLeaves(r *room) {
	r.nextLeave = 0
	for name, u := range r.users {
		if u.leaveAt == 0 {
			continue
		}
		if u.leaveAt <= t.now {
			t.userGone(r, name, u, false)
		} else if r.nextLeave == 0 || u.leaveAt < r.nextLeave {
			r.nextLeave = u.leaveAt
		}
	}
}

// sendFrames tells the local members what changed in the last window: one
// join or leave frame for a single change, one presence_diff for more.
func (t *Tracker) sendFrames(r *room) {
	r.frameAt = 0
	joins, leaves := r.joins, r.leaves
	r.joins, r.leaves = nil, nil
	if r.self().n == 0 || len(joins)+len(leaves) == 0 {
		return
	}
	var f []byte
	switch {
	case len(joins) == 1 && len(leaves) == 0:
		f = protocol.EncodeJoin(r.name, joins[0].User, joins[0].Info)
	case len(joins) == 0 && len(leaves) == 1:
		f = protocol.EncodeLeave(r.name, leaves[0])
	default:
		f = protocol.EncodePresenceDiff(r.name, joins, leaves, r.present, r.total)
	}
	t.cfg.Deliver(r.name, f)
	metrics.PresenceFrames.Inc()
}

// maybeStop stops watching a room this node needs no longer: no local
// member, nothing pending, and either not a decider or the room is empty.
func (t *Tracker) maybeStop(r *room) {
	if r.self().n > 0 || r.syncing || r.occupied && t.decides(r.name) || t.rooms[r.name] != r {
		return
	}
	for _, sl := range r.slices {
		if sl.fetching {
			return
		}
	}
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
	}
	delete(t.rooms, r.name)
	metrics.PresenceRooms.Dec()
}

// deciders are the room's owner and standby: the two alive nodes ranked
// first by rendezvous hashing of (room, node). The owner publishes the
// room's lifecycle events and the leaves of a dead node's users; the
// standby watches the room so that it can take over at once.
func (t *Tracker) deciders(room string) []string {
	var best [2]string
	var score [2]uint64
	for _, n := range t.nodes {
		s := rendezvous(room, n)
		switch {
		case best[0] == "" || s > score[0]:
			best[1], score[1] = best[0], score[0]
			best[0], score[0] = n, s
		case best[1] == "" || s > score[1]:
			best[1], score[1] = n, s
		}
	}
	if best[1] == "" {
		return best[:1]
	}
	return best[:]
}

func (t *Tracker) owner(room string) string {
	if len(t.nodes) == 0 {
		return t.cfg.Node
	}
	return t.deciders(room)[0]
}

func (t *Tracker) decides(room string) bool {
	return slices.Contains(t.deciders(room), t.cfg.Node)
}

func rendezvous(room, node string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(room))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(node))
	x := h.Sum64()
	// splitmix64's finalizer: fnv's low bits mix poorly for similar names.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// frameQuery answers a member's presence frame, once the room's first
// view is complete.
func (t *Tracker) frameQuery(q *frameQuery) {
	r := t.rooms[q.room]
	if r == nil {
		q.conn.Send(protocol.EncodePresence(q.id, q.room, []protocol.Member{}, 0, 0))
		return
	}
	if r.syncing {
		r.waiting = append(r.waiting, q)
		return
	}
	t.answerFrame(r, q)
}

func (t *Tracker) answerFrame(r *room, q *frameQuery) {
	// The answer comes after every change told so far, so a client that
	// applies the frames that follow it (or still arrive) ends up right.
	if r.frameAt != 0 {
		t.sendFrames(r)
	}
	s := t.snapshot(r)
	q.conn.Send(protocol.EncodePresence(q.id, r.name, s.Members, s.Count, s.Connections))
	metrics.PresenceFrames.Inc()
}

// snapshot builds the member list of a watched room from this node's view.
func (t *Tracker) snapshot(r *room) Snapshot {
	s := Snapshot{Room: r.name, Enabled: true, Connections: r.total, Complete: !r.syncing, Nodes: 0}
	for _, sl := range r.slices {
		if sl.fetching {
			s.Complete = false
		} else {
			s.Nodes++
		}
	}
	if r.counts {
		s.Count = r.total
		return s
	}
	s.Members = members(r.slices)
	s.Count = len(s.Members)
	return s
}

// members groups the connections of slices by user, sorted by user, each
// user's connections oldest first; anonymous connections are counted, not
// listed.
func members(ss map[string]*slice) []protocol.Member {
	by := map[string]*protocol.Member{}
	var infoAt map[string]int64
	for _, sl := range ss {
		for _, m := range sl.members {
			if m.user == "" {
				continue
			}
			pm := by[m.user]
			if pm == nil {
				pm = &protocol.Member{User: m.user}
				by[m.user] = pm
			}
			pm.Connections = append(pm.Connections, protocol.PresenceConn{ID: m.id, Node: m.node, ConnectedAt: time.Unix(0, m.at)})
			if m.info != nil {
				if infoAt == nil {
					infoAt = map[string]int64{}
				}
				if at, ok := infoAt[m.user]; !ok || m.at < at {
					infoAt[m.user] = m.at
					pm.Info = m.info
				}
			}
		}
	}
	out := make([]protocol.Member, 0, len(by))
	for _, pm := range by {
		sort.Slice(pm.Connections, func(i, j int) bool {
			a, b := pm.Connections[i], pm.Connections[j]
			if !a.ConnectedAt.Equal(b.ConnectedAt) {
				return a.ConnectedAt.Before(b.ConnectedAt)
			}
			return a.ID < b.ID
		})
		out = append(out, *pm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// request is a question out to other nodes: the slices of rooms.
type request struct {
	id       uint64
	subject  string
	rooms    []string
	want     map[string]map[string]bool // node → rooms not answered yet
	watch    bool
	deadline int64
	tries    int
	// api collects the answers for a snapshot of a room nobody here watches.
	api *apiQuery
}

type apiQuery struct {
	q      *snapshotQuery
	slices map[string]*slice
}

const maxTries = 3

func (t *Tracker) request(subject string, nodes, rooms []string, watch bool, api *apiQuery) *request {
	t.reqSeq++
	q := &request{id: t.reqSeq, subject: subject, rooms: rooms, watch: watch, api: api,
		want: map[string]map[string]bool{}, deadline: t.now + int64(t.cfg.SyncWait)}
	for _, n := range nodes {
		set := make(map[string]bool, len(rooms))
		for _, r := range rooms {
			set[r] = true
		}
		q.want[n] = set
	}
	t.reqs[q.id] = q
	t.sendRequest(q)
	return q
}

func (t *Tracker) sendRequest(q *request) {
	q.tries++
	b, _ := json.Marshal(wireRequest{From: t.cfg.Node, Rooms: q.rooms, Watch: q.watch})
	reply := t.inbox + "." + strconv.FormatUint(q.id, 10)
	if err := t.nc.PublishRequest(q.subject, reply, b); err != nil {
		t.log.Warn("presence request failed", "subject", q.subject, "err", err)
	}
	metrics.PresenceMessages.WithLabelValues("request").Inc()
}

func (t *Tracker) answer(id uint64, a *wireSlice) {
	q := t.reqs[id]
	if q == nil || !t.alive[a.Node] {
		return
	}
	rooms := q.want[a.Node]
	if !rooms[a.Room] {
		return
	}
	delete(rooms, a.Room)
	if len(rooms) == 0 {
		delete(q.want, a.Node)
	}
	metrics.PresenceMessages.WithLabelValues("slice_in").Inc()
	if q.api != nil {
		sl := &slice{gen: a.Gen, seq: a.Seq, n: a.N}
		if !a.Counts {
			sl.members = map[string]*member{}
			for _, w := range a.Add {
				if protocol.ValidName(w.ID) && (w.User == "" || protocol.ValidName(w.User)) {
					sl.members[w.ID] = &member{id: w.ID, user: w.User, node: a.Node, at: w.At, in: w.In, info: validInfo(w.Info)}
				}
			}
		}
		q.api.slices[a.Node] = sl
	} else if r := t.rooms[a.Room]; r != nil {
		t.install(r, a.Node, a)
	}
	if len(q.want) == 0 {
		t.finish(q, true)
	}
}

// checkRequests ends the requests that are answered or past their
// deadline; an unanswered slice is asked for again, up to maxTries times.
func (t *Tracker) checkRequests() {
	for _, q := range t.reqs {
		switch {
		case len(q.want) == 0:
			t.finish(q, true)
		case t.now >= q.deadline && q.api == nil && q.tries < maxTries:
			// Ask the silent nodes alone.
			for n, rooms := range q.want {
				names := make([]string, 0, len(rooms))
				for r := range rooms {
					names = append(names, r)
				}
				t.request(t.nodeSubject(n, "presence_slice"), []string{n}, names, false, nil).tries = q.tries + 1
			}
			q.want = nil
			delete(t.reqs, q.id)
		case t.now >= q.deadline:
			t.finish(q, false)
		}
	}
}

func (t *Tracker) finish(q *request, complete bool) {
	delete(t.reqs, q.id)
	if q.api != nil {
		s := Snapshot{Room: q.api.q.room, Enabled: true, Complete: complete && len(q.want) == 0}
		max := DefaultMaxList
		if opts, ok := t.cfg.Policy(s.Room); ok && opts.MaxList > 0 {
			max = opts.MaxList
		}
		counts := false
		for _, sl := range q.api.slices {
			s.Nodes++
			s.Connections += sl.n
			counts = counts || sl.members == nil
		}
		if counts || s.Connections > max {
			s.Count = s.Connections
		} else {
			s.Members = members(q.api.slices)
			s.Count = len(s.Members)
		}
		q.api.q.reply <- s
		return
	}
	// Slices nobody answered: give up on them for now; a diff from the
	// node (or its beacon) fetches again.
	for n, rooms := range q.want {
		for name := range rooms {
			if r := t.rooms[name]; r != nil {
				if sl := r.slices[n]; sl != nil && sl.fetching {
					sl.fetching, sl.buffered = false, nil
				}
				if r.syncing && !t.anyFetching(r) {
					t.synced(r)
				}
			}
		}
	}
}

// snapshotQuery answers the HTTP API: from the view of a watched room, or
// by asking every node.
func (t *Tracker) snapshotQuery(q *snapshotQuery) {
	if r := t.rooms[q.room]; r != nil && !r.syncing {
		q.reply <- t.snapshot(r)
		return
	}
	api := &apiQuery{q: q, slices: map[string]*slice{}}
	if r := t.rooms[q.room]; r != nil {
		api.slices[t.cfg.Node] = r.self()
	} else {
		api.slices[t.cfg.Node] = &slice{members: map[string]*member{}}
	}
	var others []string
	for _, n := range t.nodes {
		if n != t.cfg.Node {
			others = append(others, n)
		}
	}
	rq := t.request(t.sync, others, []string{q.room}, false, api)
	if len(others) == 0 {
		t.finish(rq, true)
	}
}
