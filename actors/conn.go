package actors

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/namespace"
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
	out := make([]prometheus.Counter, protocol.TypePresence+1)
	for t := protocol.TypeJoinRoom; t <= protocol.TypePresence; t++ {
		out[t] = metrics.ClientFrames.WithLabelValues(t.String())
	}
	return out
}()

// The flood policy. Each frame refused by the rate limit (answered with
// error 202) adds one strike; strikes drain at RateLimitStrikeDrain per
// second; the refusal that brings them to RateLimitStrikes closes the
// connection with 1008 "rate_limit". So 20 refusals in a row close it, and
// so does a sustained flood however slow, as long as more than 2 of its
// frames a second are refused (200 frames/s against 50/s is closed about a
// tenth of a second after its burst allowance is spent, 60/s against 50/s
// after about 2.5 s), while a client that overshoots now and then (fewer
// than 20 refusals within 10 s) is only told.
const (
	RateLimitStrikes     = 20
	RateLimitStrikeDrain = 2 // strikes forgiven per second
)

// Conn is the actor of one client connection. It owns the connection's
// state (user, rooms, rate limit) and is the only writer of it; the
// transport hands it decoded frames with Frame and the end with Closed.
//
// A Conn is not spawned: it embeds its mailbox (a queue), is its own
// actor.MessageInvoker and runs on the System's dispatcher, one message at
// a time, system messages first (see doc.go). Messages reach it with post.
type Conn struct {
	queue
	sink        Sink
	sys         *System
	seq         uint64 // the id is connID(seq), made when asked for
	user        string
	rooms       []string
	life        *lifetime     // rooms it may join, token expiry, server-side rooms; nil: any room, no expiry, none
	meta        string        // the event fields after the node, as references into sys.metas (meta.go)
	connectedAt int64         // unix nanoseconds, when it was accepted; set before the Conn is shared, never changed
	last        time.Duration // when the rate limit last counted a frame, since sys.epoch
	tokens      float32       // the rate limit's bucket, up to MessageBurst
	strikes     float32       // refusals not yet forgiven (the flood policy), below RateLimitStrikes
	allSlot     int32         // position+1 in the broadcast group's members, 0 outside; that group's actor owns it
	counted     bool          // last is set
	cut         bool          // closed by the hub; frames still in flight are ignored
	ended       bool
	announced   bool // its connect event went out (or nobody wanted it)
}

// lifetime is the state only some connections have: a rooms claim, a
// token that expires, rooms the server made the connection join. It hangs
// off a pointer so the connections without any pay one word.
type lifetime struct {
	globs  []string // NATS-style patterns (namespace.Match) of the rooms it may join; nil: every room
	exp    int64    // the token's expiry, Unix seconds; 0 = none
	server []string // rooms joined server-side (join claim, connect proxy, server API), a subset of rooms
}

// Messages of a connection actor.
type (
	closed      struct{ reason string }
	reply       struct{ r protocol.Reply }
	infoRequest struct{ reply chan ConnInfo } // closed unanswered once the connection has ended
	joinDecided struct {                      // a backend's answer to a join (Options.AuthorizeJoin)
		f   *protocol.Frame
		err *protocol.Error
	}
	userJoined struct{}
	// serverJoin makes the connection join room server-side; done, when
	// set, learns whether the connection was in the room by then (it is
	// called once the room's subscription is live, or at once when the
	// connection is gone).
	serverJoin struct {
		room string
		done func(bool)
	}
	// expiry sets the token expiry (Unix seconds) of a new connection.
	expiry struct{ exp int64 }
	// serverLeave makes the connection leave room server-side; done, when
	// set, learns whether it was a member.
	serverLeave struct {
		room   string
		reason string
		done   func(bool)
	}
	published struct {
		id     []byte
		offset uint64
		err    error
	}
	deliver struct {
		frame   []byte
		exclude uint64
		at      time.Time // when the message reached the node
	}
)

// ID is the connection's cluster-wide id.
func (c *Conn) ID() string { return c.sys.connID(c.seq) }

// User is the connection's user, "" when anonymous.
func (c *Conn) User() string { return c.user }

// Send queues an encoded frame to the connection without blocking; false
// when it was dropped (the connection is closing or too slow).
func (c *Conn) Send(frame []byte) bool { return c.sink.Send(frame) }

// AppendEvent appends the event named event about this connection (the
// fields of SPEC §4 and x's), timed now. Only the connection's own actor
// may call it (Presence's methods run there), and only until the
// connection has ended.
func (c *Conn) AppendEvent(dst []byte, event string, x *protocol.EventExtra) []byte {
	return c.appendEvent(dst, event, x)
}

// Info is the connection's presence info (raw JSON), nil when it has none.
// Connections without info pay nothing for the field: the few that have
// one keep it in the System's side table.
func (c *Conn) Info() []byte {
	if v, ok := c.sys.infos.Load(c.seq); ok {
		return v.([]byte)
	}
	return nil
}

// Frame hands the actor a decoded client frame.
func (c *Conn) Frame(f *protocol.Frame) { c.post(f) }

// Closed tells the actor the connection has ended and why.
func (c *Conn) Closed(reason string) { c.post(&closed{reason}) }

// post queues a user message for the actor.
func (c *Conn) post(msg any) {
	if c.push(msg, false) {
		c.sys.disp.Schedule(c.process)
	}
}

// postSystem queues a system message, which runs before any user message.
func (c *Conn) postSystem(msg any) {
	if c.push(msg, true) {
		c.sys.disp.Schedule(c.process)
	}
}

func (c *Conn) process() { c.run(c, c.sys.disp.Throughput()) }

func (c *Conn) deliver(frame []byte) {
	if c.sink.Send(frame) {
		metrics.Deliveries.Inc()
	} else {
		metrics.DeliveriesDropped.Inc()
	}
}

var _ actor.MessageInvoker = (*Conn)(nil)

// InvokeSystemMessage implements actor.MessageInvoker: Started, posted by
// Open, makes the connection a member of the broadcast group and of its
// user's group.
func (c *Conn) InvokeSystemMessage(msg any) {
	if _, ok := msg.(*actor.Started); !ok {
		return
	}
	s := c.sys
	s.root.Send(s.all, &joinReq{member: c})
	if c.user != "" {
		s.users.join(c.user, c, nil, true)
	} else {
		c.connected()
	}
}

// InvokeUserMessage implements actor.MessageInvoker. Once the connection
// has ended, what is still posted to it is dropped, and an info request is
// told the connection is gone.
func (c *Conn) InvokeUserMessage(msg any) {
	if c.ended {
		switch m := msg.(type) {
		case *infoRequest:
			close(m.reply)
		case *serverJoin:
			m.finish(false)
		case *serverLeave:
			m.finish(false)
		}
		return
	}
	switch m := msg.(type) {
	case *protocol.Frame:
		if !c.cut {
			c.handle(m)
		}
	case *userJoined:
		c.connected()
	case *published:
		c.stored(m)
	case *reply:
		metrics.Replies.Inc()
		if m.r.Body != nil {
			c.deliver(protocol.EncodeMessage("", "", m.r.Body))
		}
		if m.r.End {
			c.close(1000, "reply_end")
		}
	case *infoRequest:
		rooms := slices.Clone(c.rooms)
		if rooms == nil {
			rooms = []string{}
		}
		m.reply <- ConnInfo{
			ID: c.ID(), User: c.user, Rooms: rooms, Node: c.sys.opts.Node, Peer: c.sys.metas.peer(c.meta),
			ConnectedAt: time.Unix(0, c.connectedAt),
		}
	case *joinDecided:
		if m.err != nil {
			c.fail(m.f.ID, m.err)
			return
		}
		c.join(m.f, false)
	case *serverJoin:
		c.joinServer(m)
	case *serverLeave:
		c.leaveServer(m)
	case *fired:
		c.onTimer(m)
	case *expiry:
		c.expireAt(m.exp)
	case *closed:
		c.end(m.reason)
	}
}

func (m *serverJoin) finish(ok bool) {
	if m.done != nil {
		m.done(ok)
	}
}

func (m *serverLeave) finish(ok bool) {
	if m.done != nil {
		m.done(ok)
	}
}

// close closes the connection; frames still in flight are then ignored.
func (c *Conn) close(code uint16, reason string) {
	c.sink.Close(code, reason)
	c.cut = true
}

// isServerRoom reports whether room was joined server-side.
func (c *Conn) isServerRoom(room string) bool {
	return c.life != nil && slices.Contains(c.life.server, room)
}

// joinServer joins a room on the server's behalf: the room's rooms claim and
// max_rooms_per_connection do not apply (the backend is trusted), and the
// client is told with {"type":"joined","room":...,"by":"server"} once the
// room's messages reach it.
func (c *Conn) joinServer(m *serverJoin) {
	if c.cut {
		m.finish(false)
		return
	}
	if c.life == nil {
		c.life = &lifetime{}
	}
	if !slices.Contains(c.life.server, m.room) {
		c.life.server = append(c.life.server, m.room)
	}
	if slices.Contains(c.rooms, m.room) {
		m.finish(true)
		return
	}
	c.rooms = append(c.rooms, c.sys.rooms.canonical(m.room))
	var done func()
	if m.done != nil {
		done = func() { m.done(true) }
	}
	c.sys.rooms.send(&joinReq{name: m.room, member: c, frame: protocol.EncodeJoined(m.room), done: done})
	c.presenceJoined(m.room)
}

// presenceJoined and presenceLeft tell presence of a room joined or left
// when the room has presence.
func (c *Conn) presenceJoined(room string) {
	if p := c.sys.opts.Presence; p != nil && p.Enabled(room) {
		p.Joined(room, c)
	}
}

func (c *Conn) presenceLeft(room, reason string) {
	if p := c.sys.opts.Presence; p != nil && p.Enabled(room) {
		p.Left(room, c, reason)
	}
}

// leaveServer leaves a room on the server's behalf and tells the client
// with {"type":"left","room":...,"by":"server","reason":...}, after which
// no message of the room reaches it.
func (c *Conn) leaveServer(m *serverLeave) {
	if !c.removeRoom(m.room) {
		m.finish(false)
		return
	}
	var done func()
	if m.done != nil {
		done = func() { m.done(true) }
	}
	c.sys.rooms.send(&leaveReq{name: m.room, member: c, frame: protocol.EncodeLeft(m.room, m.reason), done: done})
}

// removeRoom takes room out of the connection's rooms (and its server-side
// rooms); false when it was not a member.
func (c *Conn) removeRoom(room string) bool {
	i := slices.Index(c.rooms, room)
	if i < 0 {
		return false
	}
	c.rooms = slices.Delete(c.rooms, i, i+1)
	if len(c.rooms) == 0 {
		c.rooms = nil
	}
	c.presenceLeft(room, "leave_room")
	if c.life != nil {
		if j := slices.Index(c.life.server, room); j >= 0 {
			c.life.server = slices.Delete(c.life.server, j, j+1)
		}
	}
	return true
}

// noticeLead is how long before its token expires a connection is sent
// refresh_required: a tenth of the token's remaining lifetime, at most 30 s.
func noticeLead(from time.Time, exp int64) time.Duration {
	lead := time.Unix(exp, 0).Sub(from) / 10
	return min(max(lead, 0), 30*time.Second)
}

// expireAt sets the connection's token expiry (Unix seconds, 0 for none)
// and schedules its refresh_required notice.
func (c *Conn) expireAt(exp int64) {
	if exp == 0 {
		if c.life != nil {
			c.life.exp = 0
		}
		return
	}
	if c.life == nil {
		c.life = &lifetime{}
	}
	if c.life.exp == exp {
		return
	}
	c.life.exp = exp
	now := time.Now()
	c.sys.timers.add(c, time.Unix(exp, 0).Add(-noticeLead(now, exp)), timerNotice, exp)
}

func (c *Conn) onTimer(m *fired) {
	if c.cut {
		return
	}
	switch m.kind {
	case timerMaxAge:
		c.close(protocol.CloseMaxAge, protocol.ReasonMaxAge)
	case timerNotice:
		if c.life == nil || c.life.exp != m.exp {
			return // refreshed since
		}
		c.sink.Send(protocol.EncodeRefreshRequired(m.exp))
		c.sys.timers.add(c, time.Unix(m.exp, 0).Add(c.sys.opts.TokenGrace), timerExpire, m.exp)
	case timerExpire:
		if c.life != nil && c.life.exp == m.exp {
			c.close(protocol.CloseTokenExpired, protocol.ReasonTokenExpired)
		}
	}
}

// refresh takes a new token from the client: the same user, else the
// connection is closed with 4004 so the client reconnects as the token's
// user; its rooms claim applies at once (rooms the client joined that it no
// longer allows are left, with a left frame); its expiry replaces the old.
// A token that does not verify is answered with error 206 and changes
// nothing: the connection still ends at the old expiry plus the grace.
func (c *Conn) refresh(f *protocol.Frame) {
	s := c.sys
	if s.opts.Refresh == nil {
		c.fail(f.ID, protocol.ErrInvalidToken)
		return
	}
	tok, err := s.opts.Refresh(f.Token)
	if err != nil || tok == nil {
		c.fail(f.ID, protocol.ErrInvalidToken)
		return
	}
	if tok.User != c.user {
		c.close(protocol.CloseSubChanged, protocol.ReasonSubChanged)
		return
	}
	if c.life == nil {
		c.life = &lifetime{}
	}
	c.life.globs = tok.RoomGlobs
	for _, room := range slices.Clone(c.rooms) {
		if c.isServerRoom(room) || c.mayJoin(room) {
			continue
		}
		c.removeRoom(room)
		s.rooms.send(&leaveReq{name: room, member: c, frame: protocol.EncodeLeft(room, protocol.LeftToken)})
	}
	var exp int64
	if !tok.Expires.IsZero() {
		exp = tok.Expires.Unix()
	}
	c.expireAt(exp)
	c.ack(f.ID)
}

// scheduleMaxAge closes the connection after age less up to a tenth, at
// random, so connections opened together do not all close together.
func (c *Conn) scheduleMaxAge(age time.Duration) {
	jitter := time.Duration(rand.Int64N(int64(age)/10 + 1))
	c.sys.timers.add(c, time.Now().Add(age-jitter), timerMaxAge, 0)
}

// EscalateFailure implements actor.MessageInvoker: the message that
// panicked is dropped and the connection goes on with the next one, its
// state as the panic left it.
func (c *Conn) EscalateFailure(reason, msg any) {
	c.sys.as.Logger().Error("connection actor failed", "id", c.ID(), "reason", reason, "message", msg)
	if c.restart() {
		c.sys.disp.Schedule(c.process)
	}
}

func (c *Conn) connected() {
	c.announce()
	if h := c.sys.opts.Connected; h != nil && !c.cut {
		h(c)
	}
}

// announce publishes the connection's connect event, once. It is timed
// when the connection was accepted, its connected_at, set once at Open:
// the per-user limit orders a user's connections by it, the same order
// wherever it is read.
func (c *Conn) announce() {
	if c.announced {
		return
	}
	c.announced = true
	c.publishAt(protocol.EventConnect, time.Unix(0, c.connectedAt), nil, "")
}

// publish encodes the event named event about this connection, with x's
// extra fields, and publishes it, unless nobody wants it (Options.Wanted).
// replyID, when not "", is the connection's id: the event gets the
// connection's reply subject (the caller has the id at hand already).
func (c *Conn) publish(event string, x *protocol.EventExtra, replyID string) {
	c.publishAt(event, c.sys.opts.Now(), x, replyID)
}

// publishAt is publish timed at.
func (c *Conn) publishAt(event string, at time.Time, x *protocol.EventExtra, replyID string) {
	s := c.sys
	bus, local := s.wants(event)
	if !bus && !local {
		s.event(event, nil, "", false, false)
		return
	}
	reply := ""
	if replyID != "" {
		reply = s.opts.Bus.ReplySubject(replyID)
	}
	s.event(event, c.appendEventAt(nil, event, at, x), reply, bus, local)
}

// appendEvent appends the event named event about this connection, with x's
// extra fields (nil for none), timed now.
func (c *Conn) appendEvent(dst []byte, event string, x *protocol.EventExtra) []byte {
	return c.appendEventAt(dst, event, c.sys.opts.Now(), x)
}

// appendEventAt is appendEvent timed at.
func (c *Conn) appendEventAt(dst []byte, event string, at time.Time, x *protocol.EventExtra) []byte {
	s := c.sys
	dst = protocol.AppendEventHead(dst, event, at)
	// The id is made on the stack: the conversion of a short id for a
	// call that does not keep it does not allocate.
	var idb [64]byte
	id := strconv.AppendUint(append(idb[:0], s.idBase...), c.seq, 36)
	dst = protocol.AppendMetaHead(dst, string(id), c.user, s.opts.Node)
	dst = s.metas.appendMeta(dst, c.meta)
	return protocol.AppendEventTail(dst, x)
}

// ConnectedAt is when the connection was accepted, in Unix nanoseconds.
func (c *Conn) ConnectedAt() int64 { return c.connectedAt }

func (c *Conn) fail(id []byte, e *protocol.Error) {
	metrics.ClientErrors.WithLabelValues(errCode(e)).Inc()
	c.sink.Send(protocol.EncodeError(id, e))
}

func (c *Conn) allow() bool {
	rate := c.sys.opts.MessagesPerSecond
	if rate <= 0 {
		return true
	}
	// Durations since the System's epoch: Sub uses the clock's monotonic
	// reading, as comparing two times does.
	now := c.sys.opts.Now().Sub(c.sys.epoch)
	if c.counted {
		elapsed := (now - c.last).Seconds()
		c.tokens = min(c.tokens+float32(elapsed*rate), float32(c.sys.opts.MessageBurst))
		c.strikes = max(c.strikes-float32(elapsed*RateLimitStrikeDrain), 0)
	}
	c.last, c.counted = now, true
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *Conn) handle(f *protocol.Frame) {
	if int(f.Type) < len(framesByType) && framesByType[f.Type] != nil {
		framesByType[f.Type].Inc()
	}
	if !c.allow() {
		c.fail(f.ID, protocol.ErrRateLimited)
		// A client that keeps going after being told is cut off.
		if c.strikes++; c.strikes >= RateLimitStrikes {
			c.close(1008, "rate_limit")
		}
		return
	}
	s := c.sys
	switch f.Type {
	case protocol.TypeJoinRoom:
		c.join(f, true)
	case protocol.TypeLeaveRoom:
		if !c.removeRoom(f.Room) {
			c.fail(f.ID, protocol.ErrNotJoined)
			return
		}
		s.rooms.leave(f.Room, c, f.ID)
	case protocol.TypeRefresh:
		c.refresh(f)
	case protocol.TypePresence:
		p := s.opts.Presence
		if p == nil || !p.Enabled(f.Room) {
			c.fail(f.ID, protocol.ErrNoPresence)
			return
		}
		if !slices.Contains(c.rooms, f.Room) {
			c.fail(f.ID, protocol.ErrNotJoined)
			return
		}
		p.Query(f.Room, c, f.ID)
	case protocol.TypeMessage:
		id := c.ID()
		switch {
		case f.Room != "":
			if !slices.Contains(c.rooms, f.Room) {
				c.fail(f.ID, protocol.ErrNotJoined)
				return
			}
			if ns, _ := s.opts.Namespaces.Lookup(f.Room); !ns.MayPublish(s.opts.ClientPublish) {
				c.fail(f.ID, protocol.ErrPublishDisabled)
				return
			}
			if h := s.opts.History; h != nil && h.Has(f.Room) {
				// Stored before it is delivered: acknowledged (with its
				// offset) or refused once the store has answered.
				fid := f.ID
				h.PublishAsync(f.Room, c.user, id, f.Data, func(offset uint64, err error) {
					c.post(&published{id: fid, offset: offset, err: err})
				})
				s.messageEvent(c, f, id)
				return
			}
			s.route(KindRoom, f.Room, c, id, f.Data)
		case f.User != "":
			if c.user == "" {
				c.fail(f.ID, protocol.ErrUnauthenticated)
				return
			}
			if !s.opts.ClientDirect {
				c.fail(f.ID, protocol.ErrDirectDisabled)
				return
			}
			s.route(KindUser, f.User, c, id, f.Data)
		}
		s.messageEvent(c, f, id)
		c.ack(f.ID)
	}
}

// join handles a join_room frame; ask says a backend that decides the room
// is still to be asked (false once it has allowed the join).
func (c *Conn) join(f *protocol.Frame, ask bool) {
	s := c.sys
	if slices.Contains(c.rooms, f.Room) {
		c.ack(f.ID)
		return
	}
	if !c.mayJoin(f.Room) {
		c.fail(f.ID, protocol.ErrRoomForbidden)
		return
	}
	// The room's namespace may refuse anonymous members.
	if ns, ok := s.opts.Namespaces.Lookup(f.Room); ok && !ns.Anonymous && c.user == "" {
		c.fail(f.ID, protocol.ErrAnonymousForbidden)
		return
	}
	if max := s.opts.MaxRoomsPerConn; max > 0 && len(c.rooms) >= max {
		c.fail(f.ID, protocol.ErrTooManyRooms)
		return
	}
	// A backend that decides the room (a join proxy, or the namespace's
	// join_proxy) is asked here, before the room is joined.
	if az := s.opts.AuthorizeJoin; ask && az != nil {
		req := c.appendEvent(nil, protocol.EventJoin, &protocol.EventExtra{Room: f.Room})
		if az(f.Room, req, func(e *protocol.Error) { c.post(&joinDecided{f: f, err: e}) }) {
			return
		}
	}
	room := s.rooms.canonical(f.Room)
	c.rooms = append(c.rooms, room)
	s.rooms.joinSince(room, c, f.ID, f.Since)
	c.presenceJoined(room)
}

// The routed counters of client messages delivered here without NATS.
var (
	routedRoom = metrics.Routed.WithLabelValues("room")
	routedUser = metrics.Routed.WithLabelValues("user")
)

// route delivers c's message to a room or user to this node's members
// (the sender excluded) and has the bus publish it for the other nodes',
// which drops the copy that comes back. Local members get it through the
// group at once, in c's order, without the round trip through NATS.
func (s *System) route(kind Kind, name string, c *Conn, id string, data []byte) {
	if kind == KindRoom {
		s.rooms.deliver(name, protocol.EncodeMessage(name, c.user, protocol.Data(data)), c.seq)
		routedRoom.Inc()
	} else {
		s.users.deliver(name, protocol.EncodeMessage("", c.user, protocol.Data(data)), c.seq)
		routedUser.Inc()
	}
	s.opts.Bus.Route(kind, name, c.user, id, data)
}

// messageEvent publishes the message event of a client's message frame.
func (s *System) messageEvent(c *Conn, f *protocol.Frame, id string) {
	c.publish(protocol.EventMessage, &protocol.EventExtra{Message: f.Data, Room: f.Room, ToUser: f.User}, id)
}

// stored answers a client's message to a history room once the store has.
func (c *Conn) stored(m *published) {
	if m.err != nil {
		metrics.ClientErrors.WithLabelValues(errCode(protocol.ErrNotStored)).Inc()
		c.sink.Send(protocol.EncodeError(m.id, protocol.ErrNotStored))
		return
	}
	if m.id != nil {
		c.sink.Send(protocol.EncodeAckOffset(m.id, m.offset))
	}
}

func (c *Conn) ack(id []byte) {
	if id != nil {
		c.sink.Send(protocol.EncodeAck(id))
	}
}

// mayJoin applies the token's "rooms" claim: NATS-style patterns ("*" one
// token, ">" the rest; see namespace.Match).
func (c *Conn) mayJoin(room string) bool {
	if c.life == nil || c.life.globs == nil {
		return true
	}
	for _, g := range c.life.globs {
		if namespace.Match(g, room) {
			return true
		}
	}
	return false
}

func (c *Conn) end(reason string) {
	if c.ended {
		return
	}
	c.ended = true
	s := c.sys
	for _, room := range c.rooms {
		s.rooms.leave(room, c, nil)
		c.presenceLeft(room, reason)
	}
	if c.user != "" {
		s.users.leave(c.user, c, nil)
	}
	s.root.Send(s.all, &leaveReq{member: c})
	// A connection that ends before its user's subscription was live (its
	// connect event waits for that) still has its connect told first:
	// backends see every connection's connect and disconnect, in order.
	c.announce()
	c.publish(protocol.EventDisconnect, &protocol.EventExtra{Reason: reason}, "")
	s.metas.release(c.meta)
	c.meta = ""
	metrics.Disconnections.WithLabelValues(reason).Inc()
	s.conns.delete(c.seq)
	s.infos.Delete(c.seq)
	s.nconns.Add(-1)
	s.closed.Done()
}

func errCode(e *protocol.Error) string { return strconv.Itoa(e.Code) }
