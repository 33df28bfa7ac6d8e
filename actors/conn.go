package actors

import (
	"path"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// ConnInfo is what the hub tells about a connection (GET /api/connections/{id}).
type ConnInfo struct {
	ID          string    `json:"id"`
	User        string    `json:"user"`
	Rooms       []string  `json:"rooms"`
	Node        string    `json:"node"`
	Peer        string    `json:"peer"`
	ConnectedAt time.Time `json:"connected_at"`
}

// framesByType counts client frames, indexed by type; the counters are
// looked up once, not per frame.
var framesByType = func() []prometheus.Counter {
	out := make([]prometheus.Counter, protocol.TypeMessage+1)
	for t := protocol.TypeJoinRoom; t <= protocol.TypeMessage; t++ {
		out[t] = metrics.ClientFrames.WithLabelValues(t.String())
	}
	return out
}()

// RateLimitStrikes is how many frames in a row a connection may send over
// its rate limit (each answered with error 202) before it is closed with
// 1008 "rate_limit".
const RateLimitStrikes = 20

// Conn is the actor of one client connection. It owns the connection's
// state (user, rooms, rate limit) and is the only writer of it; the
// transport hands it decoded frames with Frame and the end with Closed.
type Conn struct {
	sys     *System
	pid     atomic.Pointer[actor.PID] // set by Open and on Started, whichever runs first
	sink    Sink
	seq     uint64
	info    ConnInfo
	meta    []byte // pre-encoded event fields
	globs   []string
	tokens  float64
	last    time.Time
	strikes int  // frames refused by the rate limit in a row
	cut     bool // closed by the hub; frames still in flight are ignored
	ended   bool
}

// Messages of a connection actor.
type (
	closed      struct{ reason string }
	reply       struct{ r protocol.Reply }
	infoRequest struct{}
	userJoined  struct{}
	deliver     struct {
		frame   []byte
		exclude uint64
		at      time.Time // when the message reached the node
	}
)

// ID is the connection's cluster-wide id.
func (c *Conn) ID() string { return c.info.ID }

// User is the connection's user, "" when anonymous.
func (c *Conn) User() string { return c.info.User }

// Frame hands the actor a decoded client frame.
func (c *Conn) Frame(f *protocol.Frame) { c.sys.root.Send(c.pid.Load(), f) }

// Closed tells the actor the connection has ended and why.
func (c *Conn) Closed(reason string) { c.sys.root.Send(c.pid.Load(), &closed{reason}) }

func (c *Conn) deliver(frame []byte) {
	if c.sink.Send(frame) {
		metrics.Deliveries.Inc()
	} else {
		metrics.DeliveriesDropped.Inc()
	}
}

func (c *Conn) member() member { return member{seq: c.seq, sink: c.sink, pid: c.pid.Load()} }

// Receive implements actor.Actor.
func (c *Conn) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.pid.Store(ctx.Self())
		ctx.Send(c.sys.all, &joinReq{member: c.member()})
		if c.info.User != "" {
			c.sys.users.join(c.info.User, c.member(), nil, true)
		} else {
			c.connected()
		}
	case *protocol.Frame:
		if !c.ended && !c.cut {
			c.handle(ctx, m)
		}
	case *userJoined:
		c.connected()
	case *reply:
		metrics.Replies.Inc()
		if m.r.Body != nil {
			c.deliver(protocol.EncodeMessage("", "", m.r.Body))
		}
		if m.r.End {
			c.sink.Close(1000, "reply_end")
		}
	case infoRequest:
		info := c.info
		info.Rooms = slices.Clone(c.info.Rooms)
		if info.Rooms == nil {
			info.Rooms = []string{}
		}
		ctx.Respond(info)
	case *closed:
		c.end(ctx, m.reason)
	}
}

func (c *Conn) connected() {
	ev := protocol.AppendEvent(nil, protocol.EventConnect, c.sys.opts.Now(), c.meta, nil)
	c.sys.event(protocol.EventConnect, ev, "")
}

func (c *Conn) fail(id []byte, e *protocol.Error) {
	metrics.ClientErrors.WithLabelValues(errCode(e)).Inc()
	c.sink.Send(protocol.EncodeError(id, e))
}

func (c *Conn) allow() bool {
	rate := c.sys.opts.MessagesPerSecond
	if rate <= 0 {
		return true
	}
	now := c.sys.opts.Now()
	if !c.last.IsZero() {
		c.tokens += now.Sub(c.last).Seconds() * rate
		if burst := float64(c.sys.opts.MessageBurst); c.tokens > burst {
			c.tokens = burst
		}
	}
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *Conn) handle(ctx actor.Context, f *protocol.Frame) {
	if int(f.Type) < len(framesByType) && framesByType[f.Type] != nil {
		framesByType[f.Type].Inc()
	}
	if !c.allow() {
		c.fail(f.ID, protocol.ErrRateLimited)
		// A client that keeps going after being told is cut off.
		if c.strikes++; c.strikes >= RateLimitStrikes {
			c.sink.Close(1008, "rate_limit")
			c.cut = true
		}
		return
	}
	c.strikes = 0
	s := c.sys
	switch f.Type {
	case protocol.TypeJoinRoom:
		if slices.Contains(c.info.Rooms, f.Room) {
			c.ack(f.ID)
			return
		}
		if !c.mayJoin(f.Room) {
			c.fail(f.ID, protocol.ErrRoomForbidden)
			return
		}
		if max := s.opts.MaxRoomsPerConn; max > 0 && len(c.info.Rooms) >= max {
			c.fail(f.ID, protocol.ErrTooManyRooms)
			return
		}
		c.info.Rooms = append(c.info.Rooms, f.Room)
		s.rooms.join(f.Room, c.member(), f.ID, false)
	case protocol.TypeLeaveRoom:
		i := slices.Index(c.info.Rooms, f.Room)
		if i < 0 {
			c.fail(f.ID, protocol.ErrNotJoined)
			return
		}
		c.info.Rooms = slices.Delete(c.info.Rooms, i, i+1)
		if len(c.info.Rooms) == 0 {
			c.info.Rooms = nil
		}
		s.rooms.leave(f.Room, c.member(), f.ID)
	case protocol.TypeMessage:
		switch {
		case f.Room != "":
			if !slices.Contains(c.info.Rooms, f.Room) {
				c.fail(f.ID, protocol.ErrNotJoined)
				return
			}
			if !s.opts.ClientPublish {
				c.fail(f.ID, protocol.ErrPublishDisabled)
				return
			}
			s.opts.Bus.Route(KindRoom, f.Room, c.info.User, c.info.ID, f.Data)
		case f.User != "":
			if c.info.User == "" {
				c.fail(f.ID, protocol.ErrUnauthenticated)
				return
			}
			if !s.opts.ClientDirect {
				c.fail(f.ID, protocol.ErrDirectDisabled)
				return
			}
			s.opts.Bus.Route(KindUser, f.User, c.info.User, c.info.ID, f.Data)
		}
		ev := protocol.AppendEvent(nil, protocol.EventMessage, s.opts.Now(), c.meta,
			&protocol.EventExtra{Message: f.Data, Room: f.Room, ToUser: f.User})
		s.event(protocol.EventMessage, ev, s.opts.Bus.ReplySubject(c.info.ID))
		c.ack(f.ID)
	}
}

func (c *Conn) ack(id []byte) {
	if id != nil {
		c.sink.Send(protocol.EncodeAck(id))
	}
}

func (c *Conn) mayJoin(room string) bool {
	if c.globs == nil {
		return true
	}
	for _, g := range c.globs {
		if ok, _ := path.Match(g, room); ok {
			return true
		}
	}
	return false
}

func (c *Conn) end(ctx actor.Context, reason string) {
	if c.ended {
		return
	}
	c.ended = true
	s := c.sys
	for _, room := range c.info.Rooms {
		s.rooms.leave(room, c.member(), nil)
	}
	if c.info.User != "" {
		s.users.leave(c.info.User, c.member(), nil)
	}
	ctx.Send(s.all, &leaveReq{member: c.member()})
	ev := protocol.AppendEvent(nil, protocol.EventDisconnect, s.opts.Now(), c.meta, &protocol.EventExtra{Reason: reason})
	s.event(protocol.EventDisconnect, ev, "")
	metrics.Disconnections.WithLabelValues(reason).Inc()
	s.conns.Delete(c.seq)
	s.nconns.Add(-1)
	ctx.Stop(ctx.Self())
	s.closed.Done()
}

func errCode(e *protocol.Error) string { return strconv.Itoa(e.Code) }
