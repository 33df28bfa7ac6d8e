//go:build linux

package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func testServer_EchoRoundTrip(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws")
	for _, msg := range []string{"hello", "", strings.Repeat("x", 60000), "héllo wörld"} {
		c.writeFrame(ws.OpText, true, []byte(msg))
		c.expectText(msg)
	}
	if n := s.NumConns(); n != 1 {
		t.Fatalf("NumConns() = %d, want 1", n)
	}
	eventually(t, 5*time.Second, func() error {
		// Counters are updated just after the write, so poll.
		if st := s.Stats(); st.Accepted != 1 || st.FramesIn < 4 || st.FramesOut < 4 || st.Writes == 0 {
			return fmt.Errorf("Stats() = %+v", st)
		}
		return nil
	})
}

func testServer_RequestHasParamsQueryHeaders(t *testing.T) {
	h := newRecorder()
	h.auth = func(r *http.Request) (any, error) { return "user:" + r.URL.Query().Get("user"), nil }
	s := startServer(t, Config{Path: "/ws/{tenant}/{room}"}, h)
	hdr := http.Header{"X-Test": {"yes"}}
	c, err := dialErr(s, "/ws/acme/lobby?user=bob&x=1", hdr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.nc.Close()
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return errors.New("not opened")
		}
		return nil
	})
	r := h.opens[0]
	if r.Params["tenant"] != "acme" || r.Params["room"] != "lobby" || len(r.Params) != 2 {
		t.Errorf("Params = %v", r.Params)
	}
	if r.Query.Get("user") != "bob" || r.Query.Get("x") != "1" {
		t.Errorf("Query = %v", r.Query)
	}
	if r.Header.Get("X-Test") != "yes" {
		t.Errorf("Header = %v", r.Header)
	}
	if r.Identity != "user:bob" || r.Method != "GET" || r.Path != "/ws/acme/lobby" {
		t.Errorf("Request = %+v", r)
	}
	if !strings.HasPrefix(r.RemoteAddr, "127.0.0.2:") || h.conn(0).RemoteAddr() != r.RemoteAddr {
		t.Errorf("RemoteAddr = %q, conn %q", r.RemoteAddr, h.conn(0).RemoteAddr())
	}
	if code, _ := httpUpgrade(t, s, "/ws", nil, true); code != http.StatusNotFound {
		t.Errorf("GET /ws = %d, want 404", code)
	}
}

// rawFrame builds a client frame by hand.
func rawFrame(b0 byte, masked bool, length uint64, payload []byte) []byte {
	out := []byte{b0}
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch {
	case length < 126:
		out = append(out, mbit|byte(length))
	case length <= 0xffff:
		out = append(out, mbit|126, byte(length>>8), byte(length))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, length)
	}
	if masked {
		mask := [4]byte{1, 2, 3, 4}
		out = append(out, mask[:]...)
		p := append([]byte(nil), payload...)
		ws.Cipher(p, mask, 0)
		payload = p
	}
	return append(out, payload...)
}

func testServer_ClosesOnBadFrames(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		code   uint16
		reason string
	}{
		{
			name:   "unmasked",
			frame:  rawFrame(0x81, false, 2, []byte("hi")),
			code:   1002,
			reason: "protocol_error",
		},
		{
			name:   "reserved bits",
			frame:  rawFrame(0x81|0x40, true, 2, []byte("hi")),
			code:   1002,
			reason: "protocol_error",
		},
		{
			name:   "reserved opcode",
			frame:  rawFrame(0x83, true, 2, []byte("hi")),
			code:   1002,
			reason: "protocol_error",
		},
		{
			name:   "long ping",
			frame:  rawFrame(0x89, true, 126, make([]byte, 126)),
			code:   1002,
			reason: "protocol_error",
		},
		{
			name:   "fragmented ping",
			frame:  rawFrame(0x09, true, 1, []byte("x")),
			code:   1002,
			reason: "protocol_error",
		},
		{
			name:   "continuation first",
			frame:  rawFrame(0x80, true, 1, []byte("x")),
			code:   1002,
			reason: "protocol_error",
		},
		{
			name:   "binary",
			frame:  rawFrame(0x82, true, 3, []byte{1, 2, 3}),
			code:   1003,
			reason: "unsupported_data",
		},
		{
			name:   "invalid utf8",
			frame:  rawFrame(0x81, true, 2, []byte{0xff, 0xfe}),
			code:   1007,
			reason: "invalid_utf8",
		},
		{
			name:   "10 MiB header",
			frame:  append(rawFrame(0x81, true, 10<<20, nil), make([]byte, 1000)...),
			code:   1009,
			reason: "too_big",
		},
		{
			name:   "fragments over limit",
			frame:  append(rawFrame(0x01, true, 40000, make([]byte, 40000)), rawFrame(0x80, true, 40000, make([]byte, 40000))...),
			code:   1009,
			reason: "too_big",
		},
		{
			name:   "text during fragmented message",
			frame:  append(rawFrame(0x01, true, 1, []byte("a")), rawFrame(0x81, true, 1, []byte("b"))...),
			code:   1002,
			reason: "protocol_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			s := startServer(t, Config{}, h)
			c := dial(t, s, "/ws")
			c.writeRaw(tt.frame)
			code, reason := c.expectClose()
			if code != tt.code || reason != tt.reason {
				t.Fatalf("close = %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
			eventually(t, 5*time.Second, func() error {
				got := h.closeOf(0)
				if len(got) != 1 || got[0] != (closeEvent{tt.code, tt.reason}) {
					return fmt.Errorf("OnClose = %v", got)
				}
				return nil
			})
			if n := s.NumConns(); n != 0 {
				t.Fatalf("NumConns() = %d after close", n)
			}
		})
	}
}

func testServer_FragmentedTextReassembled(t *testing.T) {
	rec := newRecorder()
	s := startServer(t, Config{}, rec)
	c := dial(t, s, "/ws")
	c.writeFrame(ws.OpText, false, []byte("hel"))
	c.writeFrame(ws.OpPing, true, []byte("mid")) // control frames may interleave
	c.writeFrame(ws.OpContinuation, false, []byte("lo "))
	c.writeFrame(ws.OpContinuation, true, []byte("wörld"))
	h, p, err := c.readFrame(5 * time.Second)
	if err != nil || h.OpCode != ws.OpPong || string(p) != "mid" {
		t.Fatalf("got %v %q %v, want pong mid", h.OpCode, p, err)
	}
	c.expectText("hello wörld")
	// Byte by byte: partial headers and payloads across reads.
	for _, b := range rawFrame(0x81, true, 5, []byte("slow!")) {
		c.writeRaw([]byte{b})
	}
	c.expectText("slow!")
	// Complete again: the connection keeps no reader state.
	eventually(t, 5*time.Second, func() error { return readerIdle(rec.conn(0)) })
}

func testServer_ClientPingAnswered(t *testing.T) {
	s := startServer(t, Config{}, newRecorder())
	c := dial(t, s, "/ws")
	c.writeFrame(ws.OpPing, true, []byte("are you there"))
	h, p, err := c.readFrame(5 * time.Second)
	if err != nil || h.OpCode != ws.OpPong || string(p) != "are you there" {
		t.Fatalf("got %v %q %v, want pong", h.OpCode, p, err)
	}
}

func testServer_ClientCloseEchoed(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws")
	c.writeFrame(ws.OpClose, true, ws.NewCloseFrameBody(4321, "bye"))
	if code, _ := c.expectClose(); code != 4321 {
		t.Fatalf("echoed close code %d, want 4321", code)
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{4321, "client_close"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
}

func testServer_PeerGoneIsConnectionLost(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws")
	c.writeFrame(ws.OpText, true, []byte("x"))
	c.expectText("x")
	c.nc.Close()
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{1006, "connection_lost"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
	if n := s.NumConns(); n != 0 {
		t.Fatalf("NumConns() = %d", n)
	}
}

func testServer_PongTimeoutCloses4001(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{PingInterval: 100 * time.Millisecond, PongTimeout: 200 * time.Millisecond}, h)
	c := dial(t, s, "/ws")
	start := time.Now()
	pings := 0
	for {
		hd, p, err := c.readFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if hd.OpCode == ws.OpPing {
			pings++
			continue
		}
		if hd.OpCode != ws.OpClose {
			t.Fatalf("unexpected op %v", hd.OpCode)
		}
		if code := binary.BigEndian.Uint16(p); code != 4001 || string(p[2:]) != "timeout" {
			t.Fatalf("close = %d %q, want 4001 timeout", code, p[2:])
		}
		break
	}
	// The server's clock starts at its accept, a little before dial
	// returns here: at least the pong timeout must have passed.
	if el := time.Since(start); pings == 0 || el < 200*time.Millisecond {
		t.Fatalf("closed after %v with %d pings", el, pings)
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{4001, "timeout"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
}

func testServer_PongKeepsAlive(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, h)
	c := dial(t, s, "/ws")
	pings := 0
	for pings < 6 {
		hd, p, err := c.readFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if hd.OpCode != ws.OpPing {
			t.Fatalf("got op %v, want ping", hd.OpCode)
		}
		pings++
		c.writeFrame(ws.OpPong, true, p)
	}
	if got := h.closeOf(0); len(got) != 0 {
		t.Fatalf("closed: %v", got)
	}
}

// A member that stops reading is ended as soon as its queue overflows, not
// after the write timeout: OnClose gets 1008 "slow_consumer" at once.
func testServer_SlowConsumerClosed(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{WriteTimeout: time.Minute}, h)
	c := dial(t, s, "/ws") // never reads
	_ = c.nc.(*net.TCPConn).SetReadBuffer(4096)
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return errors.New("not open")
		}
		return nil
	})
	conn := h.conn(0)
	chunk := make([]byte, 1<<10)
	var refusedAt time.Time
	for range 20000 { // 20 MiB
		if !conn.Send(chunk) {
			refusedAt = time.Now()
			break
		}
	}
	if refusedAt.IsZero() {
		t.Fatal("Send never refused 20 MiB")
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{1008, "slow_consumer"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
	if took := time.Since(refusedAt); took > 5*time.Second {
		t.Fatalf("OnClose %v after the overflow", took)
	}
	if conn.Send([]byte("x")) {
		t.Fatal("Send after close = true")
	}
	st := s.Stats()
	if st.SlowConsumers != 1 || st.Closed["slow_consumer"] != 1 || s.NumConns() != 0 {
		t.Fatalf("SlowConsumers %d, closed %v, open %d", st.SlowConsumers, st.Closed, s.NumConns())
	}
}

// An overflow while the socket still takes data (a burst faster than the
// flushers) sends the close frame, and the peer reads it after what was
// already leaving.
func testServer_SlowConsumerGetsCloseFrame(t *testing.T) {
	h := newRecorder()
	h.echo = false
	s := startServer(t, Config{WriteQueueFrames: 8, WriteTimeout: time.Minute}, h)
	c := dial(t, s, "/ws")
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return errors.New("not open")
		}
		return nil
	})
	conn := h.conn(0)
	refused := false
	for range 1000 {
		if !conn.Send([]byte("burst")) {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("Send never refused 1,000 frames over a queue of 8")
	}
	if code, reason := c.expectClose(); code != 1008 || reason != "slow_consumer" {
		t.Fatalf("close frame %d %q", code, reason)
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{1008, "slow_consumer"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
}

func testServer_CloseKickedSeenByClient(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws")
	c.writeFrame(ws.OpText, true, []byte("hi"))
	c.expectText("hi")
	h.conn(0).Send([]byte("last words"))
	h.conn(0).Close(4000, "kicked")
	c.expectText("last words")
	if code, reason := c.expectClose(); code != 4000 || reason != "kicked" {
		t.Fatalf("close = %d %q", code, reason)
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{4000, "kicked"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
}

func testServer_OnOpenMaySendAndClose(t *testing.T) {
	h := newRecorder()
	h.onOpen = func(c *Conn, r *Request) {
		c.SetValue(r.Query.Get("v"))
		c.Send([]byte("welcome " + c.Value().(string)))
		if r.Query.Get("end") != "" {
			c.Close(4002, "reply_end")
		}
	}
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws?v=1")
	c.expectText("welcome 1")
	c2 := dial(t, s, "/ws?v=2&end=1")
	c2.expectText("welcome 2")
	if code, reason := c2.expectClose(); code != 4002 || reason != "reply_end" {
		t.Fatalf("close = %d %q", code, reason)
	}
}

func testServer_UpgradeRejections(t *testing.T) {
	authErr := func(err error) func(*http.Request) (any, error) {
		return func(*http.Request) (any, error) { return nil, err }
	}
	tests := []struct {
		name    string
		cfg     Config
		auth    func(*http.Request) (any, error)
		header  http.Header
		upgrade bool
		hold    int // connections opened first
		status  int
		body    string
	}{
		{
			name:    "max conns",
			cfg:     Config{MaxConns: 2},
			upgrade: true,
			hold:    2,
			status:  503,
			body:    `{"error":"too many connections"}`,
		},
		{
			name:    "max conns per ip",
			cfg:     Config{MaxConnsPerIP: 1},
			upgrade: true,
			hold:    1,
			status:  503,
			body:    `{"error":"too many connections from this address"}`,
		},
		{
			name:    "origin",
			cfg:     Config{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"}},
			header:  http.Header{"Origin": {"https://evil.example.net"}},
			upgrade: true,
			status:  403,
			body:    `{"error":"origin not allowed"}`,
		},
		{
			name:    "auth error",
			auth:    authErr(errors.New("bad token")),
			upgrade: true,
			status:  401,
			body:    `{"error":"bad token"}`,
		},
		{
			name:    "auth http error",
			auth:    authErr(fmt.Errorf("wrapped: %w", &HTTPError{Status: 403, Message: "room forbidden"})),
			upgrade: true,
			status:  403,
			body:    `{"error":"room forbidden"}`,
		},
		{
			name:   "not an upgrade",
			status: 400,
			body:   `{"error":"websocket upgrade required"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecorder()
			h.auth = tt.auth
			s := startServer(t, tt.cfg, h)
			for range tt.hold {
				dial(t, s, "/ws")
			}
			eventually(t, 5*time.Second, func() error {
				if h.numOpen() != tt.hold {
					return fmt.Errorf("opened %d, want %d", h.numOpen(), tt.hold)
				}
				return nil
			})
			status, body := httpUpgrade(t, s, "/ws", tt.header, tt.upgrade)
			if status != tt.status || strings.TrimSpace(body) != tt.body {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.body)
			}
			if h.numOpen() != tt.hold {
				t.Fatalf("opened %d, want %d", h.numOpen(), tt.hold)
			}
		})
	}
}

func testServer_OriginsAllowed(t *testing.T) {
	s := startServer(t, Config{AllowedOrigins: []string{"https://App.example.com", "https://*.example.org"}}, newRecorder())
	for _, origin := range []string{
		"https://app.example.com",
		"https://a.example.org",
		"https://x.y.EXAMPLE.org",
		"http://" + s.Addr().String(), // same host
	} {
		if status, body := httpUpgrade(t, s, "/ws", http.Header{"Origin": {origin}}, true); status != 101 {
			t.Errorf("origin %s: %d %s, want 101", origin, status, body)
		}
	}
	for _, origin := range []string{"http://app.example.com", "https://example.org", "https://a.example.org.evil.com"} {
		if status, _ := httpUpgrade(t, s, "/ws", http.Header{"Origin": {origin}}, true); status != 403 {
			t.Errorf("origin %s: %d, want 403", origin, status)
		}
	}
}

func testServer_ShutdownClosesAll(t *testing.T) {
	base := runtime.NumGoroutine()
	h := newRecorder()
	s, err := New(Config{Addr: "127.0.0.1:0"}, h, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var clients []*client
	for range 20 {
		clients = append(clients, dial(t, s, "/ws"))
	}
	eventually(t, 5*time.Second, func() error {
		if s.NumConns() != 20 {
			return fmt.Errorf("NumConns() = %d", s.NumConns())
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	for _, c := range clients {
		if code, reason := c.expectClose(); code != 1001 || reason != "shutdown" {
			t.Fatalf("close = %d %q", code, reason)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !s.Draining() || s.NumConns() != 0 {
		t.Fatalf("Draining %v NumConns %d", s.Draining(), s.NumConns())
	}
	for i := range 20 {
		if got := h.closeOf(i); len(got) != 1 || got[0] != (closeEvent{1001, "shutdown"}) {
			t.Fatalf("conn %d OnClose = %v", i, got)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Shutdown = %v", err)
	}
	for _, c := range clients {
		c.nc.Close()
	}
	eventually(t, 5*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, %d before", n, base)
		}
		return nil
	})
}

func TestServer_IdleConnsHoldNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 sockets")
	}
	s := startServer(t, Config{}, newRecorder())
	base := runtime.NumGoroutine()
	const n = 2000
	conns := make([]*client, 0, n)
	for range n {
		c, err := dialErr(s, "/ws", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.t = t
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.nc.Close()
		}
	})
	eventually(t, 10*time.Second, func() error {
		if s.NumConns() != n {
			return fmt.Errorf("NumConns() = %d", s.NumConns())
		}
		return nil
	})
	got := runtime.NumGoroutine() - base
	t.Logf("%d idle connections: %d goroutines above baseline (%d total)", n, got, runtime.NumGoroutine())
	if got > 50 {
		t.Fatalf("%d goroutines above baseline with %d idle conns", got, n)
	}
	// They still work.
	conns[n-1].writeFrame(ws.OpText, true, []byte("still here"))
	conns[n-1].expectText("still here")
}

func testServer_StuckWriteIsWriteError(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{WriteTimeout: 200 * time.Millisecond, WriteQueueBytes: 64 << 20, WriteQueueFrames: 1 << 16}, h)
	_ = dial(t, s, "/ws") // never reads
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return errors.New("not open")
		}
		return nil
	})
	conn := h.conn(0)
	chunk := make([]byte, 64<<10)
	for range 256 { // 16 MiB: more than the socket buffers hold
		if !conn.Send(chunk) {
			t.Fatal("Send refused within the queue bounds")
		}
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{1006, "write_error"}) {
			return fmt.Errorf("OnClose = %v", got)
		}
		return nil
	})
}

func testConn_ConcurrentSendsArriveWhole(t *testing.T) {
	h := newRecorder()
	h.echo = false
	s := startServer(t, Config{WriteQueueFrames: 1 << 16, WriteQueueBytes: 64 << 20}, h)
	c := dial(t, s, "/ws")
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return errors.New("not open")
		}
		return nil
	})
	conn := h.conn(0)
	const senders, each = 8, 500
	shared := []byte(strings.Repeat("s", 300)) // one slice shared by every Send
	done := make(chan struct{})
	for g := range senders {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				if i%2 == 0 {
					conn.Send(shared)
				} else {
					conn.Send(fmt.Appendf(nil, "%d:%d", g, i))
				}
			}
		}()
	}
	next := make([]int, senders)
	for range senders * each {
		hd, p, err := c.readFrame(5 * time.Second)
		if err != nil || hd.OpCode != ws.OpText || !hd.Fin {
			t.Fatalf("read: %v %+v", err, hd)
		}
		if string(p) == string(shared) {
			continue
		}
		var g, i int
		if _, err := fmt.Sscanf(string(p), "%d:%d", &g, &i); err != nil {
			t.Fatalf("bad payload %q", p)
		}
		if i != next[g]+1 {
			t.Fatalf("sender %d: got %d after %d", g, i, next[g])
		}
		next[g] = i + 1
	}
	for range senders {
		<-done
	}
	if strings.Repeat("s", 300) != string(shared) {
		t.Fatal("shared payload was modified")
	}
}

// Each test above runs against both gateways.

func TestServer_EchoRoundTrip(t *testing.T) { bothGateways(t, testServer_EchoRoundTrip) }
func TestServer_RequestHasParamsQueryHeaders(t *testing.T) {
	bothGateways(t, testServer_RequestHasParamsQueryHeaders)
}
func TestServer_ClosesOnBadFrames(t *testing.T) { bothGateways(t, testServer_ClosesOnBadFrames) }
func TestServer_FragmentedTextReassembled(t *testing.T) {
	bothGateways(t, testServer_FragmentedTextReassembled)
}
func TestServer_ClientPingAnswered(t *testing.T) { bothGateways(t, testServer_ClientPingAnswered) }
func TestServer_ClientCloseEchoed(t *testing.T)  { bothGateways(t, testServer_ClientCloseEchoed) }
func TestServer_PeerGoneIsConnectionLost(t *testing.T) {
	bothGateways(t, testServer_PeerGoneIsConnectionLost)
}
func TestServer_PongTimeoutCloses4001(t *testing.T) {
	bothGateways(t, testServer_PongTimeoutCloses4001)
}
func TestServer_PongKeepsAlive(t *testing.T)     { bothGateways(t, testServer_PongKeepsAlive) }
func TestServer_SlowConsumerClosed(t *testing.T) { bothGateways(t, testServer_SlowConsumerClosed) }
func TestServer_SlowConsumerGetsCloseFrame(t *testing.T) {
	bothGateways(t, testServer_SlowConsumerGetsCloseFrame)
}
func TestServer_CloseKickedSeenByClient(t *testing.T) {
	bothGateways(t, testServer_CloseKickedSeenByClient)
}
func TestServer_OnOpenMaySendAndClose(t *testing.T) {
	bothGateways(t, testServer_OnOpenMaySendAndClose)
}
func TestServer_UpgradeRejections(t *testing.T) { bothGateways(t, testServer_UpgradeRejections) }
func TestServer_OriginsAllowed(t *testing.T)    { bothGateways(t, testServer_OriginsAllowed) }
func TestServer_ShutdownClosesAll(t *testing.T) { bothGateways(t, testServer_ShutdownClosesAll) }
func TestServer_StuckWriteIsWriteError(t *testing.T) {
	bothGateways(t, testServer_StuckWriteIsWriteError)
}
func TestConn_ConcurrentSendsArriveWhole(t *testing.T) {
	bothGateways(t, testConn_ConcurrentSendsArriveWhole)
}
