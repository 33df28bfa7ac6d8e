package actors

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

type (
	joinReq struct {
		name   string
		member *Conn
		id     []byte // client frame id to acknowledge; nil for none
		notify bool   // tell the connection with userJoined once routable
		frame  []byte // sent to the member once routable (a joined frame); nil for none
		done   func() // called once routable; nil for none
		since  *protocol.Since
	}
	leaveReq struct {
		name   string
		member *Conn
		id     []byte
		ack    bool
		frame  []byte // sent to the member once it is out (a left frame); nil for none
		done   func() // called once it is out; nil for none
	}
	countReq   struct{ name string }
	membersReq struct{}
	listReq    struct {
		prefix, after string
		limit         int
		byMembers     bool
	}
	ready struct{}
)

// RoomCount is a room and its number of members.
type RoomCount struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
}

// registry keeps the groups of one kind: it spawns a group actor on the
// first join, stops it after the last leave, and tells the bus when the
// node's interest in the name starts and ends. All membership changes go
// through its manager actor, which makes spawn and stop race-free;
// deliveries look the group up in a concurrent map and go straight to it.
type registry struct {
	sys    *System
	kind   Kind
	pid    *actor.PID
	groups sync.Map // name → *groupRef
	n      atomic.Int64
}

func newRegistry(s *System, kind Kind) *registry {
	r := &registry{sys: s, kind: kind}
	r.pid = s.root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &manager{r: r, entries: map[string]*entry{}}
	}, actor.WithDispatcher(s.gdisp)))
	return r
}

func (r *registry) join(name string, m *Conn, id []byte, notify bool) {
	r.sys.root.Send(r.pid, &joinReq{name: name, member: m, id: id, notify: notify})
}

func (r *registry) joinSince(name string, m *Conn, id []byte, since *protocol.Since) {
	r.sys.root.Send(r.pid, &joinReq{name: name, member: m, id: id, since: since})
}

func (r *registry) leave(name string, m *Conn, id []byte) {
	r.sys.root.Send(r.pid, &leaveReq{name: name, member: m, id: id, ack: id != nil})
}

// send hands a joinReq or leaveReq to the registry.
func (r *registry) send(msg any) { r.sys.root.Send(r.pid, msg) }

func (r *registry) deliver(name string, frame []byte, exclude uint64) {
	if g, ok := r.groups.Load(name); ok {
		r.sys.root.Send(g.(*groupRef).pid, &deliver{frame: frame, exclude: exclude, at: time.Now()})
	}
}

// groupRef is a running group as deliveries find it.
type groupRef struct {
	pid  *actor.PID
	name string // the group's name, kept once for every member (canonical)
}

// canonical returns the name of the running group called name, so that
// members keep one copy of it instead of one each; name itself when there
// is no such group.
func (r *registry) canonical(name string) string {
	if g, ok := r.groups.Load(name); ok {
		return g.(*groupRef).name
	}
	return name
}

func (r *registry) count(name string) int {
	res, err := r.sys.root.RequestFuture(r.pid, countReq{name}, 5*time.Second).Result()
	if err != nil {
		return 0
	}
	return res.(int)
}

// members lists the local members of name, those whose join is still
// pending included.
func (r *registry) members(name string) []*Conn {
	g, ok := r.groups.Load(name)
	if !ok {
		return nil
	}
	res, err := r.sys.root.RequestFuture(g.(*groupRef).pid, membersReq{}, 5*time.Second).Result()
	if err != nil {
		return nil
	}
	m, _ := res.([]*Conn)
	return m
}

// list returns up to limit groups with a name starting with prefix: those
// after the name after in name order, or, with byMembers, the largest.
func (r *registry) list(prefix, after string, limit int, byMembers bool) []RoomCount {
	res, err := r.sys.root.RequestFuture(r.pid, listReq{prefix: prefix, after: after, limit: limit, byMembers: byMembers}, 5*time.Second).Result()
	if err != nil {
		return nil
	}
	l, _ := res.([]RoomCount)
	return l
}

func (r *registry) size() int { return int(r.n.Load()) }

func (r *registry) gauge(delta float64) {
	if r.kind == KindUser {
		metrics.Users.Add(delta)
	} else {
		metrics.Rooms.Add(delta)
	}
}

type entry struct {
	pid     *actor.PID
	ref     *groupRef
	members int
}

type manager struct {
	r       *registry
	entries map[string]*entry
}

func (m *manager) Receive(ctx actor.Context) {
	r := m.r
	switch msg := ctx.Message().(type) {
	case *joinReq:
		e := m.entries[msg.name]
		if e == nil {
			name := msg.name
			pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
				g := newGroup(r.sys, r.kind, name, false)
				if h := r.sys.opts.History; h != nil && r.kind == KindRoom && h.Has(name) {
					g.hist = &histState{}
				}
				return g
			}, actor.WithDispatcher(r.sys.gdisp)))
			e = &entry{pid: pid, ref: &groupRef{pid: pid, name: name}}
			m.entries[name] = e
			r.groups.Store(name, e.ref)
			r.n.Add(1)
			r.gauge(1)
			root := r.sys.root
			r.sys.opts.Bus.Interest(r.kind, name, true, func() { root.Send(pid, ready{}) })
		}
		e.members++
		ctx.Send(e.pid, msg)
	case *leaveReq:
		e := m.entries[msg.name]
		if e == nil {
			msg.finish()
			return
		}
		e.members--
		ctx.Send(e.pid, msg)
		if e.members <= 0 {
			delete(m.entries, msg.name)
			r.groups.CompareAndDelete(msg.name, e.ref)
			r.n.Add(-1)
			r.gauge(-1)
			ctx.Poison(e.pid)
			r.sys.opts.Bus.Interest(r.kind, msg.name, false, nil)
		}
	case countReq:
		n := 0
		if e := m.entries[msg.name]; e != nil {
			n = e.members
		}
		ctx.Respond(n)
	case listReq:
		ctx.Respond(m.list(msg))
	}
}

func (m *manager) list(q listReq) []RoomCount {
	out := []RoomCount{}
	for name, e := range m.entries {
		if strings.HasPrefix(name, q.prefix) && (q.byMembers || name > q.after) {
			out = append(out, RoomCount{Room: name, Members: e.members})
		}
	}
	if q.byMembers {
		slices.SortFunc(out, func(a, b RoomCount) int {
			if a.Members != b.Members {
				return cmp.Compare(b.Members, a.Members)
			}
			return strings.Compare(a.Room, b.Room)
		})
	} else {
		slices.SortFunc(out, func(a, b RoomCount) int { return strings.Compare(a.Room, b.Room) })
	}
	if q.limit > 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

// group is the actor of one room or user (or, with all set, of every local
// connection). It holds the local members and hands each delivery's
// pre-encoded frame to each member's sink with a direct call.
type group struct {
	sys     *System
	kind    Kind
	name    string
	ready   bool
	all     bool
	members []*Conn
	// index is each member's seq → its position in members. The broadcast
	// group, of which every connection is a member, keeps the position in
	// the member itself (Conn.allSlot) instead, which saves a map entry
	// per connection.
	index   map[uint64]int
	pending []*joinReq // joins to acknowledge once the bus has the interest
	hist    *histState // a history room's position and recovery; nil for other groups
}

func newGroup(s *System, kind Kind, name string, all bool) *group {
	g := &group{sys: s, kind: kind, name: name, ready: all, all: all}
	if !all {
		g.index = map[uint64]int{}
	}
	return g
}

// pos returns m's position in members; false when it is not a member.
func (g *group) pos(m *Conn) (int, bool) {
	if g.all {
		return int(m.allSlot) - 1, m.allSlot > 0
	}
	i, ok := g.index[m.seq]
	return i, ok
}

func (g *group) setPos(m *Conn, i int) {
	if g.all {
		m.allSlot = int32(i + 1)
	} else {
		g.index[m.seq] = i
	}
}

func (g *group) deletePos(m *Conn) {
	if g.all {
		m.allSlot = 0
	} else {
		delete(g.index, m.seq)
	}
}

func (g *group) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *deliver:
		g.fanout(msg.frame, msg.exclude)
		if !msg.at.IsZero() {
			metrics.FanoutSeconds.Observe(time.Since(msg.at).Seconds())
		}
	case membersReq:
		out := slices.Clone(g.members)
		for _, j := range g.pending {
			out = append(out, j.member)
		}
		ctx.Respond(out)
	case *deliverStored:
		if g.hist != nil && g.ready {
			g.live(ctx, msg)
		}
	case *histRead:
		g.synced(ctx, msg)
	case histReset:
		if g.hist != nil {
			g.hist.cache = nil
		}
	case *joinReq:
		if g.hist != nil && g.ready {
			g.histJoin(ctx, msg)
			return
		}
		if !g.ready {
			// Members join once the subscription is live, with their ack:
			// a client never gets a room message before its join's ack.
			g.pending = append(g.pending, msg)
			return
		}
		g.add(msg.member)
		g.acknowledge(msg)
	case ready:
		g.ready = true
		if g.hist != nil {
			for _, j := range g.pending {
				g.histJoin(ctx, j)
			}
			g.pending = nil
			return
		}
		for _, j := range g.pending {
			g.add(j.member)
			g.acknowledge(j)
		}
		g.pending = nil
	case *leaveReq:
		for k, j := range g.pending {
			if j.member.seq == msg.member.seq {
				g.pending = append(g.pending[:k], g.pending[k+1:]...)
				break
			}
		}
		if g.hist != nil {
			g.hist.forget(msg.member)
		}
		if i, ok := g.pos(msg.member); ok {
			last := len(g.members) - 1
			g.members[i] = g.members[last]
			g.setPos(g.members[i], i)
			g.members[last] = nil
			g.members = g.members[:last]
			g.deletePos(msg.member)
		}
		// After the ack or the left frame, no message of the room follows.
		msg.finish()
	}
}

// fanout hands frame to every member but exclude (a connection's seq; 0
// for none), counting what was queued and what was dropped.
func (g *group) fanout(frame []byte, exclude uint64) {
	var sent, dropped int
	for _, m := range g.members {
		if m.seq == exclude {
			continue
		}
		if m.sink.Send(frame) {
			sent++
		} else {
			dropped++
		}
	}
	metrics.Deliveries.Add(float64(sent))
	if dropped > 0 {
		metrics.DeliveriesDropped.Add(float64(dropped))
	}
}

func (l *leaveReq) finish() {
	if l.ack {
		l.member.sink.Send(protocol.EncodeAck(l.id))
	}
	if l.frame != nil {
		l.member.sink.Send(l.frame)
	}
	if l.done != nil {
		l.done()
	}
}

func (g *group) add(m *Conn) {
	if _, ok := g.pos(m); !ok {
		g.setPos(m, len(g.members))
		g.members = append(g.members, m)
	}
}

func (g *group) acknowledge(j *joinReq) {
	if j.frame != nil {
		j.member.sink.Send(j.frame)
	}
	if j.done != nil {
		j.done()
	}
	switch {
	case j.notify:
		j.member.post(&userJoined{})
	case j.id != nil:
		// Straight to the socket, like the room's deliveries: the client
		// sees the ack before any message of the room.
		j.member.sink.Send(protocol.EncodeAck(j.id))
	}
}
