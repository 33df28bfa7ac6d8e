package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/protocol"
)

type zclient struct {
	t  *testing.T
	nc net.Conn
	r  io.Reader
}

// dialZ connects offering permessage-deflate when offer is set; it reports
// whether the hub accepted it.
func dialZ(t *testing.T, url string, offer bool) (*zclient, bool) {
	t.Helper()
	d := hubtest.Dialer
	if offer {
		d.Extensions = []httphead.Option{wsflate.DefaultParameters.Option()}
	}
	nc, br, hs, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &zclient{t: t, nc: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	return c, len(hs.Extensions) == 1
}

// next returns the next text frame's message (inflated), whether it was
// compressed and its payload as sent.
func (c *zclient) next() (msg []byte, compressed bool, raw []byte) {
	c.t.Helper()
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if f.Header.OpCode != ws.OpText {
			continue
		}
		z, err := wsflate.IsCompressed(f.Header)
		if err != nil {
			c.t.Fatal(err)
		}
		if !z {
			return f.Payload, false, f.Payload
		}
		raw := append([]byte(nil), f.Payload...)
		d, err := wsflate.DecompressFrame(f)
		if err != nil {
			c.t.Fatalf("inflate: %v", err)
		}
		return d.Payload, true, raw
	}
}

func (c *zclient) send(msg string, compress bool) {
	c.t.Helper()
	f := ws.NewTextFrame([]byte(msg))
	if compress {
		var err error
		if f, err = wsflate.CompressFrame(f); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := ws.WriteFrame(c.nc, ws.MaskFrame(f)); err != nil {
		c.t.Fatal(err)
	}
}

// With compression on, a room message is compressed once for all the
// members that negotiated permessage-deflate, which get the same bytes; a
// member that did not gets it uncompressed; a compressed client message
// reaches the room.
func TestCompression_RoomMessageOncePerNode(t *testing.T) {
	for _, gw := range []string{"epoll", "portable"} {
		t.Run(gw, func(t *testing.T) { testCompressionOncePerNode(t, gw) })
	}
}

func testCompressionOncePerNode(t *testing.T, gateway string) {
	c := hubtest.Config(t)
	c.WebSocket.Compression = true
	c.WebSocket.Gateway = gateway
	n := hubtest.Start(t, c)
	before := scrape(t, n.HTTPURL())
	var members []*zclient
	for i, offer := range []bool{true, true, false} {
		m, ok := dialZ(t, n.WSURL()+fmt.Sprintf("?user=u%d", i), offer)
		if ok != offer {
			t.Fatalf("member %d: negotiated %v, offered %v", i, ok, offer)
		}
		m.send(`{"type":"join_room","room":"r","id":1}`, false)
		if msg, _, _ := m.next(); !strings.Contains(string(msg), `"ack"`) {
			t.Fatalf("join: %s", msg)
		}
		members = append(members, m)
	}
	body := fmt.Sprintf(`{"text":%q}`, strings.Repeat("compressible text ", 100))
	if status, _ := hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/rooms/r/messages", "", body); status != http.StatusOK && status != http.StatusAccepted {
		t.Fatalf("POST: %d", status)
	}
	var first []byte
	for i, m := range members {
		msg, z, raw := m.next()
		var f struct{ Data json.RawMessage }
		if err := json.Unmarshal(msg, &f); err != nil || string(f.Data) != body {
			t.Fatalf("member %d: %s (%v)", i, msg, err)
		}
		if z != (i < 2) {
			t.Fatalf("member %d: compressed %v", i, z)
		}
		if z && len(raw) >= len(msg)/2 {
			t.Fatalf("member %d: %d bytes compressed to %d", i, len(msg), len(raw))
		}
		if i == 0 {
			first = raw
		} else if z && !bytes.Equal(raw, first) {
			t.Fatalf("member %d got other compressed bytes", i)
		}
	}
	// A compressed message from a member reaches the others.
	members[0].send(fmt.Sprintf(`{"type":"message","room":"r","data":%s}`, body), true)
	for _, m := range members[1:] {
		if msg, _, _ := m.next(); !strings.Contains(string(msg), "compressible text") {
			t.Fatalf("room message: %s", msg)
		}
	}
	after := scrape(t, n.HTTPURL())
	if d := value(after, "hub_compression_negotiated_total") - value(before, "hub_compression_negotiated_total"); d != 2 {
		t.Errorf("hub_compression_negotiated_total grew by %v, want 2", d)
	}
	// Two messages reached the room: two compressions (the sender's own
	// message goes to one compressing member only, still one).
	if d := value(after, "hub_compressions_total") - value(before, "hub_compressions_total"); d != 2 {
		t.Errorf("hub_compressions_total grew by %v, want 2", d)
	}
}

// A node on the portable gateway serves the client protocol as the epoll
// one does: joins, room messages, the API, a kick's close code.
func TestPortableGateway_Node(t *testing.T) {
	c := hubtest.Config(t)
	c.WebSocket.Gateway = "portable"
	n := hubtest.Start(t, c)
	connects := hubtest.Events(t, hubtest.NATS(t, n.NATSURL()), "hub.events.connect")
	a := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	b := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	ev, _ := hubtest.NextEvent(t, connects, func(e protocol.Event) bool { return e.User == "bob" })
	a.Join("r")
	b.Join("r")
	a.Send(`{"type":"message","room":"r","data":{"x":1},"id":"m"}`)
	a.Expect("ack")
	if m := b.Expect("message"); m.JSON("data") != `{"x":1}` {
		t.Fatalf("got %v", m["_raw"])
	}
	hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/users/bob/messages", "", `"hi"`)
	if m := b.Expect("message"); m.JSON("data") != `"hi"` {
		t.Fatalf("got %v", m["_raw"])
	}
	a.Send(`nope`)
	a.ExpectError(100)
	_, info := hubtest.HTTP(t, http.MethodGet, n.HTTPURL()+"/api/users/bob", "", "")
	if info["online"] != true {
		t.Fatalf("bob: %v", info)
	}
	hubtest.Eventually(t, "two connections", func() bool { return n.NumConns() == 2 })
	if code, _ := hubtest.HTTP(t, http.MethodDelete, n.HTTPURL()+"/api/connections/"+ev.ConnectionID, "", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	if code, reason := b.Closed(); code < 4000 || reason != "kicked" {
		t.Fatalf("kick: %d %q", code, reason)
	}
}

// nodeWS installs the npm package `ws` once into the user's cache and
// returns its path; it skips (visibly) without node or npm.
func nodeWS(t *testing.T) (node, module string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: the Node ws compression test needs Node.js")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not on PATH: the Node ws compression test installs the ws package with it")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "hub-test", "npm-ws-8.23.0")
	module = filepath.Join(dir, "node_modules", "ws")
	if _, err := os.Stat(filepath.Join(module, "package.json")); err == nil {
		return node, module
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "ws@8.23.0")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm install ws: %v\n%s", err, out)
		}
		t.Skipf("npm install ws failed (offline?): %v\n%s", err, out)
	}
	return node, module
}

// Node's ws package (which offers permessage-deflate, as browsers do)
// negotiates it with the hub, gets a compressed room message intact and
// sends a compressed one that reaches the room.
// compression_min_bytes = 0 compresses every message that deflate makes
// smaller, a short one too; the default (256) sends a short one as it is.
func TestCompression_MinBytes(t *testing.T) {
	for _, tc := range []struct {
		min  int
		want bool
	}{{0, true}, {256, false}} {
		t.Run(fmt.Sprint(tc.min), func(t *testing.T) {
			c := hubtest.Config(t)
			c.WebSocket.Compression = true
			c.WebSocket.CompressionMinBytes = tc.min
			n := hubtest.Start(t, c)
			m, ok := dialZ(t, n.WSURL()+"?user=m", true)
			if !ok {
				t.Fatal("permessage-deflate not negotiated")
			}
			m.send(`{"type":"join_room","room":"r","id":1}`, false)
			m.next()
			body := `{"p":"` + strings.Repeat("ab", 60) + `"}` // its message is under 256 bytes
			if status, _ := hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/rooms/r/messages", "", body); status >= 300 {
				t.Fatalf("POST: %d", status)
			}
			msg, z, _ := m.next()
			if !strings.Contains(string(msg), body) || len(msg) >= 256 || z != tc.want {
				t.Fatalf("got %s compressed %v, want compressed %v", msg, z, tc.want)
			}
		})
	}
}

func TestCompression_NodeWS(t *testing.T) {
	node, module := nodeWS(t)
	for _, gw := range []string{"epoll", "portable"} {
		t.Run(gw, func(t *testing.T) {
			c := hubtest.Config(t)
			c.WebSocket.Compression = true
			c.WebSocket.Gateway = gw
			n := hubtest.Start(t, c)
			before := scrape(t, n.HTTPURL())
			peer, _ := dialZ(t, n.WSURL()+"?user=peer", true)
			peer.send(`{"type":"join_room","room":"r","id":1}`, false)
			peer.next()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "ws_deflate.cjs"))
			cmd.Env = append(os.Environ(), "WS_MODULE="+module, "HUB_URL="+n.WSURL()+"?user=nodews")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Wait() }()
			lines := bufio.NewScanner(stdout)
			next := func() map[string]any {
				t.Helper()
				if !lines.Scan() {
					t.Fatalf("node ended: %v", lines.Err())
				}
				var m map[string]any
				if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
					t.Fatalf("node said %q", lines.Text())
				}
				return m
			}
			if m := next(); m["event"] != "open" || !strings.HasPrefix(fmt.Sprint(m["extensions"]), "permessage-deflate") {
				t.Fatalf("node ws: %v, want permessage-deflate negotiated", m)
			}
			if m := next(); m["event"] != "joined" {
				t.Fatalf("node ws: %v", m)
			}
			text := strings.Repeat("compressible ", 300)
			if status, _ := hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/rooms/r/messages", "", fmt.Sprintf(`{"text":%q}`, text)); status >= 300 {
				t.Fatalf("POST: %d", status)
			}
			if m := next(); m["event"] != "message" || m["text"] != text[:20] || m["size"] != float64(len(text)+len(`{"text":""}`)) {
				t.Fatalf("node ws got %v", m)
			}
			peer.next() // the API message
			msg, z, _ := peer.next()
			if !z || !strings.Contains(string(msg), "from node from node") {
				t.Fatalf("peer got %.80s (compressed %v), want node's message", msg, z)
			}
			if m := next(); m["event"] != "close" {
				t.Fatalf("node ws: %v", m)
			}
			after := scrape(t, n.HTTPURL())
			if d := value(after, "hub_compression_negotiated_total") - value(before, "hub_compression_negotiated_total"); d != 2 {
				t.Errorf("hub_compression_negotiated_total grew by %v, want 2", d)
			}
		})
	}
}
