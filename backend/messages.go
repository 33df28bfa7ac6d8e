package backend

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// MessagesConfig configures a message flow to a backend.
type MessagesConfig struct {
	Target  string // path (or subject) the message events are posted to
	Workers int    // requests in flight for this flow, each for a different connection; default 64
	PerConn int    // messages of one connection waiting (the one in flight included); default 32
	// OnReply delivers a backend's answer to the connection that sent the
	// message. It must not block.
	OnReply func(connID string, r protocol.Reply)
	// OnError tells the connection its message got no answer. It must not
	// block.
	OnError func(connID string, e *protocol.Error)
}

// Messages posts the message events of a flow to a backend: the answer is
// the reply (`{"body":X,"end":B}`, as on NATS; 204 or an empty body is
// none). Messages of one connection are posted one at a time, in order;
// different connections' go in parallel, up to Workers. A message with no
// answer (an error, a timeout, a 5xx, a full per-connection queue) gets its
// sender an error frame (protocol.ErrBackendUnavailable or
// ErrBackendTimeout), a 4xx gets ErrMessageRefused. Post never blocks; the
// goroutines it starts exit when idle. Safe for concurrent use.
type Messages struct {
	cfg   MessagesConfig
	c     Caller
	log   *slog.Logger
	gauge prometheus.Gauge

	mu      sync.Mutex
	conns   map[string]*msgConn // connections with messages waiting or in flight
	ready   []*msgConn          // connections with a message to post and none in flight, FIFO
	running int
	closed  bool
	wg      sync.WaitGroup
}

type msgConn struct {
	id    string
	queue [][]byte
	busy  bool
}

// NewMessages builds a message flow.
func NewMessages(cfg MessagesConfig, c Caller, logger *slog.Logger) *Messages {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.PerConn <= 0 {
		cfg.PerConn = 32
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Messages{cfg: cfg, c: c, log: logger, conns: map[string]*msgConn{},
		gauge: metrics.BackendQueueDepth.WithLabelValues(c.Name(), "message")}
}

// Post queues the message event payload of connection connID.
func (m *Messages) Post(connID string, payload []byte) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.cfg.OnError(connID, protocol.ErrBackendUnavailable)
		return
	}
	mc := m.conns[connID]
	if mc == nil {
		mc = &msgConn{id: connID}
		m.conns[connID] = mc
	}
	if len(mc.queue) >= m.cfg.PerConn {
		m.mu.Unlock()
		metrics.BackendDropped.WithLabelValues(m.c.Name(), "overflow").Inc()
		m.cfg.OnError(connID, protocol.ErrBackendUnavailable)
		return
	}
	mc.queue = append(mc.queue, payload)
	m.gauge.Inc()
	if !mc.busy && len(mc.queue) == 1 {
		m.ready = append(m.ready, mc)
		if m.running < m.cfg.Workers {
			m.running++
			m.wg.Go(m.work)
		}
	}
	m.mu.Unlock()
}

// work posts messages while some connection has one ready.
func (m *Messages) work() {
	for {
		m.mu.Lock()
		if len(m.ready) == 0 {
			m.running--
			m.ready = nil
			m.mu.Unlock()
			return
		}
		mc := m.ready[0]
		m.ready[0] = nil
		m.ready = m.ready[1:]
		payload := mc.queue[0]
		mc.busy = true
		m.mu.Unlock()

		m.post(mc.id, payload)

		m.mu.Lock()
		mc.queue[0] = nil
		mc.queue = mc.queue[1:]
		mc.busy = false
		m.gauge.Dec()
		if len(mc.queue) > 0 {
			m.ready = append(m.ready, mc)
		} else {
			delete(m.conns, mc.id)
		}
		m.mu.Unlock()
	}
}

func (m *Messages) post(connID string, payload []byte) {
	resp, err := m.c.Call(context.Background(), &Request{Target: m.cfg.Target, Event: "message", Body: payload})
	switch {
	case errors.Is(err, ErrTimeout):
		m.cfg.OnError(connID, protocol.ErrBackendTimeout)
	case err != nil:
		m.cfg.OnError(connID, protocol.ErrBackendUnavailable)
	case resp.Status == 204 || (resp.Status >= 200 && resp.Status < 300 && len(resp.Body) == 0):
	case resp.Status >= 200 && resp.Status < 300:
		m.cfg.OnReply(connID, protocol.DecodeReply(resp.Body))
	case resp.Status >= 400 && resp.Status < 500:
		m.cfg.OnError(connID, protocol.ErrMessageRefused)
	default:
		m.cfg.OnError(connID, protocol.ErrBackendUnavailable)
	}
}

// Shutdown refuses new messages and waits for those queued to be posted,
// or for ctx. Idempotent.
func (m *Messages) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitIdle is for tests: it waits until nothing is queued.
func (m *Messages) waitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		n := len(m.conns)
		m.mu.Unlock()
		if n == 0 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}
