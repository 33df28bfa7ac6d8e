package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubrt/hub/metrics"
)

// Request is one call to a backend.
type Request struct {
	Target   string // http: the path appended to the connector's URL; nats: the subject
	Event    string // what it is, sent as Hub-Event and used as a metric label: connect, join, message, webhook
	EventIDs string // the Hub-Event-Id value; "" for none
	Body     []byte // JSON
}

// Response is a backend's answer. Over NATS, Status is 200 and the body
// may carry its own "status".
type Response struct {
	Status int
	Body   []byte
}

// Caller sends requests to one backend. Call blocks until the answer, the
// connector's timeout or ctx, whichever comes first; it returns an error
// (ErrTimeout, ErrUnavailable, ErrOverloaded, wrapped) only when no answer
// came. A 5xx is an answer. Safe for concurrent use.
type Caller interface {
	Call(ctx context.Context, r *Request) (Response, error)
	// Name is the connector's name, the "connector" label of the metrics.
	Name() string
}

// HTTPConfig configures an HTTP connector.
type HTTPConfig struct {
	Name        string        // connector name
	URL         string        // base URL; targets are appended
	Secret      []byte        // HMAC-SHA256 key signing every request; required
	Timeout     time.Duration // one request, waiting for a slot included; default 2s
	MaxInFlight int           // requests in flight from this node; default 64
	Now         func() time.Time
}

// HTTP is an HTTP connector: one shared client (keep-alive connections, at
// most MaxInFlight of them) and a semaphore bounding requests in flight.
type HTTP struct {
	cfg    HTTPConfig
	base   string
	client *http.Client
	sem    chan struct{}
	m      *connectorMetrics
}

// NewHTTP builds an HTTP connector; it does no I/O.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("backend %s: no secret", cfg.Name)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("backend %s: url %q is not http(s)", cfg.Name, cfg.URL)
	}
	tr := &http.Transport{
		Proxy:               nil, // a backend is internal: environment proxies are not used
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.MaxInFlight,
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		MaxConnsPerHost:     cfg.MaxInFlight,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
		ForceAttemptHTTP2:   true,
	}
	return &HTTP{
		cfg:    cfg,
		base:   strings.TrimSuffix(cfg.URL, "/"),
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		sem:    make(chan struct{}, cfg.MaxInFlight),
		m:      metricsFor(cfg.Name),
	}, nil
}

// Name implements Caller.
func (h *HTTP) Name() string { return h.cfg.Name }

// Timeout is the connector's request timeout.
func (h *HTTP) Timeout() time.Duration { return h.cfg.Timeout }

// maxBody bounds a backend's answer.
const maxBody = 1 << 20

// Call implements Caller: a signed POST of r.Body to the URL plus r.Target.
func (h *HTTP) Call(ctx context.Context, r *Request) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	start := time.Now()
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return Response{}, h.m.fail(r.Event, start, fmt.Errorf("%s %s: %w", h.cfg.Name, r.Target, ErrOverloaded))
	}
	defer func() { <-h.sem }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+r.Target, bytes.NewReader(r.Body))
	if err != nil {
		return Response{}, h.m.fail(r.Event, start, fmt.Errorf("%s %s: %w: %v", h.cfg.Name, r.Target, ErrUnavailable, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hub")
	req.Header.Set(SignatureHeader, Sign(h.cfg.Secret, h.cfg.Now(), r.Body))
	req.Header.Set(EventHeader, r.Event)
	if r.EventIDs != "" {
		req.Header.Set(EventIDHeader, r.EventIDs)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return Response{}, h.m.fail(r.Event, start, h.classify(r, err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	if err != nil {
		return Response{}, h.m.fail(r.Event, start, h.classify(r, err))
	}
	if len(body) > maxBody {
		return Response{}, h.m.fail(r.Event, start, fmt.Errorf("%s %s: %w: body over %d bytes", h.cfg.Name, r.Target, ErrBadResponse, maxBody))
	}
	h.m.done(r.Event, start, resp.StatusCode)
	return Response{Status: resp.StatusCode, Body: body}, nil
}

func (h *HTTP) classify(r *Request, err error) error {
	kind := ErrUnavailable
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		kind = ErrTimeout
	}
	return fmt.Errorf("%s %s: %w: %v", h.cfg.Name, r.Target, kind, err)
}

// CloseIdle closes the connector's idle keep-alive connections.
func (h *HTTP) CloseIdle() { h.client.CloseIdleConnections() }

// NATS is a proxy connector over NATS request/reply: the same JSON, sent
// to the subject of the request's Target, with the Hub-Event and
// Hub-Event-Id headers; the reply is the answer.
type NATS struct {
	name    string
	nc      *nats.Conn
	timeout time.Duration
	m       *connectorMetrics
}

// NewNATS builds a NATS caller named name (the nats connector's name).
func NewNATS(name string, nc *nats.Conn, timeout time.Duration) *NATS {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &NATS{name: name, nc: nc, timeout: timeout, m: metricsFor(name)}
}

// Name implements Caller.
func (n *NATS) Name() string { return n.name }

// Call implements Caller.
func (n *NATS) Call(ctx context.Context, r *Request) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	start := time.Now()
	m := nats.NewMsg(r.Target)
	m.Data = r.Body
	m.Header.Set(EventHeader, r.Event)
	if r.EventIDs != "" {
		m.Header.Set(EventIDHeader, r.EventIDs)
	}
	reply, err := n.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		kind := ErrUnavailable
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			kind = ErrTimeout
		}
		return Response{}, n.m.fail(r.Event, start, fmt.Errorf("%s %s: %w: %v", n.name, r.Target, kind, err))
	}
	n.m.done(r.Event, start, http.StatusOK)
	return Response{Status: http.StatusOK, Body: reply.Data}, nil
}

// connectorMetrics are the collectors of one connector, looked up once.
type connectorMetrics struct {
	name    string
	latency prometheus.Observer
}

func metricsFor(name string) *connectorMetrics {
	return &connectorMetrics{name: name, latency: metrics.BackendLatency.WithLabelValues(name)}
}

func (m *connectorMetrics) done(event string, start time.Time, status int) {
	m.latency.Observe(time.Since(start).Seconds())
	metrics.BackendRequests.WithLabelValues(m.name, event, statusClass(status)).Inc()
	if status >= 500 || (status >= 300 && status < 400) {
		metrics.BackendErrors.WithLabelValues(m.name, KindStatus).Inc()
	}
}

func (m *connectorMetrics) fail(event string, start time.Time, err error) error {
	m.latency.Observe(time.Since(start).Seconds())
	metrics.BackendRequests.WithLabelValues(m.name, event, "error").Inc()
	metrics.BackendErrors.WithLabelValues(m.name, Kind(err)).Inc()
	return err
}

func statusClass(s int) string {
	switch {
	case s >= 200 && s < 300:
		return "2xx"
	case s >= 300 && s < 400:
		return "3xx"
	case s >= 400 && s < 500:
		return "4xx"
	}
	return "5xx"
}

// Timeout is the caller's request timeout.
func (n *NATS) Timeout() time.Duration { return n.timeout }
