package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/hubrt/hub/metrics"
)

// NodeMeta is what a node tells the others about itself through gossip.
type NodeMeta struct {
	Route string `json:"route,omitempty"` // embedded NATS route listener host:port; "" with external NATS
	HTTP  string `json:"http,omitempty"`  // WebSocket/HTTP listener host:port
}

// MembersOptions configure the gossip membership.
type MembersOptions struct {
	Name           string
	Bind           string // host:port; port 0 picks one
	Advertise      string // host or host:port; "" = automatic
	Join           []string
	RejoinInterval time.Duration
	Meta           NodeMeta
	Logger         *slog.Logger
	// OnJoin and OnLeave see other nodes arrive and go. They run on a
	// goroutine of their own, in order, and must not block for long.
	// OnLeave's left is true for a node that announced its leave, false for
	// one declared dead by failure detection (which may be a flap: the
	// node can be back, with OnJoin, milliseconds later).
	OnJoin  func(name string, meta NodeMeta)
	OnLeave func(name string, left bool)
	// Keys encrypt and authenticate gossip (AES-GCM, memberlist keyring):
	// each 16, 24 or 32 bytes, the first one used to send, all of them
	// accepted. Nil leaves gossip in clear text and open to anyone.
	Keys [][]byte
	// Fast tunes failure detection for tests and small clusters; the default
	// already notices a dead node within about three seconds.
	ProbeInterval time.Duration
}

// Members is this node's view of the cluster, kept by memberlist gossip.
type Members struct {
	ml     *memberlist.Memberlist
	o      MembersOptions
	log    *slog.Logger
	meta   []byte
	joined atomic.Bool
	events chan func()
	stop   chan struct{}
	wg     sync.WaitGroup
	left   atomic.Bool
	alive  atomic.Int64

	// mu guards nodes, the alive members' metadata as the event delegate
	// saw it. memberlist's Members() hands out pointers to nodes that its
	// gossip goroutines go on changing; the delegate runs under
	// memberlist's own lock, so copying there is the race-free way.
	mu    sync.Mutex
	nodes map[string]NodeMeta
}

// StartMembers starts gossip and joins the configured peers. Failing to
// reach them is not an error: the node retries every RejoinInterval and is
// not ready until it has joined.
func StartMembers(o MembersOptions) (*Members, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RejoinInterval <= 0 {
		o.RejoinInterval = 10 * time.Second
	}
	meta, err := json.Marshal(o.Meta)
	if err != nil {
		return nil, err
	}
	m := &Members{o: o, log: o.Logger.With("component", "gossip"), meta: meta,
		events: make(chan func(), 1024), stop: make(chan struct{})}

	c := memberlist.DefaultLANConfig()
	c.Name = o.Name
	host, port, err := hostPort(o.Bind, 7946)
	if err != nil {
		return nil, fmt.Errorf("gossip bind %q: %w", o.Bind, err)
	}
	c.BindAddr, c.BindPort = host, port
	if o.Advertise != "" {
		ah, ap, err := hostPort(o.Advertise, port)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise %q: %w", o.Advertise, err)
		}
		c.AdvertiseAddr, c.AdvertisePort = ah, ap
	}
	c.ProbeInterval = 500 * time.Millisecond
	c.ProbeTimeout = 250 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 100 * time.Millisecond
	c.PushPullInterval = 15 * time.Second
	if o.ProbeInterval > 0 {
		c.ProbeInterval = o.ProbeInterval
		c.ProbeTimeout = o.ProbeInterval / 2
	}
	if len(o.Keys) > 0 {
		kr, err := memberlist.NewKeyring(o.Keys[1:], o.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip keyring: %w", err)
		}
		c.Keyring = kr
		c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	}
	c.Delegate = delegate{m}
	c.Events = eventDelegate{m}
	c.Logger = log.New(&logWriter{m.log}, "", 0)
	ml, err := memberlist.Create(c)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	m.ml = ml
	// A route host left unspecified is this node's gossip address.
	if h, p, err := net.SplitHostPort(o.Meta.Route); err == nil && (h == "" || net.ParseIP(h).IsUnspecified()) {
		o.Meta.Route = net.JoinHostPort(ml.LocalNode().Addr.String(), p)
		m.o.Meta = o.Meta
		m.meta, _ = json.Marshal(o.Meta)
		_ = ml.UpdateNode(time.Second)
	}
	m.wg.Add(2)
	go m.runEvents()
	go m.rejoin()
	self := ml.LocalNode()
	m.log.Info("gossip listening", "addr", net.JoinHostPort(self.Addr.String(), strconv.Itoa(int(self.Port))))
	if len(o.Join) == 0 {
		m.joined.Store(true)
	} else {
		m.tryJoin()
	}
	return m, nil
}

func hostPort(s string, defPort int) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		// a bare host
		return s, defPort, nil
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}

func (m *Members) tryJoin() {
	n, err := m.ml.Join(m.o.Join)
	if n > 0 {
		if !m.joined.Swap(true) && m.ml.NumMembers() > 1 {
			m.log.Info("joined cluster", "contacted", n, "members", m.ml.NumMembers())
		}
		return
	}
	m.log.Warn("cannot join cluster yet; retrying", "join", m.o.Join, "every", m.o.RejoinInterval.String(), "err", err)
}

// rejoin joins again every RejoinInterval, so a node that started before
// its peers, or was cut off, finds them again.
func (m *Members) rejoin() {
	defer m.wg.Done()
	t := time.NewTicker(m.o.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			// Join names are re-resolved each time, so a DNS name (a
			// headless service) that gained addresses is followed.
			if len(m.o.Join) > 0 {
				m.tryJoin()
			}
		}
	}
}

func (m *Members) runEvents() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case f := <-m.events:
			f()
		}
	}
}

// Count is the number of alive members, this node included.
func (m *Members) Count() int { return m.ml.NumMembers() }

// Joined reports whether the node has joined its cluster (always true when
// no peers are configured).
func (m *Members) Joined() bool {
	if !m.joined.Load() && m.ml.NumMembers() > 1 {
		// Another node joined us first: we are in a cluster.
		m.joined.Store(true)
	}
	return m.joined.Load()
}

// Nodes lists the alive members and their metadata. It is safe for
// concurrent use.
func (m *Members) Nodes() map[string]NodeMeta {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]NodeMeta, len(m.nodes))
	for k, v := range m.nodes {
		out[k] = v
	}
	return out
}

// track records a member's metadata (alive) or forgets it.
func (m *Members) track(n *memberlist.Node, alive bool) NodeMeta {
	var meta NodeMeta
	if alive {
		_ = json.Unmarshal(n.Meta, &meta)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes == nil {
		m.nodes = map[string]NodeMeta{}
	}
	if alive {
		m.nodes[n.Name] = meta
	} else {
		delete(m.nodes, n.Name)
	}
	return meta
}

// Names lists the alive members' names, this node included, like Nodes.
func (m *Members) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.nodes))
	for k := range m.nodes {
		out = append(out, k)
	}
	return out
}

// Addr is the gossip address others join.
func (m *Members) Addr() string {
	self := m.ml.LocalNode()
	return net.JoinHostPort(self.Addr.String(), strconv.Itoa(int(self.Port)))
}

// Leave tells the others this node is going, then stops gossip.
func (m *Members) Leave(timeout time.Duration) {
	if m.left.Swap(true) {
		return
	}
	if err := m.ml.Leave(timeout); err != nil {
		m.log.Warn("leaving the cluster", "err", err)
	}
	_ = m.ml.Shutdown()
	close(m.stop)
	m.wg.Wait()
}

type delegate struct{ m *Members }

func (d delegate) NodeMeta(limit int) []byte {
	if len(d.m.meta) > limit {
		return nil
	}
	return d.m.meta
}
func (delegate) NotifyMsg([]byte)                {}
func (delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (delegate) LocalState(bool) []byte          { return nil }
func (delegate) MergeRemoteState([]byte, bool)   {}

type eventDelegate struct{ m *Members }

func (e eventDelegate) post(f func()) {
	select {
	case e.m.events <- f:
	default:
		e.m.log.Warn("membership events backlog full; one event dropped")
	}
}

func (e eventDelegate) NotifyJoin(n *memberlist.Node) {
	metrics.ClusterMembers.Set(float64(e.m.alive.Add(1)))
	meta := e.m.track(n, true)
	if n.Name == e.m.o.Name {
		return
	}
	e.m.log.Info("node joined", "peer", n.Name, "addr", n.Address())
	if e.m.o.OnJoin != nil {
		name := n.Name
		e.post(func() { e.m.o.OnJoin(name, meta) })
	}
}

func (e eventDelegate) NotifyLeave(n *memberlist.Node) {
	metrics.ClusterMembers.Set(float64(e.m.alive.Add(-1)))
	e.m.track(n, false)
	if n.Name == e.m.o.Name {
		return
	}
	left := n.State == memberlist.StateLeft
	e.m.log.Info("node gone", "peer", n.Name, "left", left)
	if e.m.o.OnLeave != nil {
		name := n.Name
		e.post(func() { e.m.o.OnLeave(name, left) })
	}
}

func (e eventDelegate) NotifyUpdate(n *memberlist.Node) { e.m.track(n, true) }

// logWriter sends memberlist's log lines to slog: errors and warnings as
// such, the rest at debug.
type logWriter struct{ l *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	switch {
	case bytes.Contains(p, []byte("[ERR]")):
		w.l.Warn(line)
	case bytes.Contains(p, []byte("[WARN]")):
		w.l.Debug(line) // memberlist warns about every failed probe; the state changes are logged above
	default:
		w.l.Debug(line)
	}
	return len(p), nil
}
