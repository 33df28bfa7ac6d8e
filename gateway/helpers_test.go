//go:build linux

package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// recorder is a Handler that records what happens and can echo.
type recorder struct {
	echo   bool
	auth   func(r *http.Request) (any, error)
	onOpen func(c *Conn, r *Request)

	mu     sync.Mutex
	opens  []*Request
	conns  []*Conn
	texts  []string
	closes map[*Conn][]closeEvent
}

type closeEvent struct {
	code   uint16
	reason string
}

func newRecorder() *recorder { return &recorder{echo: true, closes: map[*Conn][]closeEvent{}} }

func (h *recorder) Authenticate(r *http.Request) (any, error) {
	if h.auth != nil {
		return h.auth(r)
	}
	return "anon", nil
}

func (h *recorder) OnOpen(c *Conn, r *Request) {
	h.mu.Lock()
	cp := *r
	h.opens = append(h.opens, &cp)
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	if h.onOpen != nil {
		h.onOpen(c, r)
	}
}

func (h *recorder) OnText(c *Conn, msg []byte) {
	h.mu.Lock()
	h.texts = append(h.texts, string(msg))
	h.mu.Unlock()
	if h.echo {
		c.Send(append([]byte(nil), msg...))
	}
}

func (h *recorder) OnClose(c *Conn, code uint16, reason string) {
	h.mu.Lock()
	h.closes[c] = append(h.closes[c], closeEvent{code, reason})
	h.mu.Unlock()
}

func (h *recorder) numOpen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func (h *recorder) conn(i int) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[i]
}

// closeOf returns the close events of the i-th opened connection.
func (h *recorder) closeOf(i int) []closeEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i >= len(h.conns) {
		return nil
	}
	return append([]closeEvent(nil), h.closes[h.conns[i]]...)
}

func (h *recorder) numClosed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.closes)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// gateways are the implementations the gateway's tests run against.
var gateways = []string{GatewayEpoll, GatewayPortable}

// bothGateways runs test once per gateway, as subtests named after them;
// startServer picks the gateway from the subtest's name.
func bothGateways(t *testing.T, test func(t *testing.T)) {
	for _, g := range gateways {
		t.Run(g, test)
	}
}

// gatewayOf returns the gateway a test runs against: the portable one
// within a "portable" subtest of bothGateways, else epoll.
func gatewayOf(t testing.TB) string {
	for _, part := range strings.Split(t.Name(), "/") {
		if part == GatewayPortable {
			return GatewayPortable
		}
	}
	return GatewayEpoll
}

func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Gateway == "" {
		cfg.Gateway = gatewayOf(t)
	}
	s, err := New(cfg, h, nil, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// eventually polls f until it returns nil or d passes.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var clientIP = net.ParseIP("127.0.0.2")

// netDial dials from 127.0.0.2. IP_BIND_ADDRESS_NO_PORT lets the kernel pick
// the source port at connect time, per destination, so that thousands of
// sockets (and TIME_WAIT leftovers) bound to that IP do not run out of ports.
func netDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: clientIP},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			return errors.Join(err, serr)
		},
	}
	return d.DialContext(ctx, network, addr)
}

// client is a test WebSocket client.
type client struct {
	t  testing.TB
	nc net.Conn
	r  io.Reader
}

func wsURL(s *Server, path string) string { return "ws://" + s.Addr().String() + path }

func dialErr(s *Server, path string, h http.Header) (*client, error) {
	d := ws.Dialer{NetDial: netDial, Timeout: 5 * time.Second}
	if h != nil {
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	nc, br, _, err := d.Dial(context.Background(), wsURL(s, path))
	if err != nil {
		return nil, err
	}
	c := &client{nc: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	return c, nil
}

func dial(t testing.TB, s *Server, path string) *client {
	t.Helper()
	c, err := dialErr(s, path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	c.t = t
	t.Cleanup(func() { c.nc.Close() })
	return c
}

// writeFrame writes one masked client frame.
func (c *client) writeFrame(op ws.OpCode, fin bool, p []byte) {
	c.t.Helper()
	f := ws.MaskFrame(ws.NewFrame(op, fin, p))
	if err := ws.WriteFrame(c.nc, f); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

func (c *client) writeRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one server frame.
func (c *client) readFrame(d time.Duration) (ws.Header, []byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, fmt.Errorf("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// expectText reads frames until a text frame, skipping pings.
func (c *client) expectText(want string) {
	c.t.Helper()
	for {
		h, p, err := c.readFrame(5 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v, want text %.80q", err, want)
		}
		if h.OpCode == ws.OpPing {
			continue
		}
		if h.OpCode != ws.OpText || string(p) != want {
			c.t.Fatalf("got op %v %.80q (%d bytes), want text %.80q (%d bytes)", h.OpCode, p, len(p), want, len(want))
		}
		return
	}
}

// expectClose reads frames until a close frame and returns its code and
// reason, skipping everything else.
func (c *client) expectClose() (uint16, string) {
	c.t.Helper()
	for {
		h, p, err := c.readFrame(5 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v, want close frame", err)
		}
		if h.OpCode != ws.OpClose {
			continue
		}
		if len(p) < 2 {
			return 1005, ""
		}
		return binary.BigEndian.Uint16(p), string(p[2:])
	}
}

// httpUpgrade sends an upgrade request with plain net/http and returns the
// status and body.
func httpUpgrade(t testing.TB, s *Server, path string, h http.Header, upgrade bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	if upgrade {
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
	}
	tr := &http.Transport{DialContext: netDial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var _ = bufio.NewReader
