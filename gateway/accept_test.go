//go:build linux

package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

const upgradeHead = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

// rawClient opens a TCP connection from 127.0.0.2 and reads with a bufio.Reader.
func rawClient(t *testing.T, s *Server) (*client, *bufio.Reader) {
	t.Helper()
	nc, err := netDial(context.Background(), "tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	return &client{t: t, nc: nc, r: br}, br
}

func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp
}

// The RFC 6455 example: the key and accept value of section 1.3.
func TestAcceptKey(t *testing.T) {
	if got := string(appendAcceptKey(nil, "dGhlIHNhbXBsZSBub25jZQ==")); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept key %q", got)
	}
}

// Frames sent in the same packet as the upgrade request are not lost.
func testAccept_FramesWithTheRequest(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	c, br := rawClient(t, s)
	frame := rawFrame(0x81, true, 5, []byte("hello"))
	c.writeRaw(append([]byte(upgradeHead), frame...))
	resp := readResponse(t, br)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
	}
	c.expectText("hello")
}

// A request head that arrives a few bytes at a time is put together, also
// when its final blank line is split between reads.
func testAccept_RequestInPieces(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	for _, size := range []int{1, 2, 3, 7} {
		c, br := rawClient(t, s)
		for i := 0; i < len(upgradeHead); i += size {
			c.writeRaw([]byte(upgradeHead[i:min(i+size, len(upgradeHead))]))
			time.Sleep(200 * time.Microsecond) // separate reads, most of the time
		}
		if resp := readResponse(t, br); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("pieces of %d: status %d", size, resp.StatusCode)
		}
		c.writeFrame(ws.OpText, true, []byte("x"))
		c.expectText("x")
		// The head put together is not kept once the upgrade is done.
		eventually(t, 5*time.Second, func() error { return readerIdle(h.conn(h.numOpen() - 1)) })
	}
}

// Requests that are not upgrades go to net/http with their bodies; a
// connection that made one may upgrade afterwards (keep-alive).
func testAccept_HTTPThenUpgradeOnOneConnection(t *testing.T) {
	h := newRecorder()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(b)))
	})
	s, err := New(Config{Addr: "127.0.0.1:0"}, h, api, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	c, br := rawClient(t, s)
	c.writeRaw([]byte("POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"))
	resp := readResponse(t, br)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "POST /api/x hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	c.writeRaw([]byte(upgradeHead))
	if resp := readResponse(t, br); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade after a request: status %d", resp.StatusCode)
	}
	c.writeFrame(ws.OpText, true, []byte("again"))
	c.expectText("again")
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
}

// Handshakes with a wrong version or key are refused with a JSON body, and
// counted, both on a fresh connection and on a keep-alive one that made a
// plain request first (the hijack path); so is another method than GET.
func testAccept_BadHandshakeHeaders(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	for _, first := range []string{"", "GET /other HTTP/1.1\r\nHost: x\r\n\r\n"} {
		for _, tc := range []struct {
			from, to string
			status   int
			body     string
		}{
			{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", http.StatusUpgradeRequired, `{"error":"unsupported websocket version: only 13"}`},
			{"Sec-WebSocket-Version: 13\r\n", "", http.StatusUpgradeRequired, `{"error":"unsupported websocket version: only 13"}`},
			{"dGhlIHNhbXBsZSBub25jZQ==", "short", http.StatusBadRequest, `{"error":"bad Sec-WebSocket-Key"}`},
			{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", http.StatusBadRequest, `{"error":"bad Sec-WebSocket-Key"}`},
			{"GET /ws", "POST /ws", http.StatusMethodNotAllowed, `{"error":"method not allowed: a websocket upgrade is a GET"}`},
		} {
			c, br := rawClient(t, s)
			if first != "" {
				c.writeRaw([]byte(first))
				resp := readResponse(t, br)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			c.writeRaw([]byte(strings.Replace(upgradeHead, tc.from, tc.to, 1)))
			resp := readResponse(t, br)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || strings.TrimSpace(string(body)) != tc.body || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%q after %q: %d %s %q, want %d %s", tc.to, first, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.body)
			}
			if tc.status == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("426 without Sec-WebSocket-Version: 13: %v", resp.Header)
			}
		}
	}
	if st := s.Stats(); st.Rejected[RejectHandshake] != 8 || st.Rejected[RejectBadRequest] != 2 || h.numOpen() != 0 {
		t.Fatalf("rejected %v, opened %d", st.Rejected, h.numOpen())
	}
}

// A socket that never sends its request is closed after the handshake
// timeout; nothing is opened.
func testAccept_SilentSocketTimesOut(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{HandshakeTimeout: 200 * time.Millisecond}, h)
	c, _ := rawClient(t, s)
	start := time.Now()
	if _, err := c.nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from a silent socket")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("closed after %v", took)
	}
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 0 || s.Stats().Rejected[RejectHandshake] != 1 {
			return fmt.Errorf("opened %d, stats %v", h.numOpen(), s.Stats().Rejected)
		}
		return nil
	})
}

// Accepted sockets have TCP_NODELAY (inherited from the listener), so small
// frames are not held back by Nagle's algorithm.
func TestAccept_NoDelay(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{}, h)
	dial(t, s, "/ws")
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	c := h.conn(0)
	if !c.acquire() {
		t.Fatal("fd closed")
	}
	defer c.releaseFD()
	if v, err := unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v != 1 {
		t.Fatalf("TCP_NODELAY = %d (%v)", v, err)
	}
}

// With edge-triggered epoll a worker must drain what it stops reading for
// fairness: several MiB sent at once, far more than one round of reads
// takes, all arrive, in order.
func testRead_LargeInflowAllArrives(t *testing.T) {
	h := newRecorder()
	h.echo = false
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws")
	const n = 4000
	msg := strings.Repeat("y", 1020)
	var all []byte
	for i := range n {
		all = append(all, rawFrame(0x81, true, uint64(len(msg)+4), []byte(fmt.Sprintf("%04d", i)+msg))...)
	}
	c.writeRaw(all) // ~4 MiB in one write
	eventually(t, 10*time.Second, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.texts) != n {
			return fmt.Errorf("%d of %d messages", len(h.texts), n)
		}
		return nil
	})
	for i, m := range h.texts {
		if m[:4] != fmt.Sprintf("%04d", i) {
			t.Fatalf("message %d is %q", i, m[:4])
		}
	}
}

// A frame and the peer's FIN that arrive together: the frame is handled and
// the connection ends at once (the FIN is no new edge once the data is read).
func testRead_FrameThenFIN(t *testing.T) {
	h := newRecorder()
	h.echo = false
	s := startServer(t, Config{}, h)
	c, br := rawClient(t, s)
	c.writeRaw([]byte(upgradeHead))
	if resp := readResponse(t, br); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for range 20 {
		c.writeRaw(rawFrame(0x81, true, 3, []byte("bye")))
	}
	_ = c.nc.(interface{ CloseWrite() error }).CloseWrite()
	eventually(t, 3*time.Second, func() error {
		if ev := h.closeOf(0); len(ev) != 1 || ev[0].reason != ReasonConnectionLost.String() {
			return fmt.Errorf("close events %v", ev)
		}
		return nil
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.texts) != 20 {
		t.Fatalf("%d of 20 frames before the end", len(h.texts))
	}
}

// An IPv6 peer is accepted and its address reported as "[ip]:port".
func testAccept_IPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ln.Close()
	h := newRecorder()
	s := startServer(t, Config{Addr: "[::1]:0"}, h)
	nc, _, _, err := ws.Dialer{Timeout: 5 * time.Second}.Dial(context.Background(), "ws://"+s.Addr().String()+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, nc: nc, r: nc}
	c.writeFrame(ws.OpText, true, []byte("v6"))
	c.expectText("v6")
	if got := h.conn(0).RemoteAddr(); got != nc.LocalAddr().String() {
		t.Fatalf("RemoteAddr %q, want %q", got, nc.LocalAddr().String())
	}
}

// On a dual-stack listener an IPv4 peer is reported as IPv4, not as an
// IPv4-mapped IPv6 address (per-IP limits and events see the same form
// whatever the listen address).
func testAccept_DualStackReportsIPv4(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{Addr: ":0"}, h)
	_, port, _ := net.SplitHostPort(s.Addr().String())
	d := ws.Dialer{NetDial: netDial, Timeout: 5 * time.Second}
	nc, _, _, err := d.Dial(context.Background(), "ws://127.0.0.1:"+port+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	eventually(t, 5*time.Second, func() error {
		if h.numOpen() != 1 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	if got := h.conn(0).RemoteAddr(); got != nc.LocalAddr().String() || !strings.HasPrefix(got, "127.0.0.2:") {
		t.Fatalf("RemoteAddr %q, want %q", got, nc.LocalAddr().String())
	}
}

// Shutdown closes sockets still in their handshake without waiting for
// their timeout, and never reports them as connections.
func testShutdown_ClosesPendingHandshakes(t *testing.T) {
	h := newRecorder()
	s, err := New(Config{Addr: "127.0.0.1:0", HandshakeTimeout: time.Minute}, h, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := rawClient(t, s)
	c.writeRaw([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")) // never finished
	eventually(t, 5*time.Second, func() error {
		if s.Stats().BytesIn == 0 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Shutdown took %v", took)
	}
	if _, err := c.nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the pending socket is still open")
	}
	if h.numOpen() != 0 || h.numClosed() != 0 {
		t.Fatalf("opened %d, closed %d", h.numOpen(), h.numClosed())
	}
}

// When accept4 fails (out of descriptors), the server stops watching its
// listener for a while instead of stalling the poll loop: open connections
// keep being served at once, and the waiting one is accepted afterwards.
func TestAccept_OutOfDescriptorsPausesAccepting(t *testing.T) {
	// The seam is set before the server starts and put back after it
	// stops (cleanups run last first).
	var fails atomic.Int32
	accept4 = func(fd int) (int, netip.AddrPort, error) {
		if fails.Add(-1) >= 0 {
			return -1, netip.AddrPort{}, unix.EMFILE
		}
		return rawAccept4(fd)
	}
	t.Cleanup(func() { accept4 = rawAccept4 })
	h := newRecorder()
	s := startServer(t, Config{}, h)
	c := dial(t, s, "/ws")
	fails.Store(3)

	type dialed struct {
		c   *client
		err error
	}
	late := make(chan dialed, 1)
	go func() {
		lc, err := dialErr(s, "/ws", nil)
		late <- dialed{lc, err}
	}()
	// Meanwhile the open connection is served without delay.
	eventually(t, 5*time.Second, func() error {
		if fails.Load() > 1 {
			return io.ErrUnexpectedEOF // the failures have not begun
		}
		return nil
	})
	for range 20 {
		start := time.Now()
		c.writeFrame(ws.OpText, true, []byte("still here"))
		c.expectText("still here")
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("an echo took %v while accepting was paused", d)
		}
	}
	d := <-late
	if d.err != nil {
		t.Fatalf("the connection that waited in the backlog: %v", d.err)
	}
	d.c.nc.Close()
	if fails.Load() >= 0 {
		t.Fatalf("accept4 failed only %d times", 3-fails.Load())
	}
}

// Each test above runs against both gateways.

func TestAccept_FramesWithTheRequest(t *testing.T) { bothGateways(t, testAccept_FramesWithTheRequest) }
func TestAccept_RequestInPieces(t *testing.T)      { bothGateways(t, testAccept_RequestInPieces) }
func TestAccept_HTTPThenUpgradeOnOneConnection(t *testing.T) {
	bothGateways(t, testAccept_HTTPThenUpgradeOnOneConnection)
}
func TestAccept_BadHandshakeHeaders(t *testing.T)  { bothGateways(t, testAccept_BadHandshakeHeaders) }
func TestAccept_SilentSocketTimesOut(t *testing.T) { bothGateways(t, testAccept_SilentSocketTimesOut) }
func TestRead_LargeInflowAllArrives(t *testing.T)  { bothGateways(t, testRead_LargeInflowAllArrives) }
func TestRead_FrameThenFIN(t *testing.T)           { bothGateways(t, testRead_FrameThenFIN) }
func TestAccept_IPv6(t *testing.T)                 { bothGateways(t, testAccept_IPv6) }
func TestAccept_DualStackReportsIPv4(t *testing.T) { bothGateways(t, testAccept_DualStackReportsIPv4) }
func TestShutdown_ClosesPendingHandshakes(t *testing.T) {
	bothGateways(t, testShutdown_ClosesPendingHandshakes)
}
