package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/gateway"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// Server-Sent Events: GET /sse on the WebSocket port, for clients that only
// receive (an EventSource in a browser, curl, a proxy that does not pass
// WebSocket). Each SSE client is an ordinary hub connection: it has a
// connection id, is counted, appears in connect and disconnect events,
// receives what is sent to its rooms, its user, its connection id and
// everyone, and can be kicked through the API.
//
//	GET /sse?room=a&room=b        (or ?rooms=a,b), token as for WebSocket:
//	                              ?token= or Authorization: Bearer; ?user= in dev mode
//
// The response starts only once every room is joined (403 or 400 with a
// JSON error when one is refused), with:
//
//	retry: 2000
//	event: connected
//	data: {"connection_id":"n1.k3x","user":"bob","rooms":["a","b"]}
//
// then one event per server frame, numbered per connection:
//
//	id: 1
//	data: {"type":"message","room":"a","data":{"text":"hi"}}
//
// and a comment (": ping") every ping_interval so proxies keep the stream
// open. When the hub ends the connection it sends
//
//	event: close
//	data: {"code":4500,"reason":"kicked"}
//
// before ending the response; codes as for WebSocket (1001 shutdown and
// 4000-4499: reconnect; 4500-4999 and 1000: do not, so call
// EventSource.close()).
// Last-Event-ID is ignored: delivery is at most once, as on WebSocket, and
// messages sent while a client is away are not replayed.
//
// The outbound queue is bounded by ws.write_queue_bytes and
// ws.write_queue_frames like a WebSocket's; a client that falls behind is
// closed as a slow consumer (1008).

// sseRetry is the reconnect delay EventSource clients are told, in ms.
const sseRetry = 2000

// sseJoinTimeout bounds waiting for the joins of the requested rooms.
const sseJoinTimeout = 10 * time.Second

// sseServer serves /sse for one node and closes its streams when the node
// shuts down (http.Server.Shutdown does not end streaming handlers).
type sseServer struct {
	n *Node

	mu       sync.Mutex
	conns    map[*sseConn]struct{}
	watching bool // the drain watcher runs
}

// mountSSE serves Server-Sent Events at GET /sse.
func mountSSE(mux *http.ServeMux, n *Node) {
	s := &sseServer{n: n, conns: make(map[*sseConn]struct{})}
	mux.HandleFunc("GET /sse", s.serve)
}

// sseConn is the sink of one SSE client: a bounded queue the handler
// drains. Send and Close never block.
type sseConn struct {
	maxBytes  int
	maxFrames int
	wake      chan struct{} // size 1: something to do

	mu     sync.Mutex
	q      [][]byte
	qbytes int
	closed bool
	code   uint16
	reason string
}

func (c *sseConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Send queues a frame; false when the connection is closed or the queue is
// over its bounds (which closes it as a slow consumer).
func (c *sseConn) Send(p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if len(c.q)+1 > c.maxFrames || c.qbytes+len(p) > c.maxBytes {
		c.closeLocked(gateway.ReasonSlowConsumer.Code(), gateway.ReasonSlowConsumer.String())
		return false
	}
	c.q = append(c.q, p)
	c.qbytes += len(p)
	c.signal()
	return true
}

// Close ends the stream with code and reason (sent as the close event).
func (c *sseConn) Close(code uint16, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

func (c *sseConn) closeLocked(code uint16, reason string) {
	if c.closed {
		return
	}
	c.closed, c.code, c.reason = true, code, reason
	c.signal()
}

// take returns the queued frames and whether the connection is closed.
func (c *sseConn) take(dst [][]byte) ([][]byte, bool, uint16, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst = append(dst, c.q...)
	clear(c.q)
	c.q, c.qbytes = c.q[:0], 0
	return dst, c.closed, c.code, c.reason
}

var _ actors.Sink = (*sseConn)(nil)

// sseRooms returns the rooms a request asks for: ?room= (repeatable) and
// ?rooms=a,b, without duplicates.
func sseRooms(q url.Values) ([]string, error) {
	var rooms []string
	seen := map[string]bool{}
	add := func(r string) error {
		if r = strings.TrimSpace(r); r == "" || seen[r] {
			return nil
		}
		if !protocol.ValidName(r) {
			return errors.New("invalid room name: " + strconv.Quote(r))
		}
		seen[r] = true
		rooms = append(rooms, r)
		return nil
	}
	for _, r := range q["room"] {
		if err := add(r); err != nil {
			return nil, err
		}
	}
	for _, list := range q["rooms"] {
		for r := range strings.SplitSeq(list, ",") {
			if err := add(r); err != nil {
				return nil, err
			}
		}
	}
	return rooms, nil
}

func (s *sseServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.n
	cfg := n.cfg
	if n.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if !sseOriginAllowed(r, cfg.WebSocket.AllowedOrigins) {
		metrics.SSERejected.WithLabelValues("403").Inc()
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
	}
	rooms, err := sseRooms(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if max := cfg.WebSocket.MaxRoomsPerConnection; max > 0 && len(rooms) > max {
		writeError(w, http.StatusBadRequest, "too many rooms for this connection")
		return
	}
	id, err := n.auth.authenticate(r)
	if err != nil {
		status := http.StatusUnauthorized
		msg := err.Error()
		var he *gateway.HTTPError
		if errors.As(err, &he) {
			status, msg = he.Status, he.Message
		}
		metrics.SSERejected.WithLabelValues(strconv.Itoa(status)).Inc()
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
		}
		writeError(w, status, msg)
		return
	}
	// Streams count against the node's connection limits with the
	// WebSocket connections.
	release, msg, ok := n.gw.Reserve(r.RemoteAddr)
	if !ok {
		metrics.SSERejected.WithLabelValues("503").Inc()
		writeError(w, http.StatusServiceUnavailable, msg)
		return
	}
	defer release()
	rc := http.NewResponseController(w)

	sink := &sseConn{
		maxBytes:  cfg.WebSocket.WriteQueueBytes,
		maxFrames: cfg.WebSocket.WriteQueueFrames,
		wake:      make(chan struct{}, 1),
	}
	conn := n.sys.Open(sink, sseOpenRequest(r, id))
	metrics.ConnectionsAccepted.Inc()
	metrics.Connections.Inc()
	s.add(sink)
	reason := "client_close"
	defer func() {
		s.remove(sink)
		if reason == gateway.ReasonSlowConsumer.String() {
			metrics.SlowConsumers.Inc()
		}
		metrics.Connections.Dec()
		conn.Closed(reason)
	}()

	// Join the rooms before the response starts, so a client that sees the
	// stream open gets everything sent to its rooms from then on.
	held, status, jerr := s.join(r, sink, conn, rooms)
	if jerr != "" {
		reason = "join_refused"
		if status == 0 {
			reason = "connection_lost"
			return
		}
		writeError(w, status, jerr)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	hello, _ := json.Marshal(map[string]any{"connection_id": conn.ID(), "user": conn.User(), "rooms": nonNil(rooms)})
	buf := make([]byte, 0, 4096)
	buf = append(buf, "retry: "+strconv.Itoa(sseRetry)+"\nevent: connected\ndata: "...)
	buf = append(buf, hello...)
	buf = append(buf, "\n\n"...)
	var seq uint64
	for _, f := range held {
		seq++
		buf = appendSSE(buf, seq, f)
	}
	write := func() bool {
		if wt := cfg.WebSocket.WriteTimeout; wt > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(wt))
		}
		_, err := w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		buf = buf[:0]
		return err == nil
	}
	if !write() {
		reason = "write_error"
		return
	}

	ping := time.NewTicker(cfg.WebSocket.PingInterval)
	defer ping.Stop()
	var frames [][]byte
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			buf = append(buf, ": ping\n\n"...)
			if !write() {
				reason = "write_error"
				return
			}
			continue
		case <-sink.wake:
		}
		var closed bool
		var code uint16
		var why string
		frames, closed, code, why = sink.take(frames[:0])
		for _, f := range frames {
			seq++
			buf = appendSSE(buf, seq, f)
		}
		clear(frames)
		if closed {
			reason = why
			b, _ := json.Marshal(map[string]any{"code": code, "reason": why})
			buf = append(buf, "event: close\ndata: "...)
			buf = append(buf, b...)
			buf = append(buf, "\n\n"...)
			_ = write()
			return
		}
		if len(buf) > 0 && !write() {
			reason = "write_error"
			// A write stuck behind a full socket fails after the queue
			// overflowed: that is a slow consumer.
			if _, closed, _, why := sink.take(nil); closed {
				reason = why
			}
			return
		}
	}
}

// join feeds join frames for rooms to the connection and waits for their
// answers. Other frames arriving meanwhile are returned to be sent first.
// On a refusal it returns the HTTP status and message (status 0: the
// client went away or the connection was closed).
func (s *sseServer) join(r *http.Request, sink *sseConn, conn *actors.Conn, rooms []string) ([][]byte, int, string) {
	if len(rooms) == 0 {
		return nil, 0, ""
	}
	waiting := make(map[string]string, len(rooms)) // id JSON -> room
	for i, room := range rooms {
		idJSON := `"sse-join-` + strconv.Itoa(i) + `"`
		waiting[idJSON] = room
		conn.Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, ID: []byte(idJSON), Room: room})
	}
	timer := time.NewTimer(sseJoinTimeout)
	defer timer.Stop()
	var held, frames [][]byte
	for len(waiting) > 0 {
		select {
		case <-r.Context().Done():
			return nil, 0, "client went away"
		case <-timer.C:
			return nil, http.StatusServiceUnavailable, "joining rooms timed out"
		case <-sink.wake:
		}
		var closed bool
		frames, closed, _, _ = sink.take(frames[:0])
		for _, f := range frames {
			var a struct {
				Type    string          `json:"type"`
				ID      json.RawMessage `json:"id"`
				Code    int             `json:"code"`
				Message string          `json:"message"`
			}
			if bytes.HasPrefix(f, []byte(`{"type":"ack"`)) || bytes.HasPrefix(f, []byte(`{"type":"error"`)) {
				if json.Unmarshal(f, &a) == nil {
					if room, ok := waiting[string(a.ID)]; ok {
						if a.Type == "error" {
							status := http.StatusBadRequest
							if a.Code >= 200 && a.Code < 300 {
								status = http.StatusForbidden
							}
							return nil, status, "room " + room + ": " + a.Message
						}
						delete(waiting, string(a.ID))
						continue
					}
				}
			}
			held = append(held, f)
		}
		if closed {
			return nil, 0, "closed"
		}
	}
	return held, 0, ""
}

func appendSSE(b []byte, seq uint64, frame []byte) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, "\ndata: "...)
	b = append(b, frame...) // server frames are single-line JSON
	return append(b, "\n\n"...)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sseOpenRequest describes an SSE client as the events show it: the same
// fields as a WebSocket connection's, minus private headers and the token.
func sseOpenRequest(r *http.Request, id *identity) *actors.OpenRequest {
	return openRequest(id, r.RemoteAddr, r.Method, r.URL.Path, r.Header.Clone(), r.URL.Query())
}

// sseOriginAllowed applies ws.allowed_origins to a cross-origin request, as
// the WebSocket upgrade does.
func sseOriginAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(allowed) == 0 {
		return true
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		scheme, host, ok := strings.Cut(a, "://")
		if !ok || !strings.HasPrefix(host, "*.") || u == nil {
			continue
		}
		suffix := host[1:]
		if strings.EqualFold(u.Scheme, scheme) && len(u.Host) > len(suffix) &&
			strings.EqualFold(u.Host[len(u.Host)-len(suffix):], suffix) {
			return true
		}
	}
	return false
}

// add registers a stream; the first one starts the drain watcher.
func (s *sseServer) add(c *sseConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	if !s.watching {
		s.watching = true
		go s.watch()
	}
}

func (s *sseServer) remove(c *sseConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// watch closes every stream with 1001 once the node drains. It runs while
// streams are open: the node's Shutdown waits for them (the HTTP server's
// Shutdown waits for their handlers), so it cannot outlive the node.
func (s *sseServer) watch() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		draining := s.n.draining.Load()
		s.mu.Lock()
		if draining {
			for c := range s.conns {
				c.Close(gateway.ReasonShutdown.Code(), gateway.ReasonShutdown.String())
			}
		}
		if len(s.conns) == 0 {
			s.watching = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}
