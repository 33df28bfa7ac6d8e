package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// CacheSize is how many recent messages a history room's group keeps, so
// that clients reconnecting after a short cut are replayed from memory: a
// reconnect storm costs a store read per room per node, not per client.
const CacheSize = 64

// Messages of a history room's group.
type (
	deliverStored struct {
		seq, prev uint64
		frame     []byte
		exclude   uint64
		at        time.Time
	}
	histReset struct{}
	histRead  struct {
		from uint64
		r    HistoryRead
	}
)

// histState is a history room's position on this node and what is being
// recovered. The group's actor owns it.
//
// The rules (see TestHistory_Merge):
//   - last is the offset of the last message handed to the members; known
//     says last came from the store (a read) or from a chain of live
//     messages that followed one.
//   - a live message with seq <= last is a duplicate and is dropped; one
//     whose prev (the room's offset before it, from the store) is not last
//     shows a gap: the group buffers live messages, reads the store from
//     last on, hands the missing ones to the members, then the buffer.
//   - a join waits for the group to know its position (one read for every
//     join waiting at the time); a join with since is replayed the stored
//     messages after since, from the cache when it holds them, else from
//     a read; live messages that arrive meanwhile are buffered and those
//     past the replay are handed over after it, so replay then live has
//     no gap and no duplicate.
//   - a since past last (the client got a message from another node before
//     this one) is a read too, never a refusal: recovered is false only
//     when the store does not have since either.
//   - recovered is true only when the history still reaches back to since
//     in the same epoch; otherwise nothing is replayed.
type histState struct {
	known   bool
	last    uint64
	epoch   string
	syncing bool
	gapFill bool // the read in flight fills a gap for the members
	buf     []*deliverStored
	waiters []*joinReq
	cache   []*deliverStored // a chain of the room's latest messages, oldest first
}

func (h *histState) forget(m *Conn) {
	for k, j := range h.waiters {
		if j.member.seq == m.seq {
			h.waiters = append(h.waiters[:k], h.waiters[k+1:]...)
			return
		}
	}
}

// push appends d to the cache, which stays one chain of offsets.
func (h *histState) push(d *deliverStored) {
	if n := len(h.cache); n > 0 && h.cache[n-1].seq != d.prev {
		h.cache = h.cache[:0]
	}
	if len(h.cache) == CacheSize {
		copy(h.cache, h.cache[1:])
		h.cache = h.cache[:CacheSize-1]
	}
	h.cache = append(h.cache, d)
}

// fromCache returns the cached messages after since, when the cache
// reaches back to it.
func (h *histState) fromCache(since uint64) ([]*deliverStored, bool) {
	if since == h.last {
		return nil, true
	}
	for i, d := range h.cache {
		if d.seq == since {
			return h.cache[i+1:], true
		}
	}
	if len(h.cache) > 0 && h.cache[0].prev != 0 && h.cache[0].prev == since {
		return h.cache, true
	}
	return nil, false
}

// histJoin handles a join to a history room once the group is subscribed.
func (g *group) histJoin(ctx actor.Context, j *joinReq) {
	h := g.hist
	if _, ok := g.pos(j.member); ok {
		j.member.sink.Send(protocol.EncodeJoinAck(j.id, &protocol.JoinAck{Room: g.name, Epoch: h.epoch, Offset: h.last}))
		if j.done != nil {
			j.done()
		}
		return
	}
	if h.known && !h.syncing {
		s := j.since
		switch {
		case s == nil:
			g.histServe(j, nil, nil)
			return
		case s.Epoch != h.epoch:
			g.histServe(j, nil, boolp(false))
			return
		}
		// A since past last is read from the store: the client may have
		// got, from its old node, a message whose live copy is still on
		// its way here (or was lost with the stream leader that
		// republished it); the cache holds nothing past last.
		if replay, ok := h.fromCache(s.Offset); ok {
			metrics.HistoryRecoveries.WithLabelValues("cache").Inc()
			g.histServe(j, replay, boolp(true))
			return
		}
	}
	h.waiters = append(h.waiters, j)
	g.sync(ctx, false)
}

// sync reads the store for the waiting joins (or, with gap, from last on
// for the members), unless a read is already in flight.
func (g *group) sync(ctx actor.Context, gap bool) {
	h := g.hist
	if h.syncing {
		return
	}
	from := ReadLastOnly
	if gap {
		from = h.last
	}
	for _, j := range h.waiters {
		if s := j.since; s != nil && (h.epoch == "" || s.Epoch == h.epoch) && s.Offset < from {
			from = s.Offset
		}
	}
	h.syncing, h.gapFill = true, gap
	self, root, room := ctx.Self(), g.sys.root, g.name
	g.sys.opts.History.ReadAsync(room, from, func(r HistoryRead) {
		root.Send(self, &histRead{from: from, r: r})
	})
}

// synced applies a store read: the gap filled for the members, then each
// waiting join replayed and acknowledged, then the live messages that
// arrived meanwhile.
func (g *group) synced(ctx actor.Context, m *histRead) {
	h := g.hist
	r := m.r
	gap := h.gapFill
	h.syncing, h.gapFill = false, false
	if r.Err != nil {
		metrics.HistoryRecoveries.WithLabelValues("error").Inc()
		if gap {
			g.resync()
		}
		for _, j := range h.waiters {
			var rec *bool
			if j.since != nil {
				rec = boolp(false)
			}
			g.histServe(j, nil, rec)
		}
		h.waiters = nil
		g.drain(ctx)
		return
	}
	if h.epoch != "" && r.Epoch != h.epoch {
		// The stream was created anew: what the members had is gone.
		g.resync()
		h.cache = nil
		h.known = false
	}
	h.epoch = r.Epoch
	frames := make([]*deliverStored, len(r.Msgs))
	for i, s := range r.Msgs {
		frames[i] = &deliverStored{seq: s.Seq, prev: s.Prev, frame: protocol.AppendStoredMessage(nil, g.name, s.From, s.Seq, protocol.Data(s.Data))}
		if i == 0 && s.Seq != m.from {
			frames[i].prev = 0 // what came before is unknown
		}
	}
	newLast := max(r.Last, h.last)
	if n := len(frames); n > 0 {
		newLast = max(newLast, frames[n-1].seq)
	}
	if h.known {
		// The members have everything up to last: hand them what the
		// store has after it (the gap, or messages whose live copies are
		// still on their way; those are then dropped as duplicates).
		if gap && !r.Reaches {
			g.resync()
		}
		for _, d := range frames {
			if d.seq > h.last {
				g.fanout(d.frame, 0)
			}
		}
	}
	waiters := h.waiters
	h.waiters = nil
	var later []*joinReq
	for _, j := range waiters {
		s := j.since
		switch {
		case s == nil:
			g.histServeAt(j, nil, nil, newLast, r.Epoch)
		case s.Epoch != r.Epoch || s.Offset > newLast:
			g.histServeAt(j, nil, boolp(false), newLast, r.Epoch)
		case s.Offset < m.from:
			later = append(later, j) // joined during the read, from further back
		default:
			reaches := s.Offset == newLast || (s.Offset == m.from && r.Reaches)
			start := len(frames)
			for i, d := range frames {
				if d.seq == s.Offset {
					reaches, start = true, i+1
					break
				}
				if d.seq > s.Offset {
					start = i
					break
				}
			}
			if !reaches || len(frames)-start > g.sys.opts.MaxReplay {
				metrics.HistoryRecoveries.WithLabelValues("trimmed").Inc()
				g.histServeAt(j, nil, boolp(false), newLast, r.Epoch)
				continue
			}
			metrics.HistoryRecoveries.WithLabelValues("store").Inc()
			g.histServeAt(j, frames[start:], boolp(true), newLast, r.Epoch)
		}
	}
	// The cache becomes the tail of what was read, when it continues the
	// cache or the cache is empty.
	for _, d := range frames {
		if d.seq > h.last || !h.known {
			h.push(d)
		}
	}
	h.last, h.known = newLast, true
	h.waiters = later
	g.drain(ctx)
	if len(h.waiters) > 0 {
		g.sync(ctx, false)
	}
}

// drain hands over the live messages buffered during a read.
func (g *group) drain(ctx actor.Context) {
	h := g.hist
	buf := h.buf
	h.buf = nil
	for _, d := range buf {
		g.live(ctx, d)
	}
}

// live handles a stored message as it is republished by the store.
func (g *group) live(ctx actor.Context, d *deliverStored) {
	h := g.hist
	switch {
	case h.syncing:
		h.buf = append(h.buf, d)
		return
	case !h.known:
		if len(g.members) == 0 {
			// No member yet: the first join reads the room's position.
			return
		}
		// Members joined while the store could not be read (they were
		// told recovered:false): they follow the room from this message.
		h.known = true
	case d.seq <= h.last:
		metrics.HistoryDuplicates.Inc()
		return
	case d.prev > h.last:
		// The republish of a message between last and this one was lost
		// (a stream leader change): fill the gap from the store.
		metrics.HistoryGaps.Inc()
		h.buf = append(h.buf, d)
		g.sync(ctx, true)
		return
	}
	g.fanout(d.frame, d.exclude)
	if !d.at.IsZero() {
		metrics.FanoutSeconds.Observe(time.Since(d.at).Seconds())
	}
	h.last = d.seq
	h.push(d)
}

// resync tells the members a part of the room's history is lost to them.
func (g *group) resync() {
	metrics.HistoryResyncs.Inc()
	g.fanout(protocol.EncodeResync(g.name), 0)
}

func (g *group) histServe(j *joinReq, replay []*deliverStored, recovered *bool) {
	g.histServeAt(j, replay, recovered, g.hist.last, g.hist.epoch)
}

// histServeAt replays, acknowledges with the room's position and makes the
// connection a member, in that order, straight to its socket.
func (g *group) histServeAt(j *joinReq, replay []*deliverStored, recovered *bool, last uint64, epoch string) {
	if j.frame != nil {
		j.member.sink.Send(j.frame) // a server-side join's joined frame
	}
	for _, d := range replay {
		j.member.sink.Send(d.frame)
	}
	j.member.sink.Send(protocol.EncodeJoinAck(j.id, &protocol.JoinAck{Room: g.name, Epoch: epoch, Offset: last, Recovered: recovered}))
	g.add(j.member)
	if j.done != nil {
		j.done()
	}
}

func boolp(b bool) *bool { return &b }
