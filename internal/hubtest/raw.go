package hubtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/protocol"
)

// RawConn is a WebSocket client without a reader goroutine: the test reads
// and writes frames itself, and a RawConn that is not read never answers
// pings and never drains its socket. It is closed when the test ends.
type RawConn struct {
	net.Conn
	r io.Reader
}

// RawDial connects to url from 127.0.0.2 and fails the test if the upgrade
// fails.
func RawDial(t testing.TB, url string, header http.Header) *RawConn {
	t.Helper()
	c, err := TryRawDial(url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TryRawDial connects to url; the caller closes the connection.
func TryRawDial(url string, header http.Header) (*RawConn, error) {
	d := Dialer
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	return &RawConn{Conn: conn, r: r}, nil
}

// WriteText sends one masked text frame.
func (c *RawConn) WriteText(p []byte) error { return wsutil.WriteClientText(c.Conn, p) }

// WriteFrame sends f as is: the caller decides on masking and header bits.
func (c *RawConn) WriteFrame(f ws.Frame) error { return ws.WriteFrame(c.Conn, f) }

// ReadFrame reads the next frame from the server, whatever its opcode,
// waiting at most d.
func (c *RawConn) ReadFrame(d time.Duration) (ws.Frame, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	return ws.ReadFrame(c.r)
}

// ReadText returns the payload of the next text frame, skipping control
// frames (pings are not answered), waiting at most d in all.
func (c *RawConn) ReadText(d time.Duration) ([]byte, error) {
	deadline := time.Now().Add(d)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		switch f.Header.OpCode {
		case ws.OpText:
			return f.Payload, nil
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(f.Payload)
			return nil, fmt.Errorf("closed %d %q", code, reason)
		}
	}
}

// ReadClose reads frames until the server's close frame and returns its
// code and reason; pings are not answered. It fails the test when the
// connection ends without a close frame or nothing comes within Wait.
func (c *RawConn) ReadClose(t testing.TB) (int, string) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(f.Payload)
			return int(code), reason
		}
	}
}

// ExpectError returns the next frame, failing unless it is an error frame
// with the given code.
func (c *Client) ExpectError(code int) Msg {
	c.t.Helper()
	m := c.Expect("error")
	if got, _ := m["code"].(float64); int(got) != code {
		c.t.Fatalf("got %s, want error code %d", m["_raw"], code)
	}
	return m
}

// StartNATS runs a standalone NATS server on a kernel-picked loopback port,
// for nodes configured with an external NATS (config NATS.URL). It stops
// when the test ends.
func StartNATS(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats: not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Event decodes a hub event.
func Event(t testing.TB, m *nats.Msg) protocol.Event {
	t.Helper()
	var e protocol.Event
	if err := json.Unmarshal(m.Data, &e); err != nil {
		t.Fatalf("event %q: %v", m.Data, err)
	}
	return e
}

// NextEvent waits for the next connection event (connect, message,
// disconnect) on ch for which match holds (nil matches any) and returns it
// with its NATS message; others, node events included, are skipped.
func NextEvent(t testing.TB, ch chan *nats.Msg, match func(protocol.Event) bool) (protocol.Event, *nats.Msg) {
	t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case m := <-ch:
			e := Event(t, m)
			if e.ConnectionID != "" && (match == nil || match(e)) {
				return e, m
			}
		case <-deadline:
			t.Fatalf("no matching event within %v", Wait)
			return protocol.Event{}, nil
		}
	}
}

// ErrStatus returns the HTTP status of a refused upgrade, 0 for other errors.
func ErrStatus(err error) int {
	var se ws.StatusError
	if errors.As(err, &se) {
		return int(se)
	}
	return 0
}
