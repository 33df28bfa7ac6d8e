// Package hubtest starts real hub nodes and real WebSocket clients over
// loopback for tests: nodes listen on 127.0.0.1 with ports picked by the
// kernel, clients dial from 127.0.0.2 so their ports never collide with a
// listener's.
package hubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/node"
)

// Wait is how long a test waits for something that should happen.
const Wait = 10 * time.Second

var nodeSeq atomic.Int64

// ClusterSecret is the cluster secret of test clusters: a node with it
// gossips (others may join it), and its embedded NATS then requires
// credentials (Node.NATSURL carries the node's own).
const ClusterSecret = "hubtest-cluster-secret-never-in-production"

// ClusterConfig is Config for a member of a test cluster: it has the
// cluster secret and joins the nodes at join (gossip addresses), if any.
func ClusterConfig(t testing.TB, join ...string) *config.Config {
	c := Config(t)
	c.Cluster.Secret = ClusterSecret
	c.Cluster.Join = join
	return c
}

// Config returns a development configuration for a test node: everything
// on loopback with kernel-picked ports, no gossip peers, a unique name.
func Config(t testing.TB) *config.Config {
	c := config.Default()
	c.Node.Name = fmt.Sprintf("t%d", nodeSeq.Add(1))
	c.Node.Dev = true
	c.Node.ShutdownTimeout = 5 * time.Second
	c.WebSocket.Host = "127.0.0.1"
	c.WebSocket.Port = 0
	c.NATS.Listen = "127.0.0.1:0"
	c.NATS.ClusterListen = "127.0.0.1:0"
	c.Cluster.Bind = "127.0.0.1:0"
	c.Cluster.RejoinInterval = time.Second
	c.Node.DataDir = t.TempDir()
	return c
}

// Logger is a test logger: debug output when HUB_TEST_LOG is set, else
// warnings and errors only.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("HUB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &testWriter{t: t}
	// Background goroutines (gossip, NATS) may still log while a node
	// stops; once the test is over their lines are dropped, since t.Log
	// then panics.
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// Start starts a node and stops it when the test ends.
func Start(t testing.TB, c *config.Config) *node.Node {
	t.Helper()
	n, err := node.New(c, Logger(t))
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// Eventually waits until cond holds, failing the test after Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Msg is one server frame, decoded.
type Msg map[string]any

// S returns a string field.
func (m Msg) S(key string) string { s, _ := m[key].(string); return s }

// JSON returns a field re-encoded as compact JSON.
func (m Msg) JSON(key string) string {
	b, _ := json.Marshal(m[key])
	return string(b)
}

// Client is a WebSocket client.
type Client struct {
	t      testing.TB
	conn   net.Conn
	frames chan []byte
	closed chan struct{}
	code   ws.StatusCode
	reason string
	err    error
}

// Dialer dials from 127.0.0.2.
var Dialer = ws.Dialer{
	NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
		return d.DialContext(ctx, network, addr)
	},
	Timeout: 5 * time.Second,
}

// Dial connects to url; it fails the test if the upgrade fails.
func Dial(t testing.TB, url string, header http.Header) *Client {
	t.Helper()
	c, status, err := TryDial(t, url, header)
	if err != nil {
		t.Fatalf("dial %s: status %d: %v", url, status, err)
	}
	return c
}

// DialWith is Dial through d (another source address, another network
// namespace).
func DialWith(t testing.TB, d ws.Dialer, url string) *Client {
	t.Helper()
	c, status, err := tryDial(t, d, url, nil)
	if err != nil {
		t.Fatalf("dial %s: status %d: %v", url, status, err)
	}
	return c
}

// TryDial connects to url and returns the HTTP status of a refused upgrade.
func TryDial(t testing.TB, url string, header http.Header) (*Client, int, error) {
	return tryDial(t, Dialer, url, header)
}

func tryDial(t testing.TB, d ws.Dialer, url string, header http.Header) (*Client, int, error) {
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return nil, int(se), err
		}
		return nil, 0, err
	}
	c := &Client{t: t, conn: conn, frames: make(chan []byte, 1024), closed: make(chan struct{})}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	go c.read(r)
	t.Cleanup(func() { _ = conn.Close() })
	return c, 101, nil
}

func (c *Client) read(r io.Reader) {
	defer close(c.closed)
	rd := wsutil.Reader{Source: r, State: ws.StateClientSide, CheckUTF8: true,
		OnIntermediate: func(h ws.Header, rr io.Reader) error {
			p, _ := io.ReadAll(rr)
			switch h.OpCode {
			case ws.OpPing:
				return wsutil.WriteClientMessage(c.conn, ws.OpPong, p)
			case ws.OpClose:
				c.code, c.reason = ws.ParseCloseFrameData(p)
				return io.EOF
			}
			return nil
		}}
	for {
		h, err := rd.NextFrame()
		if err != nil {
			c.err = err
			return
		}
		switch h.OpCode {
		case ws.OpPing:
			p, _ := io.ReadAll(&rd)
			_ = wsutil.WriteClientMessage(c.conn, ws.OpPong, p)
			continue
		case ws.OpClose:
			p, _ := io.ReadAll(&rd)
			c.code, c.reason = ws.ParseCloseFrameData(p)
			c.err = io.EOF
			return
		}
		p, err := io.ReadAll(&rd)
		if err != nil {
			c.err = err
			return
		}
		c.frames <- p
	}
}

// Conn is the client's socket, for writing raw bytes.
func (c *Client) Conn() net.Conn { return c.conn }

// Send writes a text frame: a string as is, anything else as JSON.
func (c *Client) Send(v any) {
	c.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		b, _ = json.Marshal(v)
	}
	if err := wsutil.WriteClientText(c.conn, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Next returns the next text frame, failing the test after Wait.
func (c *Client) Next() Msg {
	c.t.Helper()
	select {
	case p := <-c.frames:
		var m Msg
		if err := json.Unmarshal(p, &m); err != nil {
			c.t.Fatalf("server sent invalid JSON %q: %v", p, err)
		}
		m["_raw"] = string(p)
		return m
	case <-c.closed:
		c.t.Fatalf("connection closed (%d %q) while waiting for a frame: %v", c.code, c.reason, c.err)
	case <-time.After(Wait):
		c.t.Fatalf("no frame within %v", Wait)
	}
	return nil
}

// Expect returns the next frame whose type is typ, failing on any other.
func (c *Client) Expect(typ string) Msg {
	c.t.Helper()
	m := c.Next()
	if m.S("type") != typ {
		c.t.Fatalf("got %s, want a %q frame", m["_raw"], typ)
	}
	return m
}

// Quiet asserts no frame arrives within d.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case p := <-c.frames:
		c.t.Fatalf("unexpected frame %s", p)
	case <-time.After(d):
	}
}

// Join joins room and waits for the acknowledgement.
func (c *Client) Join(room string) {
	c.t.Helper()
	id := "j-" + room
	c.Send(map[string]any{"type": "join_room", "room": room, "id": id})
	m := c.Expect("ack")
	if m.S("id") != id {
		c.t.Fatalf("ack for %v, want %s", m["id"], id)
	}
}

// Closed waits for the server to close the connection and returns the
// close code and reason (code 0 when it ended without a close frame).
func (c *Client) Closed() (int, string) {
	c.t.Helper()
	for {
		select {
		case <-c.frames:
			continue
		case <-c.closed:
			return int(c.code), c.reason
		case <-time.After(Wait):
			c.t.Fatalf("connection not closed within %v", Wait)
			return 0, ""
		}
	}
}

// Close sends a normal close frame.
func (c *Client) Close() {
	_ = wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))
}

// NATS connects to url and closes the connection when the test ends.
func NATS(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Events subscribes to subject and returns the messages as they come.
func Events(t testing.TB, nc *nats.Conn, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 4096)
	if _, err := nc.ChanSubscribe(subject, ch); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// NextMsg waits for the next NATS message.
func NextMsg(t testing.TB, ch chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(Wait):
		t.Fatalf("no NATS message within %v", Wait)
		return nil
	}
}

// HTTP does a request and returns the status and decoded JSON body.
func HTTP(t testing.TB, method, url, auth string, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, url, b)
		}
	}
	return resp.StatusCode, m
}

// TryNext returns the next frame, or nil after d; alive is false once the
// connection has closed and every frame it got has been read.
func (c *Client) TryNext(d time.Duration) (m Msg, alive bool) {
	decode := func(p []byte) Msg {
		var m Msg
		if err := json.Unmarshal(p, &m); err != nil {
			c.t.Errorf("server sent invalid JSON %q: %v", p, err)
			return Msg{}
		}
		m["_raw"] = string(p)
		return m
	}
	select {
	case p := <-c.frames:
		return decode(p), true
	default:
	}
	select {
	case p := <-c.frames:
		return decode(p), true
	case <-c.closed:
		select {
		case p := <-c.frames:
			return decode(p), true
		default:
			return nil, false
		}
	case <-time.After(d):
		return nil, true
	}
}

// Done is closed when the connection has ended (see Closed for the code).
func (c *Client) Done() <-chan struct{} { return c.closed }
