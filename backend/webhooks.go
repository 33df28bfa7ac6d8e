package backend

import (
	"context"
	"hash/maphash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubrt/hub/metrics"
)

// WebhookConfig configures the webhook queue of one flow.
type WebhookConfig struct {
	Target    string        // path (or subject) the events are posted to
	Batch     int           // events per request; > 1 posts a JSON array; default 1
	QueueSize int           // events waiting on this node before new ones are dropped; default 10000
	RetryFor  time.Duration // how long an event is retried; default 1m
	Lanes     int           // requests in flight for this flow (each lane one at a time); default 4
	Backoff   time.Duration // first retry delay, doubling to MaxBackoff; default 100ms
	// MaxBackoff caps the retry delay; default 5s.
	MaxBackoff time.Duration
	IDPrefix   string // prefix of event ids, unique in the cluster and across restarts (node name and boot time)
}

// Webhooks posts events to a backend at least once: each event gets an id
// (Hub-Event-Id) and stays queued until the backend answers 2xx, it was
// retried for RetryFor, or the backend answered a 4xx other than 408 and
// 429 (not retried). Events of one key (a connection id) go to one lane and
// leave in order; a lane retries its head before anything behind it. The
// queue is bounded: an event that finds it full is dropped, counted in
// hub_backend_dropped_total{reason="overflow"} and logged (at most once a
// second). Methods are safe for concurrent use; Enqueue never blocks.
type Webhooks struct {
	cfg   WebhookConfig
	c     Caller
	log   *slog.Logger
	seed  maphash.Seed
	lanes []*lane
	seq   atomic.Uint64
	depth atomic.Int64
	gauge prometheus.Gauge
	warn  atomic.Int64 // unix nanos of the last overflow warning

	closing atomic.Bool
	quit    chan struct{} // closed by Shutdown: lanes drain and stop
	abort   chan struct{} // closed when Shutdown's ctx ends: give up
	wg      sync.WaitGroup
	once    sync.Once
	aborted sync.Once
}

type lane struct {
	mu    sync.Mutex
	items []hook
	wake  chan struct{} // size 1
}

type hook struct {
	id   string
	body []byte
	at   time.Time
}

// NewWebhooks starts the lanes of a webhook flow.
func NewWebhooks(cfg WebhookConfig, c Caller, logger *slog.Logger) *Webhooks {
	if cfg.Batch <= 0 {
		cfg.Batch = 1
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = time.Minute
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Webhooks{
		cfg: cfg, c: c, log: logger, seed: maphash.MakeSeed(),
		gauge: metrics.BackendQueueDepth.WithLabelValues(c.Name(), "webhook"),
		quit:  make(chan struct{}), abort: make(chan struct{}),
	}
	for range cfg.Lanes {
		l := &lane{wake: make(chan struct{}, 1)}
		w.lanes = append(w.lanes, l)
		w.wg.Go(func() { w.run(l) })
	}
	return w
}

// Enqueue queues one event (its JSON, kept as given) for the events of key,
// in order. It returns false when the event was dropped: the queue was
// full or the flow is shutting down.
func (w *Webhooks) Enqueue(key string, body []byte) bool {
	if w.closing.Load() {
		w.drop("shutdown", 1)
		return false
	}
	if w.depth.Add(1) > int64(w.cfg.QueueSize) {
		w.depth.Add(-1)
		w.drop("overflow", 1)
		if now := time.Now().UnixNano(); now-w.warn.Load() >= int64(time.Second) {
			w.warn.Store(now)
			w.log.Warn("webhook queue full; event dropped", "connector", w.c.Name(), "target", w.cfg.Target, "queue_size", w.cfg.QueueSize)
		}
		return false
	}
	w.gauge.Inc()
	id := w.cfg.IDPrefix + strconv.FormatUint(w.seq.Add(1), 36)
	l := w.lanes[maphash.String(w.seed, key)%uint64(len(w.lanes))]
	l.mu.Lock()
	l.items = append(l.items, hook{id: id, body: body, at: time.Now()})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// Depth is the number of events queued (in flight included).
func (w *Webhooks) Depth() int { return int(w.depth.Load()) }

func (w *Webhooks) drop(reason string, n int) {
	metrics.BackendDropped.WithLabelValues(w.c.Name(), reason).Add(float64(n))
}

// run is one lane's loop: post the head (a batch of up to Batch events)
// until it is answered or expires, then the next.
func (w *Webhooks) run(l *lane) {
	for {
		l.mu.Lock()
		n := min(len(l.items), w.cfg.Batch)
		batch := l.items[:n:n]
		l.mu.Unlock()
		if n == 0 {
			select {
			case <-l.wake:
				continue
			case <-w.quit:
				// Drained: anything queued after the check is taken
				// on the next round.
				l.mu.Lock()
				empty := len(l.items) == 0
				l.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		ok := w.deliver(batch)
		l.mu.Lock()
		l.items = l.items[n:]
		if len(l.items) == 0 {
			l.items = nil // let the backing array go
		}
		l.mu.Unlock()
		w.depth.Add(int64(-n))
		w.gauge.Sub(float64(n))
		if !ok {
			select {
			case <-w.abort:
				// Shutdown gave up: count what is left and stop.
				l.mu.Lock()
				left := len(l.items)
				l.items = nil
				l.mu.Unlock()
				w.depth.Add(int64(-left))
				w.gauge.Sub(float64(left))
				w.drop("shutdown", left)
				return
			default:
			}
		}
	}
}

// deliver posts one batch until it is answered, rejected, expired or
// aborted; it reports whether the backend took it. With Batch > 1 the body
// is always a JSON array, of one event or more.
func (w *Webhooks) deliver(batch []hook) bool {
	req := &Request{Target: w.cfg.Target, Event: "webhook"}
	if w.cfg.Batch == 1 {
		req.Body, req.EventIDs = batch[0].body, batch[0].id
	} else {
		size := 2
		for _, h := range batch {
			size += len(h.body) + 1
		}
		b := make([]byte, 0, size)
		ids := make([]string, len(batch))
		b = append(b, '[')
		for i, h := range batch {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, h.body...)
			ids[i] = h.id
		}
		req.Body, req.EventIDs = append(b, ']'), strings.Join(ids, ",")
	}
	deadline := batch[0].at.Add(w.cfg.RetryFor)
	delay := w.cfg.Backoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			metrics.BackendRetries.WithLabelValues(w.c.Name()).Inc()
		}
		ctx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(abortCtx(w.abort), cancel)
		resp, err := w.c.Call(ctx, req)
		stop()
		cancel()
		switch {
		case err == nil && resp.Status >= 200 && resp.Status < 300:
			return true
		case err == nil && resp.Status >= 400 && resp.Status < 500 && resp.Status != 408 && resp.Status != 429:
			metrics.BackendErrors.WithLabelValues(w.c.Name(), KindRejected).Inc()
			w.drop("rejected", len(batch))
			w.log.Warn("webhook rejected by the backend; not retried", "connector", w.c.Name(), "target", w.cfg.Target, "status", resp.Status, "events", len(batch))
			return true
		}
		if time.Now().Add(delay).After(deadline) {
			w.drop("expired", len(batch))
			w.log.Warn("webhook given up after retry_for", "connector", w.c.Name(), "target", w.cfg.Target, "events", len(batch), "err", err, "status", resp.Status)
			return true
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.abort:
			t.Stop()
			w.drop("shutdown", len(batch))
			return false
		}
		delay = min(2*delay, w.cfg.MaxBackoff)
	}
}

// Shutdown stops taking events and waits until the queue is drained, or ctx
// ends: then requests in flight are cancelled and what is left is counted
// as dropped (reason "shutdown"). Idempotent.
func (w *Webhooks) Shutdown(ctx context.Context) error {
	w.once.Do(func() {
		w.closing.Store(true)
		close(w.quit)
	})
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		w.abortOnce()
		<-done
		return ctx.Err()
	}
}

func (w *Webhooks) abortOnce() { w.aborted.Do(func() { close(w.abort) }) }

// abortCtx is a context done when ch is closed.
func abortCtx(ch <-chan struct{}) context.Context { return chanCtx(ch) }

type chanCtx <-chan struct{}

func (c chanCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c chanCtx) Done() <-chan struct{}       { return c }
func (c chanCtx) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}
func (c chanCtx) Value(any) any { return nil }
