package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubrt/hub/namespace"
)

// Headers of stored messages, set by the hub when it publishes (the same
// as the routing bus's) and by JetStream on the republished copies.
const (
	HeaderFrom     = "Hub-From"
	HeaderExclude  = "Hub-Exclude"
	HeaderReset    = "Hub-Reset"
	headerSeq      = "Nats-Sequence"
	headerLastSeq  = "Nats-Last-Sequence"
	headerStream   = "Nats-Stream"
	defaultTimeout = 5 * time.Second
)

// Errors.
var (
	ErrNoHistory   = errors.New("history: the room has no history")
	ErrUnavailable = errors.New("history: store unavailable")
	ErrClosed      = errors.New("history: closed")
)

// Config configures a Store.
type Config struct {
	Conn       *nats.Conn     // connected by the caller
	Prefix     string         // subject prefix, "hub"
	Namespaces *namespace.Set // the namespaces; those with History get a stream
	// Replicas is the replica count of streams whose namespace leaves
	// replicas at 0 (automatic); default 1.
	Replicas int
	// Create allows creating and updating streams; false only checks that
	// they exist (an external NATS whose streams an operator manages).
	Create bool
	// Timeout bounds each JetStream request; default 5s.
	Timeout time.Duration
	// MaxInFlight bounds publishes waiting for their acknowledgement; past
	// it a publish fails at once with ErrUnavailable. Default 4096.
	MaxInFlight int
	Logger      *slog.Logger
}

// Stored is one message of a room's history.
type Stored struct {
	Seq     uint64 // the offset
	Prev    uint64 // offset of the room's message before it; 0 for none or unknown
	From    string
	Exclude string
	Data    []byte
	Time    time.Time
}

// Read is the answer to a read of a room's history.
type Read struct {
	Epoch string
	Last  uint64   // offset of the room's last stored message when read; 0 for none
	Msgs  []Stored // in offset order
	// Reaches reports whether the history still holds the message at the
	// offset the read started from (so nothing after it was trimmed).
	Reaches bool
	// Count is the number of the room's messages in the store.
	Count int
	Err   error
}

// Store owns the JetStream streams of the history namespaces: one stream
// per namespace, holding the room subjects (<prefix>.room.<room>) of its
// patterns, republishing every stored message to <prefix>.hist.<subject>
// for live delivery. It is safe for concurrent use.
type Store struct {
	cfg    Config
	js     jetstream.JetStream
	log    *slog.Logger
	inflt  chan struct{}
	closed atomic.Bool
	wg     sync.WaitGroup

	mu      sync.RWMutex
	streams map[string]*nsStream // namespace name → stream
}

type nsStream struct {
	ns     *namespace.Namespace
	name   string
	stream jetstream.Stream
	epoch  string
}

// New prepares a Store; Start creates or checks the streams.
func New(cfg Config) (*Store, error) {
	if cfg.Conn == nil {
		return nil, errors.New("history: no NATS connection")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return &Store{cfg: cfg, js: js, log: cfg.Logger, inflt: make(chan struct{}, cfg.MaxInFlight), streams: map[string]*nsStream{}}, nil
}

// Enabled reports whether any namespace of set keeps history.
func Enabled(set *namespace.Set) bool {
	for _, ns := range set.All() {
		if ns.History != nil {
			return true
		}
	}
	return false
}

// StreamName is the JetStream stream of a namespace: "<PREFIX>_<ns>", the
// prefix's dots made underscores, upper-cased.
func StreamName(prefix, ns string) string {
	return strings.ToUpper(strings.ReplaceAll(prefix, ".", "_")) + "_" + ns
}

// StreamConfig is the JetStream configuration of a namespace's stream.
func StreamConfig(prefix string, ns *namespace.Namespace, replicas int) jetstream.StreamConfig {
	h := ns.History
	subjects := make([]string, len(ns.Rooms))
	for i, p := range ns.Rooms {
		subjects[i] = prefix + ".room." + p
	}
	r := h.Replicas
	if r == 0 {
		r = replicas
	}
	storage := jetstream.FileStorage
	if h.Storage == namespace.StorageMemory {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:              StreamName(prefix, ns.Name),
		Description:       "hub history of namespace " + ns.Name,
		Subjects:          subjects,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: int64(h.Size),
		MaxAge:            h.TTL,
		MaxBytes:          h.MaxBytes,
		Storage:           storage,
		Replicas:          r,
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * time.Minute,
		RePublish:         &jetstream.RePublish{Source: ">", Destination: prefix + ".hist.>"},
	}
}

// Start creates (or updates) each history namespace's stream, or with
// Create false checks it exists. It retries until ctx is done, since a
// JetStream cluster may still be electing its leader.
func (s *Store) Start(ctx context.Context) error {
	for _, ns := range s.cfg.Namespaces.All() {
		if ns.History == nil {
			continue
		}
		cfg := StreamConfig(s.cfg.Prefix, ns, s.cfg.Replicas)
		var st jetstream.Stream
		var err error
		// While a new JetStream cluster elects its meta leader, API
		// requests go unanswered rather than failing: short attempts,
		// growing to the request timeout, find the leader soon after
		// there is one.
		attempt := min(time.Second, s.cfg.Timeout)
		for {
			rctx, cancel := context.WithTimeout(ctx, attempt)
			attempt = min(2*attempt, s.cfg.Timeout)
			if s.cfg.Create {
				st, err = s.js.CreateOrUpdateStream(rctx, cfg)
			} else {
				st, err = s.js.Stream(rctx, cfg.Name)
			}
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			s.log.Info("history stream not ready, retrying", "stream", cfg.Name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
		if err != nil {
			return fmt.Errorf("history stream %s: %w", cfg.Name, err)
		}
		info := st.CachedInfo()
		s.mu.Lock()
		s.streams[ns.Name] = &nsStream{ns: ns, name: cfg.Name, stream: st, epoch: epochOf(info)}
		s.mu.Unlock()
		s.log.Info("history stream ready", "stream", cfg.Name, "replicas", info.Config.Replicas, "storage", info.Config.Storage.String(), "epoch", epochOf(info))
	}
	return nil
}

// epochOf names a stream's incarnation: its creation time in milliseconds,
// base 36. A stream deleted and created again gets a new one.
func epochOf(info *jetstream.StreamInfo) string {
	if info == nil {
		return ""
	}
	return strconv.FormatInt(info.Created.UnixMilli(), 36)
}

// lookup returns the stream of room's namespace.
func (s *Store) lookup(room string) (*nsStream, error) {
	ns, ok := s.cfg.Namespaces.Lookup(room)
	if !ok || ns.History == nil {
		return nil, ErrNoHistory
	}
	s.mu.RLock()
	st := s.streams[ns.Name]
	s.mu.RUnlock()
	if st == nil {
		return nil, ErrUnavailable
	}
	return st, nil
}

// Has reports whether room keeps history. It does not allocate.
func (s *Store) Has(room string) bool {
	if s == nil {
		return false
	}
	ns, ok := s.cfg.Namespaces.Lookup(room)
	return ok && ns.History != nil
}

// Epoch returns the epoch of room's history, "" when unknown.
func (s *Store) Epoch(room string) string {
	st, err := s.lookup(room)
	if err != nil {
		return ""
	}
	return st.epoch
}

// Subject is the subject a room's messages are stored under.
func (s *Store) Subject(room string) string { return s.cfg.Prefix + ".room." + room }

// LiveSubject is the subject the stored copies of a room's messages are
// republished to, which the nodes subscribe for live delivery.
func (s *Store) LiveSubject(room string) string {
	return s.cfg.Prefix + ".hist." + s.cfg.Prefix + ".room." + room
}

func (s *Store) msg(room, from, exclude string, data []byte) *nats.Msg {
	m := nats.NewMsg(s.Subject(room))
	if from != "" {
		m.Header.Set(HeaderFrom, from)
	}
	if exclude != "" {
		m.Header.Set(HeaderExclude, exclude)
	}
	m.Data = data
	return m
}

// Publish stores a message and returns its offset once JetStream has
// acknowledged it (stored on a quorum of replicas). It blocks up to the
// configured timeout; an error means the message was not stored and will
// not be delivered (ErrNoHistory for a room without history).
func (s *Store) Publish(ctx context.Context, room, from, exclude string, data []byte) (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	st, err := s.lookup(room)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	ack, err := s.js.PublishMsg(ctx, s.msg(room, from, exclude, data), jetstream.WithExpectStream(st.name))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ack.Sequence, nil
}

// PublishAsync is Publish without blocking: done runs on another goroutine
// with the offset or the error. Past MaxInFlight unacknowledged publishes
// it fails at once with ErrUnavailable.
func (s *Store) PublishAsync(room, from, exclude string, data []byte, done func(offset uint64, err error)) {
	select {
	case s.inflt <- struct{}{}:
	default:
		done(0, fmt.Errorf("%w: too many publishes in flight", ErrUnavailable))
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.inflt }()
		off, err := s.Publish(context.Background(), room, from, exclude, data)
		done(off, err)
	})
}

// Read returns the room's stored messages from offset from on (inclusive;
// 0 = from the start), at most limit (0 = all), and the room's last offset.
// It blocks on JetStream requests (the room's last message, then batches
// of its messages through an ordered consumer on the stream leader).
func (s *Store) Read(ctx context.Context, room string, from uint64, limit int) Read {
	st, err := s.lookup(room)
	if err != nil {
		return Read{Err: err}
	}
	r := Read{Epoch: st.epoch}
	subj := s.Subject(room)
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	last, err := st.stream.GetLastMsgForSubject(rctx, subj)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		r.Reaches = from == 0
		return r
	case err != nil:
		r.Err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return r
	}
	r.Last = last.Sequence
	if from > r.Last {
		r.Count = 0
		return r
	}
	// An ordered consumer streams the room's messages from the leader in
	// batches: one request per batch, not per message.
	cons, err := st.stream.OrderedConsumer(rctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq: max(from, 1), InactiveThreshold: 5 * time.Second,
	})
	if err != nil {
		r.Err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return r
	}
	var prev, seq uint64
	for seq < r.Last && (limit <= 0 || len(r.Msgs) < limit) {
		n := 256
		if limit > 0 {
			n = min(n, limit-len(r.Msgs))
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			r.Err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			return r
		}
		got := 0
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			got++
			seq = meta.Sequence.Stream
			if seq == from {
				r.Reaches = true
			}
			h := m.Headers()
			r.Msgs = append(r.Msgs, Stored{Seq: seq, Prev: prev, Data: m.Data(), Time: meta.Timestamp,
				From: h.Get(HeaderFrom), Exclude: h.Get(HeaderExclude)})
			prev = seq
			if seq >= r.Last || (limit > 0 && len(r.Msgs) >= limit) {
				// All there is: a batch that is not full would otherwise
				// wait out its FetchMaxWait (the ordered consumer is
				// dropped after InactiveThreshold).
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			r.Err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			return r
		}
		if got == 0 {
			break // trimmed meanwhile
		}
	}
	if from == 0 {
		r.Reaches = true
	}
	r.Count = len(r.Msgs)
	return r
}

// Count returns the number of the room's stored messages.
func (s *Store) Count(ctx context.Context, room string) (int, error) {
	st, err := s.lookup(room)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	info, err := st.stream.Info(rctx, jetstream.WithSubjectFilter(s.Subject(room)))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return int(info.State.Subjects[s.Subject(room)]), nil
}

// Purge deletes the room's history (DELETE /api/rooms/{room}/history).
// Offsets go on from where they were; clients recovering from before the
// purge get recovered:false.
func (s *Store) Purge(ctx context.Context, room string) error {
	st, err := s.lookup(room)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := st.stream.Purge(rctx, jetstream.WithPurgeSubject(s.Subject(room))); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Every node drops its cache of the room's recent messages.
	m := nats.NewMsg(s.LiveSubject(room))
	m.Header.Set(HeaderReset, "1")
	if err := s.cfg.Conn.PublishMsg(m); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return s.cfg.Conn.FlushWithContext(rctx)
}

// Live decodes a republished stored message (received on a LiveSubject):
// its room, offset, the room's previous offset and the original headers.
// ok is false for anything else.
func (s *Store) Live(m *nats.Msg) (room string, msg Stored, ok bool) {
	rest, ok := strings.CutPrefix(m.Subject, s.cfg.Prefix+".hist."+s.cfg.Prefix+".room.")
	if !ok || m.Header == nil {
		return "", Stored{}, false
	}
	seq, err := strconv.ParseUint(m.Header.Get(headerSeq), 10, 64)
	if err != nil {
		return "", Stored{}, false
	}
	prev, _ := strconv.ParseUint(m.Header.Get(headerLastSeq), 10, 64)
	return rest, Stored{Seq: seq, Prev: prev, Data: m.Data, From: m.Header.Get(HeaderFrom), Exclude: m.Header.Get(HeaderExclude)}, true
}

// Ready reports whether every history stream answers (has a leader). It
// blocks up to the timeout.
func (s *Store) Ready(ctx context.Context) bool {
	s.mu.RLock()
	sts := make([]*nsStream, 0, len(s.streams))
	for _, st := range s.streams {
		sts = append(sts, st)
	}
	s.mu.RUnlock()
	want := 0
	for _, ns := range s.cfg.Namespaces.All() {
		if ns.History != nil {
			want++
		}
	}
	if len(sts) < want {
		return false
	}
	for _, st := range sts {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		info, err := st.stream.Info(rctx)
		cancel()
		if err != nil || (info.Cluster != nil && info.Cluster.Leader == "" && info.Config.Replicas > 1) {
			return false
		}
	}
	return true
}

// StepDown asks the JetStream leader of each stream this server leads to
// hand leadership to another replica (before a node drains), so stored
// publishes stall for an election only briefly. serverName is this node's
// embedded server name.
func (s *Store) StepDown(ctx context.Context, serverName string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, st := range s.streams {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		info, err := st.stream.Info(rctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader == serverName && len(info.Cluster.Replicas) > 0 {
			_, err = s.cfg.Conn.RequestWithContext(rctx, "$JS.API.STREAM.LEADER.STEPDOWN."+st.name, nil)
			if err != nil {
				s.log.Warn("history stream step down", "stream", st.name, "err", err)
			} else {
				s.log.Info("history stream leadership handed over", "stream", st.name)
			}
		}
		cancel()
	}
}

// Close refuses further publishes and waits for those in flight.
func (s *Store) Close() {
	if s.closed.CompareAndSwap(false, true) {
		s.wg.Wait()
	}
}

// Leader returns the server leading the stream of namespace ns, "" when
// unknown (or not clustered).
func (s *Store) Leader(ctx context.Context, ns string) string {
	s.mu.RLock()
	st := s.streams[ns]
	s.mu.RUnlock()
	if st == nil {
		return ""
	}
	info, err := st.stream.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// Replicas returns the replica count of namespace ns's stream, 0 when unknown.
func (s *Store) Replicas(ctx context.Context, ns string) int {
	s.mu.RLock()
	st := s.streams[ns]
	s.mu.RUnlock()
	if st == nil {
		return 0
	}
	info, err := st.stream.Info(ctx)
	if err != nil {
		return 0
	}
	return info.Config.Replicas
}

// Placement is where a namespace's stream is kept: the servers holding
// its replicas, as JetStream's stream info reports them.
type Placement struct {
	Namespace string `json:"namespace"`
	Stream    string `json:"stream"`
	Replicas  int    `json:"replicas"` // configured
	Leader    string `json:"leader"`   // "" while there is none (an election, no quorum)
	// Followers are the other replicas; fewer than Replicas-1 when
	// JetStream has not enough servers to place them all.
	Followers []Replica `json:"followers"`
	Err       string    `json:"error,omitempty"` // the stream info could not be read
}

// Replica is a follower of a stream.
type Replica struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
}

// Placements reports where each history stream is kept, by namespace name.
func (s *Store) Placements(ctx context.Context) []Placement {
	s.mu.RLock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		names = append(names, name)
	}
	s.mu.RUnlock()
	sort.Strings(names)
	out := make([]Placement, 0, len(names))
	for _, name := range names {
		s.mu.RLock()
		st := s.streams[name]
		s.mu.RUnlock()
		p := Placement{Namespace: name, Stream: st.name, Followers: []Replica{}}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		info, err := st.stream.Info(rctx)
		cancel()
		if err != nil {
			p.Err = err.Error()
			out = append(out, p)
			continue
		}
		p.Replicas = info.Config.Replicas
		if c := info.Cluster; c != nil {
			p.Leader = c.Leader
			for _, r := range c.Replicas {
				p.Followers = append(p.Followers, Replica{Name: r.Name, Current: r.Current, Offline: r.Offline, Lag: r.Lag})
			}
		}
		out = append(out, p)
	}
	return out
}
