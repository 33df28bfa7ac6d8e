//go:build linux

package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// dialDeflate dials with gobwas's client offering permessage-deflate (the
// given offer, or gobwas's default one) and reports whether the server
// accepted it.
func dialDeflate(t *testing.T, s *Server, offer string) (*client, bool) {
	t.Helper()
	d := ws.Dialer{NetDial: netDial, Timeout: 5 * time.Second}
	if offer == "" {
		d.Extensions = []httphead.Option{wsflate.DefaultParameters.Option()}
	} else {
		opts, ok := httphead.ParseOptions([]byte(offer), nil)
		if !ok {
			t.Fatalf("offer %q", offer)
		}
		d.Extensions = opts
	}
	nc, br, hs, err := d.Dial(context.Background(), wsURL(s, "/ws"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	switch {
	case len(hs.Extensions) == 0:
		return c, false
	case len(hs.Extensions) == 1:
		var p wsflate.Parameters
		if err := p.Parse(hs.Extensions[0]); err == nil && p.ServerNoContextTakeover && p.ClientNoContextTakeover &&
			!p.ServerMaxWindowBits.Defined() && !p.ClientMaxWindowBits.Defined() {
			return c, true
		}
	}
	t.Fatalf("extensions in the response: %v", hs.Extensions)
	return nil, false
}

// writeCompressed sends msg as one compressed text frame.
func (c *client) writeCompressed(msg []byte) {
	c.t.Helper()
	f, err := wsflate.CompressFrame(ws.NewTextFrame(msg))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := ws.WriteFrame(c.nc, ws.MaskFrame(f)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readMessage reads one text frame, skipping pings, and returns its payload
// inflated, whether it was compressed, and its bytes as sent.
func (c *client) readMessage() (msg []byte, compressed bool, raw []byte) {
	c.t.Helper()
	for {
		h, p, err := c.readFrame(5 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if h.OpCode == ws.OpPing {
			continue
		}
		if h.OpCode != ws.OpText {
			c.t.Fatalf("op %v %q, want text", h.OpCode, p)
		}
		if h.Rsv == 0 {
			return p, false, p
		}
		if h.Rsv != rsv1 {
			c.t.Fatalf("rsv %b", h.Rsv)
		}
		f, err := wsflate.DecompressFrame(ws.Frame{Header: h, Payload: p})
		if err != nil {
			c.t.Fatalf("inflate: %v", err)
		}
		return f.Payload, true, p
	}
}

func jsonText(n int, seed string) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"type":"message","room":"r","data":{"n":%d,"s":%q}}`, i, seed)
	}
	return b.Bytes()[:n]
}

// gobwas's own client negotiates the extension; its compressed messages are
// inflated; messages from the minimum size on come back compressed, smaller
// ones as they are.
func testDeflate_GobwasClientRoundTrip(t *testing.T) {
	h := newRecorder()
	s := startServer(t, Config{Compression: true}, h)
	c, ok := dialDeflate(t, s, "")
	if !ok {
		t.Fatal("permessage-deflate not negotiated")
	}
	for _, n := range []int{10, 255, 256, 4000, 60000} {
		msg := jsonText(n, "round trip")
		c.writeCompressed(msg)
		got, z, raw := c.readMessage()
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: echoed %d bytes, differ", n, len(got))
		}
		if z != (n >= DefaultCompressionMinBytes) {
			t.Fatalf("%d bytes: compressed %v", n, z)
		}
		if z && len(raw) >= n {
			t.Fatalf("%d bytes compressed to %d", n, len(raw))
		}
		// Uncompressed frames are fine too.
		c.writeFrame(ws.OpText, true, msg)
		if got, _, _ := c.readMessage(); !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes uncompressed: echo differs", n)
		}
	}
	// A fragmented compressed message: RSV1 on the first frame only.
	msg := jsonText(3000, "fragments")
	f, _ := wsflate.CompressFrame(ws.NewTextFrame(msg))
	half := len(f.Payload) / 2
	first := ws.NewFrame(ws.OpText, false, f.Payload[:half])
	first.Header.Rsv = rsv1
	for _, fr := range []ws.Frame{first, ws.NewFrame(ws.OpContinuation, true, f.Payload[half:])} {
		if err := ws.WriteFrame(c.nc, ws.MaskFrame(fr)); err != nil {
			t.Fatal(err)
		}
	}
	if got, _, _ := c.readMessage(); !bytes.Equal(got, msg) {
		t.Fatal("fragmented compressed message: echo differs")
	}
	if !h.conn(0).Compressed() || s.Stats().Deflate != 1 {
		t.Fatalf("Compressed() %v, Stats().Deflate %d", h.conn(0).Compressed(), s.Stats().Deflate)
	}
}

// The extension is negotiated only when configured, and only for offers the
// server can honour.
func testDeflate_Negotiation(t *testing.T) {
	off := startServer(t, Config{}, newRecorder())
	if _, ok := dialDeflate(t, off, ""); ok {
		t.Fatal("negotiated with compression off")
	}
	on := startServer(t, Config{Compression: true}, newRecorder())
	for _, tc := range []struct {
		offer string
		want  bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{"permessage-deflate; server_max_window_bits=15", true},
		{"permessage-deflate; server_max_window_bits=10", false},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", true},
		{"permessage-deflate; bogus", false},
		{"x-webkit-deflate-frame", false},
	} {
		if _, ok := dialDeflate(t, on, tc.offer); ok != tc.want {
			t.Errorf("offer %q: accepted %v, want %v", tc.offer, ok, tc.want)
		}
	}
}

// Without the extension a frame with RSV1 is a protocol error (1002).
func testDeflate_RSV1WithoutExtension(t *testing.T) {
	s := startServer(t, Config{Compression: true}, newRecorder())
	c := dial(t, s, "/ws")
	c.writeCompressed(jsonText(1000, "not negotiated"))
	if code, reason := c.expectClose(); code != 1002 || reason != "protocol_error" {
		t.Fatalf("close %d %q", code, reason)
	}
}

// A compressed frame that inflates past max_inflated_bytes closes with
// 1009, without inflating it all; corrupt deflate data is a protocol error.
func testDeflate_ZipBombCloses1009(t *testing.T) {
	h := newRecorder()
	const max = 256 << 10
	s := startServer(t, Config{Compression: true, MaxInflatedBytes: max}, h)
	c, _ := dialDeflate(t, s, "")
	// 4 MiB of spaces compress to ~4 KiB: well under max_frame_bytes.
	bomb := ws.NewFrame(ws.OpText, true, newDeflateCache(1).compress(bytes.Repeat([]byte(" "), 4<<20)))
	bomb.Header.Rsv = rsv1
	if len(bomb.Payload) > DefaultMaxFrameBytes {
		t.Fatalf("bomb of %d bytes", len(bomb.Payload))
	}
	if err := ws.WriteFrame(c.nc, ws.MaskFrame(bomb)); err != nil {
		t.Fatal(err)
	}
	if code, reason := c.expectClose(); code != 1009 || reason != "too_big" {
		t.Fatalf("close %d %q, want 1009 too_big", code, reason)
	}
	eventually(t, 5*time.Second, func() error {
		if got := h.closeOf(0); len(got) != 1 || got[0] != (closeEvent{1009, "too_big"}) {
			return fmt.Errorf("OnClose %v", got)
		}
		return nil
	})
	h.mu.Lock()
	texts := len(h.texts)
	h.mu.Unlock()
	if texts != 0 {
		t.Fatalf("%d messages reached the handler", texts)
	}

	// Exactly the bound inflates; one byte more does not.
	c2, _ := dialDeflate(t, s, "")
	c2.writeCompressed(bytes.Repeat([]byte("a"), max))
	if got, _, _ := c2.readMessage(); len(got) != max {
		t.Fatalf("echo of %d bytes", len(got))
	}
	c2.writeCompressed(bytes.Repeat([]byte("a"), max+1))
	if code, _ := c2.expectClose(); code != 1009 {
		t.Fatalf("close %d, want 1009", code)
	}

	c3, _ := dialDeflate(t, s, "")
	bad := ws.NewFrame(ws.OpText, true, []byte{0xff, 0xff, 0xff, 0xff, 0x00})
	bad.Header.Rsv = rsv1
	if err := ws.WriteFrame(c3.nc, ws.MaskFrame(bad)); err != nil {
		t.Fatal(err)
	}
	if code, reason := c3.expectClose(); code != 1002 || reason != "protocol_error" {
		t.Fatalf("corrupt data: close %d %q", code, reason)
	}
}

// A message sent to many connections is compressed once, and every member
// that negotiated the extension gets the same bytes; the others get it
// uncompressed.
func testDeflate_OnceForEveryMember(t *testing.T) {
	h := newRecorder()
	h.echo = false
	s := startServer(t, Config{Compression: true}, h)
	const n = 200
	clients := make([]*client, n)
	for i := range clients {
		if i%4 == 3 {
			clients[i] = dial(t, s, "/ws")
		} else {
			clients[i], _ = dialDeflate(t, s, "")
		}
	}
	eventually(t, 10*time.Second, func() error {
		if h.numOpen() != n {
			return fmt.Errorf("%d open", h.numOpen())
		}
		return nil
	})
	// OnOpen order is not dial order: match conns to clients by address.
	conns := make([]*Conn, n)
	byAddr := map[string]*Conn{}
	for i := range n {
		byAddr[h.conn(i).RemoteAddr()] = h.conn(i)
	}
	for i, c := range clients {
		if conns[i] = byAddr[c.nc.LocalAddr().String()]; conns[i] == nil {
			t.Fatalf("client %d has no conn", i)
		}
	}
	const messages = 20
	payloads := make([][]byte, messages)
	for m := range payloads {
		payloads[m] = jsonText(2000, fmt.Sprint("message ", m))
	}
	before := s.Stats().Compressions
	for m := range messages {
		for i := range n {
			if !conns[i].Send(payloads[m]) {
				t.Fatal("Send refused")
			}
		}
	}
	if got := s.Stats().Compressions - before; got != messages {
		t.Fatalf("%d compressions for %d messages to %d members", got, messages, n)
	}
	for m := range messages {
		var first []byte
		for i := range n {
			c := clients[i]
			msg, z, raw := c.readMessage()
			if !bytes.Equal(msg, payloads[m]) {
				t.Fatalf("member %d message %d differs", i, m)
			}
			if z != (i%4 != 3) || z != conns[i].Compressed() {
				t.Fatalf("member %d: compressed %v, negotiated %v", i, z, conns[i].Compressed())
			}
			if !z {
				continue
			}
			if first == nil {
				first = raw
			} else if !bytes.Equal(first, raw) {
				t.Fatalf("member %d got other compressed bytes for message %d", i, m)
			}
		}
	}
	// The cache forgets what no fan-out sends any more.
	eventually(t, 5*time.Second, func() error {
		if n := s.deflate.size(); n != 0 {
			return fmt.Errorf("%d cached entries", n)
		}
		return nil
	})
}

// The inflater bounds its output and reports corrupt data.
func TestInflate(t *testing.T) {
	msg := jsonText(10000, "inflate")
	f, _ := wsflate.CompressFrame(ws.NewTextFrame(msg))
	for _, max := range []int{10000, 20000} {
		got, err := inflate(nil, f.Payload, max)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("max %d: %v, %d bytes", max, err, len(got))
		}
	}
	if _, err := inflate(nil, f.Payload, 9999); !errors.Is(err, errInflatedTooBig) {
		t.Fatalf("max 9999: %v", err)
	}
	if _, err := inflate(nil, []byte{0xff, 0xfe}, 100); !errors.Is(err, errBadDeflate) {
		t.Fatalf("corrupt: %v", err)
	}
	d := newDeflateCache(1)
	if z := d.get(msg); z == nil || len(z) >= len(msg) {
		t.Fatalf("compressed to %d", len(z))
	} else if got, err := inflate(nil, z, len(msg)); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("round trip: %v", err)
	}
	if z := d.get([]byte("abcdefghijklmnopqrstuvwxyz0123456789")); z != nil {
		t.Fatalf("incompressible payload compressed to %d bytes", len(z))
	}
}

// Each test above runs against both gateways.

func TestDeflate_GobwasClientRoundTrip(t *testing.T) {
	bothGateways(t, testDeflate_GobwasClientRoundTrip)
}
func TestDeflate_Negotiation(t *testing.T) { bothGateways(t, testDeflate_Negotiation) }
func TestDeflate_RSV1WithoutExtension(t *testing.T) {
	bothGateways(t, testDeflate_RSV1WithoutExtension)
}
func TestDeflate_ZipBombCloses1009(t *testing.T)  { bothGateways(t, testDeflate_ZipBombCloses1009) }
func TestDeflate_OnceForEveryMember(t *testing.T) { bothGateways(t, testDeflate_OnceForEveryMember) }
