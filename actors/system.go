package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/protocol"
)

// Sink is one client connection's outbound side, as the transport offers it.
// Send queues a pre-encoded frame and must not block; the same payload is
// handed to many sinks and must not be modified. Close ends the connection;
// the transport then reports the end through Conn.Closed.
type Sink interface {
	Send(payload []byte) bool
	Close(code uint16, reason string)
}

// Kind says what a group routes to.
type Kind uint8

// Group kinds.
const (
	KindRoom Kind = iota
	KindUser
)

func (k Kind) String() string {
	if k == KindUser {
		return "user"
	}
	return "room"
}

// Bus is what the actors need from the routing layer.
type Bus interface {
	// Interest says this node now has (on) or no longer has (!on) a local
	// member of the room or user. done, when not nil, is called once the
	// node receives what is published to it (the subscription is live).
	Interest(kind Kind, name string, on bool, done func())
	// Route publishes a client's message to a room or user for the other
	// nodes (this node's members have it already); from is the sender's
	// user ("" when anonymous), exclude the sending connection's id (it does
	// not receive its own room message, and its node, which delivered it,
	// drops the copy NATS brings back).
	Route(kind Kind, name, from, exclude string, data []byte)
	// Event publishes an event for backends; reply is the subject replies to
	// it go to ("" for none).
	Event(event string, payload []byte, reply string)
	// ReplySubject is the subject backends answer a connection's messages on.
	ReplySubject(connID string) string
}

// History is what the actors need from the store of history rooms (SPEC
// §10). Its methods must not block: the callbacks run on other goroutines.
type History interface {
	// Has reports whether room keeps history.
	Has(room string) bool
	// PublishAsync stores a client's message; done gets its offset, or an
	// error when it was not stored (and so will not be delivered).
	PublishAsync(room, from, exclude string, data []byte, done func(offset uint64, err error))
	// ReadAsync reads the room's stored messages from offset from on
	// (inclusive; ReadLastOnly for none) and the room's last offset.
	ReadAsync(room string, from uint64, done func(HistoryRead))
}

// ReadLastOnly asks History.ReadAsync for the room's position only.
const ReadLastOnly = ^uint64(0)

// HistoryRead is the answer of History.ReadAsync.
type HistoryRead struct {
	Epoch string
	Last  uint64      // the room's last offset; 0 for none
	Msgs  []StoredMsg // from the offset asked for on, in order
	// Reaches: the history still holds the message at the offset asked
	// for (for 0: nothing of the room was ever trimmed), so nothing after
	// it is missing.
	Reaches bool
	Err     error
}

// StoredMsg is one message of a room's history.
type StoredMsg struct {
	Seq, Prev     uint64
	From, Exclude string
	Data          []byte
}

// Presence is what connection actors tell the presence tracker and ask of
// it. Every method is called on a connection's actor and must not block.
type Presence interface {
	// Enabled reports whether room has presence.
	Enabled(room string) bool
	// Joined says c is now a member of room (a room with presence).
	Joined(room string, c *Conn)
	// Left says c is no longer a member of room; reason is "leave_room"
	// or the reason of the connection's end.
	Left(room string, c *Conn, reason string)
	// Query answers c's presence frame for room (c is a member) with c.Send,
	// once the answer is known; id is the frame's id (nil for none).
	Query(room string, c *Conn, id []byte)
}

// Options configure a System.
type Options struct {
	Node              string // node name, a valid subject token
	Bus               Bus
	MaxRoomsPerConn   int     // 0 = unlimited
	MessagesPerSecond float64 // per connection; 0 = unlimited
	MessageBurst      int
	ClientPublish     bool // clients may send to rooms, unless the room's namespace says otherwise
	// Namespaces holds the options of groups of rooms (client_publish,
	// anonymous); nil: every room gets the defaults above.
	Namespaces *namespace.Set
	// History stores the messages of history rooms; nil: no room has history.
	History History
	// MaxReplay is the most messages a recovering join is replayed; past it
	// the join gets recovered:false instead (a replay larger than the
	// connection's write queue would close it as a slow consumer).
	// Default 512.
	MaxReplay    int
	ClientDirect bool // clients may send to users
	Now          func() time.Time
	// Presence, when set, is told of joins and leaves of rooms that have
	// presence and answers presence frames.
	Presence Presence
	// OnEvent, when set, sees each event after it is published, with the
	// reply subject of message events (the flows from ws sources use it).
	// It runs on the connection's actor and must not block.
	OnEvent func(event string, payload []byte, reply string)
	// AuthorizeJoin, when set, is asked about a join that passed every
	// local check: it returns false when no backend decides the room (the
	// join goes on at once); true when it has asked one, and then calls
	// done exactly once, from any goroutine, with nil to let the join go on
	// or the error the client gets. request is the join request JSON (the
	// connection's event fields, "event":"join" and the room). It runs on
	// the connection's actor and must not block.
	AuthorizeJoin func(room string, request []byte, done func(*protocol.Error)) bool
	// TokenGrace is how long a connection outlives its token's expiry
	// without a refresh before it is closed with 4002; default 10s.
	TokenGrace time.Duration
	// MaxConnectionAge, when > 0, closes each connection with 4003 after
	// this long less up to a tenth at random; 0 = never.
	MaxConnectionAge time.Duration
	// Refresh verifies the token of a refresh frame; nil refuses every
	// refresh with error 206. It runs on the connection's actor and must
	// not block (a signature check is fine).
	Refresh func(token string) (*Token, error)
	// Connected, when set, is called once a connection is routable, after
	// its connect event. It runs on the connection's actor and must not
	// block.
	Connected func(c *Conn)
	// Wanted, when set, is asked before an event is encoded who has a use
	// for it: bus, someone subscribes to it (Bus.Event is called only
	// then); local, OnEvent has a use for it (it is called only then). An
	// event nobody wants is not encoded at all. Nil: both, always. It runs
	// on the connection's actor, for every event, and must be cheap.
	Wanted func(event string) (bus, local bool)
}

// Token is what a verified refresh token says.
type Token struct {
	User      string
	RoomGlobs []string  // nil: every room may be joined
	Expires   time.Time // zero: never
}

// System holds every connection, room and user actor of one node.
type System struct {
	opts  Options
	as    *actor.ActorSystem
	root  *actor.RootContext
	disp  actor.Dispatcher  // runs the connection actors
	gdisp *pooledDispatcher // runs the group and registry actors
	epoch time.Time         // opts.Now() at New; rate limits count from it

	rooms *registry
	users *registry
	all   *actor.PID // the broadcast group: every local connection

	idBase string // "<node>." prefix of local connection ids
	metas  *metaTable
	seq    atomic.Uint64
	conns  connTable
	infos  sync.Map // seq → info ([]byte) of the connections that have one
	nconns atomic.Int64
	closed sync.WaitGroup
	timers timers
}

// New starts a System.
func New(opts Options) *System {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenGrace <= 0 {
		opts.TokenGrace = 10 * time.Second
	}
	if opts.MaxReplay <= 0 {
		opts.MaxReplay = 512
	}
	if opts.MessageBurst <= 0 {
		opts.MessageBurst = int(opts.MessagesPerSecond)
		if opts.MessageBurst < 1 {
			opts.MessageBurst = 1
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	as := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleCount(0),
	)
	s := &System{
		opts: opts,
		as:   as,
		root: as.Root,
		// A connection's messages run on the goroutine that posts to an
		// idle connection (a gateway worker for its frames), yielding every
		// 300 messages: nothing a connection actor does blocks, and a
		// goroutine per run (protoactor's default dispatcher) cost ~10% of
		// the hub's CPU per accepted connection (its start and stack growth).
		disp:   actor.NewSynchronizedDispatcher(300),
		gdisp:  newPooledDispatcher(300, 16),
		epoch:  opts.Now(),
		idBase: opts.Node + ".",
		metas:  newMetaTable(),
	}
	// Connection ids start from the boot time so ids stay unique in the
	// cluster across restarts of a node with the same name.
	s.seq.Store(uint64(s.epoch.UnixMilli()) << 12)
	s.conns.init()
	s.rooms = newRegistry(s, KindRoom)
	s.users = newRegistry(s, KindUser)
	s.all = s.root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newGroup(s, KindRoom, "", true) }, actor.WithDispatcher(s.gdisp)))
	s.timers.start()
	return s
}

// connTable maps the local sequence of each open connection to its Conn:
// plain maps under a lock, a few shards so that opens and lookups on many
// cores do not all meet on one lock.
type connTable struct {
	shards [connShards]struct {
		mu sync.RWMutex
		m  map[uint64]*Conn
	}
}

const connShards = 16

func (t *connTable) init() {
	for i := range t.shards {
		t.shards[i].m = map[uint64]*Conn{}
	}
}

func (t *connTable) store(seq uint64, c *Conn) {
	sh := &t.shards[seq%connShards]
	sh.mu.Lock()
	sh.m[seq] = c
	sh.mu.Unlock()
}

func (t *connTable) load(seq uint64) (*Conn, bool) {
	sh := &t.shards[seq%connShards]
	sh.mu.RLock()
	c, ok := sh.m[seq]
	sh.mu.RUnlock()
	return c, ok
}

func (t *connTable) delete(seq uint64) {
	sh := &t.shards[seq%connShards]
	sh.mu.Lock()
	delete(sh.m, seq)
	sh.mu.Unlock()
}

// ConnID is a connection's cluster-wide id, "<node>.<seq>".
func (s *System) connID(seq uint64) string {
	return s.idBase + strconv.FormatUint(seq, 36)
}

// LocalSeq returns the local sequence of a connection id of this node.
func (s *System) LocalSeq(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, s.idBase)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 36, 64)
	return seq, err == nil
}

// NodeOf returns the node part of a connection id.
func NodeOf(id string) string {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return ""
	}
	return id[:i]
}

// OpenRequest describes a new connection: what its events say about it
// (the connection's id and node come from the System; ConnectionID and Node
// are ignored), the rooms it may join, the rooms it joins server-side at
// once and when its credentials expire.
type OpenRequest struct {
	protocol.ConnMeta
	RoomGlobs []string // NATS-style patterns (namespace.Match) of the rooms it may join; nil: every room
	// Join lists rooms the connection joins at connect, server-side (the
	// JWT join claim, a connect proxy): neither RoomGlobs nor
	// max_rooms_per_connection applies, the client gets a joined frame
	// for each, and a refresh never makes it leave them. Valid names only.
	Join []string
	// Expires is when the connection's token expires; zero: never. The
	// client is sent refresh_required ahead of it (noticeLead) and the
	// connection is closed with 4002 at Expires + TokenGrace unless a
	// refresh frame brings a later expiry.
	Expires time.Time
	// Info is what presence shows about the connection (the JWT "info"
	// claim, or what the connect proxy says): one JSON value, nil for none.
	Info []byte
}

// Open starts the actor of a new connection and publishes its connect event
// once it is routable (member of its user's group).
func (s *System) Open(sink Sink, r *OpenRequest) *Conn {
	seq := s.seq.Add(1)
	c := &Conn{
		sys:         s,
		sink:        sink,
		seq:         seq,
		user:        r.User,
		tokens:      float32(s.opts.MessageBurst),
		connectedAt: s.opts.Now().UnixNano(),
	}
	if r.RoomGlobs != nil {
		c.life = &lifetime{globs: r.RoomGlobs}
	}
	c.meta = s.metas.acquire(&r.ConnMeta)
	if r.Info != nil {
		s.infos.Store(seq, r.Info)
	}
	s.conns.store(seq, c)
	s.nconns.Add(1)
	s.closed.Add(1)
	c.postSystem(&actor.Started{})
	for _, room := range r.Join {
		c.post(&serverJoin{room: room})
	}
	if !r.Expires.IsZero() {
		c.post(&expiry{r.Expires.Unix()})
	}
	if age := s.opts.MaxConnectionAge; age > 0 {
		c.scheduleMaxAge(age)
	}
	return c
}

// NumConns is the number of open local connections.
func (s *System) NumConns() int { return int(s.nconns.Load()) }

func (s *System) lookup(id string) (*Conn, bool) {
	seq, ok := s.LocalSeq(id)
	if !ok {
		return nil, false
	}
	return s.conns.load(seq)
}

// DeliverRoom hands an encoded frame to the local members of room, except
// the connection whose id is exclude.
func (s *System) DeliverRoom(room string, frame []byte, exclude string) {
	s.rooms.deliver(room, frame, s.excludeSeq(exclude))
}

// DeliverStored hands a stored message of a history room to its local
// members, in offset order: prev is the room's offset before it (from the
// store's republish), which shows a gap the group then fills from the store.
func (s *System) DeliverStored(room string, seq, prev uint64, from, exclude string, data []byte) {
	pid, ok := s.rooms.groups.Load(room)
	if !ok {
		return
	}
	frame := protocol.AppendStoredMessage(nil, room, from, seq, protocol.Data(data))
	s.root.Send(pid.(*groupRef).pid, &deliverStored{seq: seq, prev: prev, frame: frame, exclude: s.excludeSeq(exclude), at: time.Now()})
}

// ResetStored tells a history room's group its stored history was deleted:
// its cache of recent messages is dropped.
func (s *System) ResetStored(room string) {
	if pid, ok := s.rooms.groups.Load(room); ok {
		s.root.Send(pid.(*groupRef).pid, histReset{})
	}
}

// DeliverUser hands an encoded frame to the local connections of user.
func (s *System) DeliverUser(user string, frame []byte, exclude string) {
	s.users.deliver(user, frame, s.excludeSeq(exclude))
}

// DeliverAll hands an encoded frame to every local connection.
func (s *System) DeliverAll(frame []byte) {
	s.root.Send(s.all, &deliver{frame: frame, at: time.Now()})
}

// DeliverConn hands an encoded frame to one local connection; false when
// it is not here.
func (s *System) DeliverConn(id string, frame []byte) bool {
	c, ok := s.lookup(id)
	if !ok {
		return false
	}
	c.deliver(frame)
	return true
}

// Reply delivers a backend's reply to the connection whose id is id.
func (s *System) Reply(id string, r protocol.Reply) bool {
	c, ok := s.lookup(id)
	if !ok {
		return false
	}
	c.post(&reply{r})
	return true
}

// Kick closes a local connection with 4500 "kicked".
func (s *System) Kick(id string) bool {
	return s.CloseConn(id, protocol.CloseKicked, protocol.ReasonKicked)
}

// CloseConn closes a local connection with code and reason; false when it
// is not here.
func (s *System) CloseConn(id string, code uint16, reason string) bool {
	c, ok := s.lookup(id)
	if !ok {
		return false
	}
	c.sink.Close(code, reason)
	return true
}

// JoinConn makes a local connection join room server-side and returns once
// the room's messages reach it (bounded by timeout). found is false when the
// connection is not here.
func (s *System) JoinConn(id, room string, timeout time.Duration) (found bool) {
	c, ok := s.lookup(id)
	if !ok {
		return false
	}
	return waitAll([]*Conn{c}, timeout, func(c *Conn, done func(bool)) any {
		return &serverJoin{room: room, done: done}
	}) > 0
}

// LeaveConn makes a local connection leave room server-side; found is
// false when it is not here. member says whether it was in the room.
func (s *System) LeaveConn(id, room string, timeout time.Duration) (found, member bool) {
	c, ok := s.lookup(id)
	if !ok {
		return false, false
	}
	return true, waitAll([]*Conn{c}, timeout, func(c *Conn, done func(bool)) any {
		return &serverLeave{room: room, reason: protocol.LeftAPI, done: done}
	}) > 0
}

// JoinUser makes every local connection of user join room server-side and
// returns how many connections the user has here, once each is in the room
// (bounded by timeout).
func (s *System) JoinUser(user, room string, timeout time.Duration) int {
	conns := s.users.members(user)
	waitAll(conns, timeout, func(c *Conn, done func(bool)) any {
		return &serverJoin{room: room, done: done}
	})
	return len(conns)
}

// LeaveUser makes every local connection of user leave room server-side and
// returns how many of them were in it.
func (s *System) LeaveUser(user, room string, timeout time.Duration) int {
	return waitAll(s.users.members(user), timeout, func(c *Conn, done func(bool)) any {
		return &serverLeave{room: room, reason: protocol.LeftAPI, done: done}
	})
}

// CloseUser closes every local connection of user with code and reason and
// returns how many it closed.
func (s *System) CloseUser(user string, code uint16, reason string) int {
	conns := s.users.members(user)
	for _, c := range conns {
		c.sink.Close(code, reason)
	}
	return len(conns)
}

// ConnRef names a connection and when it opened.
type ConnRef struct {
	ID          string `json:"id"`
	ConnectedAt int64  `json:"at"` // Unix nanoseconds
}

// UserConnections lists the local connections of user.
func (s *System) UserConnections(user string) []ConnRef {
	conns := s.users.members(user)
	out := make([]ConnRef, len(conns))
	for i, c := range conns {
		out[i] = ConnRef{ID: c.ID(), ConnectedAt: c.connectedAt}
	}
	return out
}

// waitAll posts msg(c, done) to each connection and waits until every done
// was called or timeout; it returns how many were called with true.
func waitAll(conns []*Conn, timeout time.Duration, msg func(c *Conn, done func(bool)) any) int {
	if len(conns) == 0 {
		return 0
	}
	results := make(chan bool, len(conns))
	for _, c := range conns {
		c.post(msg(c, func(ok bool) { results <- ok }))
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	n := 0
	for range conns {
		select {
		case ok := <-results:
			if ok {
				n++
			}
		case <-t.C:
			return n
		}
	}
	return n
}

// Info describes a local connection.
func (s *System) Info(id string) (ConnInfo, bool) {
	c, ok := s.lookup(id)
	if !ok {
		return ConnInfo{}, false
	}
	ch := make(chan ConnInfo, 1)
	c.post(&infoRequest{ch})
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case info, ok := <-ch:
		return info, ok
	case <-t.C:
		return ConnInfo{}, false
	}
}

// RoomMembers is the number of local members of room.
func (s *System) RoomMembers(room string) int { return s.rooms.count(room) }

// UserConns is the number of local connections of user.
func (s *System) UserConns(user string) int { return s.users.count(user) }

// Rooms lists up to limit rooms with local members whose name starts with
// prefix: those after the room after in name order, or, with byMembers,
// the largest first (after is then ignored).
func (s *System) Rooms(prefix, after string, limit int, byMembers bool) []RoomCount {
	return s.rooms.list(prefix, after, limit, byMembers)
}

// Counts returns the number of rooms and users with local members.
func (s *System) Counts() (rooms, users int) { return s.rooms.size(), s.users.size() }

func (s *System) excludeSeq(id string) uint64 {
	if id == "" {
		return 0
	}
	seq, _ := s.LocalSeq(id)
	return seq
}

// Wait blocks until every connection opened so far has ended and published
// its disconnect event, or ctx is done.
func (s *System) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.closed.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d connections still open: %w", s.NumConns(), ctx.Err())
	}
}

// wants says whether the event named name is wanted on the bus and by
// OnEvent (Options.Wanted).
func (s *System) wants(name string) (bus, local bool) {
	if s.opts.Wanted == nil {
		return true, s.opts.OnEvent != nil
	}
	bus, local = s.opts.Wanted(name)
	return bus, local && s.opts.OnEvent != nil
}

// event publishes an event to those who want it (see wants); the caller
// encodes it only when one of them does.
func (s *System) event(name string, payload []byte, reply string, bus, local bool) {
	if bus {
		s.opts.Bus.Event(name, payload, reply)
	}
	if local {
		s.opts.OnEvent(name, payload, reply)
	} else if !bus {
		metrics.EventsUnwanted.WithLabelValues(name).Inc()
	}
}

// Shutdown stops every actor.
func (s *System) Shutdown() {
	s.timers.stop()
	s.as.Shutdown()
	s.gdisp.stop()
}
