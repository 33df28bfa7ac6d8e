package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubrt/hub/backend"
	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/gateway"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/protocol"
)

// backends runs what the config says of HTTP backends (SPEC §12): the
// connect and join proxies, the message flows whose answer is the reply
// and the webhook flows. See the backend package for how each works.
type backends struct {
	n       *Node
	callers map[string]backend.Caller // by connector name

	connect   *backend.Proxy            // nil without proxy "connect"
	join      *backend.Proxy            // nil without proxy "join"
	joinRooms []string                  // its patterns
	nsJoin    map[string]*backend.Proxy // namespace name → its join_proxy
	joinSlots chan struct{}             // join requests waiting for an answer

	messages map[string][]*backend.Messages // ws event → message flows (only "message")
	hooks    map[string][]*backend.Webhooks // ws event → webhook queues
	queues   []*backend.Webhooks            // one per connector and target
	replyPfx string                         // "<prefix>.reply.": reply subject minus the connection id

	wg   sync.WaitGroup // join requests in flight
	warn rateLimit
}

// rateLimit lets one event per second through.
type rateLimit struct{ last atomic.Int64 }

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(time.Second) && r.last.CompareAndSwap(last, now)
}

// maxPendingJoins bounds join requests waiting for a backend per node;
// beyond, a join gets the proxy's on_error outcome at once.
const maxPendingJoins = 4096

func startBackends(n *Node) (*backends, error) {
	cfg := n.cfg
	b := &backends{
		n: n, callers: map[string]backend.Caller{},
		messages: map[string][]*backend.Messages{}, hooks: map[string][]*backend.Webhooks{},
		replyPfx:  cfg.NATS.SubjectPrefix + ".reply.",
		joinSlots: make(chan struct{}, maxPendingJoins),
	}
	for _, hc := range cfg.HTTP {
		secret, err := readSecret(hc.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("connector %q (%s): %w", hc.Name, hc.Pos, err)
		}
		h, err := backend.NewHTTP(backend.HTTPConfig{
			Name: hc.Name, URL: hc.URL, Secret: secret, Timeout: hc.Timeout, MaxInFlight: hc.MaxInFlight,
		})
		if err != nil {
			return nil, err
		}
		b.callers[hc.Name] = h
		n.log.Info("http backend ready", "connector", hc.Name, "url", hc.URL, "timeout", hc.Timeout.String(), "max_in_flight", hc.MaxInFlight)
	}
	caller := func(name string) backend.Caller {
		if c, ok := b.callers[name]; ok {
			return c
		}
		if name == cfg.NATS.Name {
			c := backend.NewNATS(name, n.nc, 2*time.Second)
			b.callers[name] = c
			return c
		}
		return nil
	}
	for _, p := range cfg.Proxies {
		c := caller(p.Connector)
		if c == nil {
			return nil, fmt.Errorf("proxy %q (%s): no connector %q", p.Kind, p.Pos, p.Connector)
		}
		px := backend.NewProxy(c, p.Kind, p.Target, p.OnError == config.OnErrorAllow)
		switch p.Kind {
		case config.ProxyConnect:
			b.connect = px
		case config.ProxyJoin:
			b.join, b.joinRooms = px, p.Rooms
		}
		n.log.Info("proxy ready", "proxy", p.Kind, "connector", p.Connector, "target", p.Target, "on_error", p.OnError)
	}
	queues := map[string]*backend.Webhooks{}
	// A namespace's join_proxy names a connector; the path (or subject)
	// asked is the join proxy's target when it uses that connector, else
	// "/join" on an http connector and "<prefix>.join" on NATS.
	b.nsJoin = map[string]*backend.Proxy{}
	for _, ns := range cfg.Namespaces {
		if ns.JoinProxy == "" {
			continue
		}
		c := caller(ns.JoinProxy)
		if c == nil {
			return nil, fmt.Errorf("namespace %q (%s): no connector %q", ns.Name, ns.Pos, ns.JoinProxy)
		}
		target, onError := "/join", config.OnErrorRefuse
		if ns.JoinProxy == cfg.NATS.Name {
			target = cfg.NATS.SubjectPrefix + ".join"
		}
		if p := cfg.Proxy(config.ProxyJoin); p != nil && p.Connector == ns.JoinProxy {
			target, onError = p.Target, p.OnError
		}
		b.nsJoin[ns.Name] = backend.NewProxy(c, config.ProxyJoin, target, onError == config.OnErrorAllow)
		n.log.Info("proxy ready", "proxy", "join", "namespace", ns.Name, "connector", ns.JoinProxy, "target", target)
	}
	idPrefix := cfg.Node.Name + "." + strconv.FormatInt(time.Now().UnixMilli(), 36) + "."
	for i, fl := range cfg.Flows {
		if fl.To.Kind != config.KindHTTP {
			continue
		}
		c := caller(fl.To.Connector)
		hc := cfg.HTTPConnector(fl.To.Connector)
		log := n.log.With("flow", fl.Name)
		if fl.From.Operation == config.OpMessage {
			m := backend.NewMessages(backend.MessagesConfig{
				Target: fl.To.Target, Workers: hc.MaxInFlight,
				OnReply: func(id string, r protocol.Reply) { n.sys.Reply(id, r) },
				OnError: func(id string, e *protocol.Error) {
					metrics.ClientErrors.WithLabelValues(strconv.Itoa(e.Code)).Inc()
					n.sys.DeliverConn(id, protocol.EncodeError(nil, e))
				},
			}, c, log)
			b.messages[fl.From.Operation] = append(b.messages[fl.From.Operation], m)
		} else {
			// Flows to one connector and target share a queue, so the
			// events of a connection reach it in order whatever flows
			// carry them.
			key := fl.To.Connector + " " + fl.To.Target
			w := queues[key]
			if w == nil {
				w = backend.NewWebhooks(backend.WebhookConfig{
					Target: fl.To.Target, Batch: hc.Batch, QueueSize: hc.QueueSize, RetryFor: hc.RetryFor,
					Lanes: min(hc.MaxInFlight, 8), IDPrefix: idPrefix + strconv.Itoa(i) + ".",
				}, c, log)
				queues[key] = w
				b.queues = append(b.queues, w)
			}
			if !slices.Contains(b.hooks[fl.From.Operation], w) {
				b.hooks[fl.From.Operation] = append(b.hooks[fl.From.Operation], w)
			}
		}
		n.log.Info("flow ready", "flow", fl.Name, "from", fl.From.Connector+":"+fl.From.Operation, "to", fl.To.Connector+":"+fl.To.Target)
	}
	return b, nil
}

// readSecret reads a connector's key: the file's bytes, a trailing newline
// removed.
func readSecret(path string) ([]byte, error) {
	s, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w", err)
	}
	s = bytes.TrimRight(s, "\r\n")
	if len(s) == 0 {
		return nil, fmt.Errorf("secret_file %s is empty", path)
	}
	return s, nil
}

// onEvent hands an event to the backend flows that take it. It runs on the
// connection's actor and does not block.
func (b *backends) onEvent(event string, payload []byte, reply string) {
	if ms := b.messages[event]; len(ms) > 0 {
		id, ok := strings.CutPrefix(reply, b.replyPfx)
		if ok {
			for _, m := range ms {
				m.Post(id, payload)
			}
		}
	}
	for _, w := range b.hooks[event] {
		w.Enqueue(orderKey(payload), payload)
	}
}

// orderKey is what orders an event's webhooks: its connection id, else
// its room (room lifecycle events), else nothing.
func orderKey(payload []byte) string {
	for _, field := range []string{`"connection_id":"`, `"room":"`} {
		if i := bytes.Index(payload, []byte(field)); i >= 0 {
			rest := payload[i+len(field):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				return string(rest[:j])
			}
		}
	}
	return ""
}

// decidesJoins reports whether some backend decides joins.
func (b *backends) decidesJoins() bool { return b.join != nil || len(b.nsJoin) > 0 }

// joinDecider returns the proxy that decides joins to room, or nil: the
// join_proxy of the room's namespace, else the join proxy when one of its
// patterns matches.
func (b *backends) joinDecider(room string) *backend.Proxy {
	if len(b.nsJoin) > 0 {
		if ns, ok := b.n.namespaces.Lookup(room); ok && ns.JoinProxy != "" {
			return b.nsJoin[ns.Name]
		}
	}
	if b.join != nil {
		for _, p := range b.joinRooms {
			if namespace.Match(p, room) {
				return b.join
			}
		}
	}
	return nil
}

// authorizeJoin is the actors' AuthorizeJoin: it asks the join proxy on a
// goroutine of its own, at most maxPendingJoins at once.
func (b *backends) authorizeJoin(room string, req []byte, done func(*protocol.Error)) bool {
	p := b.joinDecider(room)
	if p == nil {
		return false
	}
	select {
	case b.joinSlots <- struct{}{}:
	default:
		metrics.BackendErrors.WithLabelValues(p.Connector(), backend.KindOverloaded).Inc()
		done(p.Overloaded())
		return true
	}
	b.wg.Go(func() {
		defer func() { <-b.joinSlots }()
		done(p.Join(context.Background(), req))
	})
	return true
}

// authenticate asks the connect proxy about an upgrade that passed the
// hub's own checks, and applies its answer to id. It blocks for at most the
// connector's timeout (never on a gateway worker: see AuthenticateBlocks).
func (b *backends) authenticate(r *http.Request, id *identity) error {
	meta := protocol.ConnMeta{
		User: id.user, Node: b.n.cfg.Node.Name, Peer: peerOf(r.RemoteAddr, r.Header),
		Method: r.Method, Path: r.URL.Path, Params: b.n.routeParams(r),
		Query: r.URL.Query(), Headers: proxyHeaders(r.Header),
	}
	body := protocol.AppendEvent(nil, protocol.EventConnect, time.Now(), protocol.EncodeMeta(&meta), nil)
	d := b.connect.Connect(r.Context(), body)
	if d.Failed != nil && b.warn.allow() {
		b.n.log.Warn("connect proxy failed", "connector", b.connect.Connector(), "err", d.Failed, "accepted", d.Accept)
	}
	if !d.Accept {
		return &gateway.HTTPError{Status: d.Status, Message: d.Error}
	}
	a := d.Answer
	if a.User != "" {
		id.user = a.User
	}
	if a.Rooms != nil {
		id.rooms = *a.Rooms
		if id.rooms == nil {
			id.rooms = []string{}
		}
	}
	id.info = a.Info
	id.join = a.Join
	if a.ExpiresAt > 0 {
		id.expires = time.Unix(a.ExpiresAt, 0)
	}
	return nil
}

var paramRe = regexp.MustCompile(`\{([^}.]*)(\.\.\.)?\}`)

// routeParams returns the route params of an upgrade request.
func (n *Node) routeParams(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, m := range paramRe.FindAllStringSubmatch(n.cfg.WebSocket.Path, -1) {
		if m[1] != "" && m[1] != "$" {
			out[m[1]] = r.PathValue(m[1])
		}
	}
	return out
}

// shutdown drains the message flows and the webhook queues, bounded by ctx.
func (b *backends) shutdown(ctx context.Context) error {
	var errs []error
	for _, ms := range b.messages {
		for _, m := range ms {
			errs = append(errs, m.Shutdown(ctx))
		}
	}
	for _, w := range b.queues {
		if err := w.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("webhooks: %d events not delivered: %w", w.Depth(), err))
		}
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	for _, c := range b.callers {
		if h, ok := c.(*backend.HTTP); ok {
			h.CloseIdle()
		}
	}
	return errors.Join(errs...)
}

// proxyHeaders are the headers the connect proxy sees: all of them,
// credentials included, but the WebSocket key.
func proxyHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if k != "Sec-Websocket-Key" {
			out[k] = v
		}
	}
	return out
}
