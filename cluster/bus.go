package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// Headers the hub sets on the messages it routes for clients.
const (
	HeaderFrom    = "Hub-From"    // the sending connection's user
	HeaderExclude = "Hub-Exclude" // the sending connection's id: it does not get its own room message
	HeaderReset   = "Hub-Reset"   // on a history room's live subject: its history was deleted
)

// Deliverer is the local side of routing: the actor system.
type Deliverer interface {
	DeliverRoom(room string, frame []byte, exclude string)
	DeliverUser(user string, frame []byte, exclude string)
	DeliverAll(frame []byte)
	DeliverStored(room string, seq, prev uint64, from, exclude string, data []byte)
	ResetStored(room string)
	DeliverConn(id string, frame []byte) bool
	Reply(id string, r protocol.Reply) bool
}

// BusOptions configure a Bus.
type BusOptions struct {
	Conn   *nats.Conn // connected by the caller
	Prefix string     // subject prefix, "hub"
	Node   string     // this node's name, a subject token
	Logger *slog.Logger
	// Barrier, when set, runs after a batch of new subscriptions is
	// confirmed by the local server and before the joins waiting on it are
	// acknowledged. The node uses it to make sure the interest has reached
	// the other servers of a NATS cluster (see node.interestBarrier).
	Barrier func()
	// Stored, when set, reports the rooms that keep history: for those the
	// bus subscribes to the stored copies JetStream republishes
	// (<prefix>.hist.<prefix>.room.<room>) instead of the room subject, so
	// members get what was stored, in stored order.
	Stored func(room string) bool
	// QueueLen bounds the messages received and not yet dispatched; past it
	// NATS drops messages for this node (counted in hub_nats_dropped_total).
	QueueLen int
	// Interest, when set, counts the subscriptions that match a subject
	// anywhere in the NATS cluster (the embedded server's account: its own
	// clients' and, through routes, the other servers'). Route then does
	// not publish a client's message that no one but this node would get.
	Interest func(subject string) int
}

// Bus routes through NATS. It subscribes to a room or user subject only
// while the node has a local member of it, and to the broadcast, its own
// connections' and its replies' subjects for its whole life. All
// subscriptions feed one channel drained by one goroutine, so the goroutine
// count does not grow with rooms and messages to one subject stay in order.
type Bus struct {
	nc      *nats.Conn
	prefix  string
	dot     string // prefix + "."
	node    string
	log     *slog.Logger
	d       Deliverer
	msgs    chan *nats.Msg
	barrier func()
	stored  func(room string) bool
	histDot string // prefix + ".hist." + prefix + ".room."
	nodeDot string // node + ".": the start of this node's connection ids

	// Route's interest check: interest counts a subject's subscriptions;
	// live holds the subjects whose subscription the server has confirmed
	// (and not yet been asked to end), i.e. the count's own share.
	interest  func(subject string) int
	live      sync.Map    // subject → uint64, the connection's reconnect count when confirmed
	reconfirm atomic.Bool // a reconnect made live stale: confirm every subscription again

	mu      sync.Mutex
	queue   []interest
	wake    chan struct{}
	subs    map[string]*nats.Subscription // subject → subscription, owned by the interest loop
	fixed   []*nats.Subscription
	stop    chan struct{}
	done    sync.WaitGroup
	stopped bool
}

type interest struct {
	subject string
	on      bool
	done    func()
}

// NewBus subscribes the node's fixed subjects and starts dispatching to d.
func NewBus(o BusOptions, d Deliverer) (*Bus, error) {
	if o.QueueLen <= 0 {
		o.QueueLen = 1 << 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Bus{
		nc: o.Conn, prefix: o.Prefix, dot: o.Prefix + ".", node: o.Node, log: o.Logger, d: d, barrier: o.Barrier,
		stored: o.Stored, histDot: o.Prefix + ".hist." + o.Prefix + ".room.", nodeDot: o.Node + ".",
		interest: o.Interest,
		msgs:     make(chan *nats.Msg, o.QueueLen),
		wake:     make(chan struct{}, 1), subs: map[string]*nats.Subscription{},
		stop: make(chan struct{}),
	}
	for _, subj := range []string{
		b.prefix + ".broadcast",
		b.prefix + ".conn." + b.node + ".*",
		b.prefix + ".reply." + b.node + ".*",
	} {
		sub, err := b.nc.ChanSubscribe(subj, b.msgs)
		if err != nil {
			b.unsubscribeAll()
			return nil, fmt.Errorf("subscribe %s: %w", subj, err)
		}
		b.fixed = append(b.fixed, sub)
	}
	// While NATS is unreachable the subscriptions wait in the client and
	// are sent when it connects.
	if !b.nc.IsConnected() {
		// nothing to confirm yet
	} else if err := b.nc.FlushTimeout(10 * time.Second); err != nil {
		b.unsubscribeAll()
		return nil, fmt.Errorf("nats: %w", err)
	}
	metrics.NATSSubscriptions.Add(float64(len(b.fixed)))
	b.done.Add(2)
	go b.dispatch()
	go b.interestLoop()
	return b, nil
}

// Subject returns prefix + "." + rest.
func (b *Bus) Subject(rest string) string { return b.prefix + "." + rest }

// Conn is the NATS connection the bus uses.
func (b *Bus) Conn() *nats.Conn { return b.nc }

func (b *Bus) subject(kind actors.Kind, name string) string {
	if kind == actors.KindUser {
		return b.prefix + ".user." + name
	}
	if b.stored != nil && b.stored(name) {
		return b.histDot + name
	}
	return b.prefix + ".room." + name
}

// Interest implements actors.Bus.
func (b *Bus) Interest(kind actors.Kind, name string, on bool, done func()) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		if done != nil {
			done()
		}
		return
	}
	b.queue = append(b.queue, interest{subject: b.subject(kind, name), on: on, done: done})
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// interestLoop applies subscription changes in order, in batches: one
// round trip to the server confirms a whole batch.
func (b *Bus) interestLoop() {
	defer b.done.Done()
	for {
		select {
		case <-b.stop:
			return
		case <-b.wake:
		}
		b.mu.Lock()
		batch := b.queue
		b.queue = nil
		b.mu.Unlock()
		again := b.reconfirm.Swap(false)
		if len(batch) == 0 && !again {
			continue
		}
		epoch := b.epoch()
		for _, in := range batch {
			sub, have := b.subs[in.subject]
			switch {
			case in.on && !have:
				s, err := b.nc.ChanSubscribe(in.subject, b.msgs)
				if err != nil {
					b.log.Error("subscribe failed", "subject", in.subject, "err", err)
					continue
				}
				b.subs[in.subject] = s
				metrics.NATSSubscriptions.Inc()
			case !in.on && have:
				b.live.Delete(in.subject)
				if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
					b.log.Warn("unsubscribe failed", "subject", in.subject, "err", err)
				}
				delete(b.subs, in.subject)
				metrics.NATSSubscriptions.Dec()
			}
		}
		added := false
		for _, in := range batch {
			added = added || in.on
		}
		if !b.nc.IsConnected() {
			b.log.Warn("nats is down; subscription changes apply once it is back")
		} else if err := b.nc.FlushTimeout(5 * time.Second); err != nil {
			b.log.Warn("nats flush after subscription changes failed; they apply once NATS is back", "err", err)
		} else {
			b.confirm(batch, epoch, again)
			if added && b.barrier != nil {
				b.barrier()
			}
		}
		for _, in := range batch {
			if in.done != nil {
				in.done()
			}
		}
	}
}

// epoch is the connection's reconnect count: subscriptions confirmed at an
// older one may not be on the server yet.
func (b *Bus) epoch() uint64 { return b.nc.Stats().Reconnects }

// confirm records the subscriptions the server now has (a flush answered
// behind them), all of them after a reconnect, unless the connection
// reconnected meanwhile.
func (b *Bus) confirm(batch []interest, epoch uint64, all bool) {
	if b.interest == nil {
		return
	}
	if b.epoch() != epoch {
		b.reconfirm.Store(true)
		return
	}
	if all {
		for subj := range b.subs {
			b.live.Store(subj, epoch)
		}
		return
	}
	for _, in := range batch {
		if _, ok := b.subs[in.subject]; ok && in.on {
			b.live.Store(in.subject, epoch)
		}
	}
}

// othersWant reports whether a subscription other than this node's own
// matches subj, so that a client's message published there reaches someone
// this node has not delivered it to. Without the interest count, or when
// this node's own share of it is not certain, it answers true: a message
// published for no one costs a round trip, one withheld is lost.
func (b *Bus) othersWant(subj string) bool {
	if b.interest == nil {
		return true
	}
	switch n := b.interest(subj); {
	case n == 0:
		return false
	case n > 1:
		return true
	}
	e, ok := b.live.Load(subj)
	if !ok || !b.nc.IsConnected() {
		return true
	}
	if e.(uint64) != b.epoch() {
		if !b.reconfirm.Swap(true) {
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}
		return true
	}
	return false
}

// Route implements actors.Bus: the message goes to NATS only when another
// node (or a backend) subscribes to its subject; this node's members got it
// from the caller, and handle drops the copy that comes back.
func (b *Bus) Route(kind actors.Kind, name, from, exclude string, data []byte) {
	subj := b.subject(kind, name)
	if !b.othersWant(subj) {
		return
	}
	m := nats.NewMsg(subj)
	if from != "" {
		m.Header.Set(HeaderFrom, from)
	}
	if exclude != "" {
		m.Header.Set(HeaderExclude, exclude)
	}
	m.Data = data
	if err := b.nc.PublishMsg(m); err != nil {
		b.log.Warn("publish failed", "subject", m.Subject, "err", err)
	}
}

// Event implements actors.Bus.
func (b *Bus) Event(event string, payload []byte, reply string) {
	subj := b.prefix + ".events." + event
	var err error
	if reply != "" {
		err = b.nc.PublishRequest(subj, reply, payload)
	} else {
		err = b.nc.Publish(subj, payload)
	}
	if err != nil {
		b.log.Warn("event publish failed", "subject", subj, "err", err)
		return
	}
	metrics.Events.WithLabelValues(event).Inc()
}

// ReplySubject implements actors.Bus.
func (b *Bus) ReplySubject(connID string) string { return b.prefix + ".reply." + connID }

// Publish sends data to a hub subject: "broadcast", "room.<r>", "user.<u>"
// or "conn.<id>". The HTTP API and flows use it; every node that should
// deliver receives it through its own subscriptions.
func (b *Bus) Publish(rest string, data []byte) error {
	return b.nc.Publish(b.prefix+"."+rest, data)
}

func (b *Bus) dispatch() {
	defer b.done.Done()
	for {
		select {
		case <-b.stop:
			return
		case m := <-b.msgs:
			b.handle(m)
		}
	}
}

func (b *Bus) handle(m *nats.Msg) {
	if len(m.Data) == 0 && header(m, "Status") != "" {
		// A NATS status message, such as "no responders" for an event
		// published with a reply subject that nobody consumed.
		return
	}
	rest, ok := strings.CutPrefix(m.Subject, b.dot)
	if !ok {
		return
	}
	kind, name, _ := strings.Cut(rest, ".")
	switch kind {
	case "hist":
		room, ok := strings.CutPrefix(m.Subject, b.histDot)
		if ok && header(m, HeaderReset) != "" {
			b.d.ResetStored(room)
			return
		}
		seq, err := strconv.ParseUint(header(m, "Nats-Sequence"), 10, 64)
		if !ok || err != nil {
			return
		}
		prev, _ := strconv.ParseUint(header(m, "Nats-Last-Sequence"), 10, 64)
		metrics.Routed.WithLabelValues("room").Inc()
		b.d.DeliverStored(room, seq, prev, from(m), header(m, HeaderExclude), m.Data)
	case "broadcast":
		metrics.Routed.WithLabelValues("broadcast").Inc()
		b.d.DeliverAll(protocol.EncodeMessage("", from(m), protocol.Data(m.Data)))
	case "room":
		exclude := header(m, HeaderExclude)
		if b.ours(exclude) {
			return
		}
		metrics.Routed.WithLabelValues("room").Inc()
		b.d.DeliverRoom(name, protocol.EncodeMessage(name, from(m), protocol.Data(m.Data)), exclude)
	case "user":
		exclude := header(m, HeaderExclude)
		if b.ours(exclude) {
			return
		}
		metrics.Routed.WithLabelValues("user").Inc()
		b.d.DeliverUser(name, protocol.EncodeMessage("", from(m), protocol.Data(m.Data)), exclude)
	case "conn":
		metrics.Routed.WithLabelValues("connection").Inc()
		b.d.DeliverConn(name, protocol.EncodeMessage("", from(m), protocol.Data(m.Data)))
	case "reply":
		ok := b.d.Reply(name, protocol.DecodeReply(m.Data))
		if m.Reply != "" {
			// A backend that asked (nats req, a request instead of a
			// publish) is told at once rather than left to its timeout.
			ack := replyDelivered
			if !ok {
				ack = replyGone
			}
			_ = m.Respond(ack)
		}
	}
}

// ours reports whether exclude names a connection of this node: the message
// is one of its clients', which the node delivered to its members when the
// client sent it.
func (b *Bus) ours(exclude string) bool {
	rest, ok := strings.CutPrefix(exclude, b.nodeDot)
	return ok && rest != "" && !strings.Contains(rest, ".")
}

// The answers to a reply sent as a request.
var (
	replyDelivered = []byte(`{"status":"delivered"}`)
	replyGone      = []byte(`{"error":"connection gone"}`)
)

func header(m *nats.Msg, key string) string {
	if m.Header == nil {
		return ""
	}
	return m.Header.Get(key)
}

// from returns the sender's user from the header, if it is a valid name.
func from(m *nats.Msg) string {
	f := header(m, HeaderFrom)
	if f != "" && !protocol.ValidName(f) {
		return ""
	}
	return f
}

// Close unsubscribes everything and stops the bus's goroutines; it does not
// close the NATS connection.
func (b *Bus) Close() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	pending := b.queue
	b.queue = nil
	b.mu.Unlock()
	close(b.stop)
	b.done.Wait()
	for _, in := range pending {
		if in.done != nil {
			in.done()
		}
	}
	b.unsubscribeAll()
}

func (b *Bus) unsubscribeAll() {
	for _, s := range b.fixed {
		_ = s.Unsubscribe()
	}
	for subj, s := range b.subs {
		_ = s.Unsubscribe()
		delete(b.subs, subj)
	}
	b.fixed = nil
}
