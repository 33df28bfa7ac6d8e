//go:build linux

package gateway

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// FuzzHandshake sends arbitrary bytes as the first thing on a connection to
// a running server: the raw-path request reader, its hand-off to net/http
// and the upgrade checks see them. Whatever they are, the server must
// answer or close within a bound, and then still upgrade and serve a good
// client. A panic on any of the server's goroutines fails the run.
func FuzzHandshake(f *testing.F) {
	for _, seed := range []string{
		upgradeHead,
		upgradeHead + string(rawFrame(0x81, true, 2, []byte("hi"))),
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET /ws HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\n\r\n" + upgradeHead,
		strings.Replace(upgradeHead, "dGhlIHNhbXBsZSBub25jZQ==", "%%%", 1),
		strings.Replace(upgradeHead, "13", "", 1),
		"GET /ws/../ws HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws HTTP/1.0\r\n\r\n",
		"GET /ws\r\n\r\n",
		"\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	} {
		f.Add([]byte(seed))
	}
	s := startServer(f, Config{HandshakeTimeout: time.Second, Path: "/ws"}, newRecorder())
	f.Fuzz(func(t *testing.T, in []byte) {
		nc, err := netDial(context.Background(), "tcp", s.Addr().String())
		if err != nil {
			t.Skip("dial:", err) // out of ports or files: not the server's fault
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(in); err == nil {
			_ = nc.(*net.TCPConn).CloseWrite()
			if _, err := io.Copy(io.Discard, nc); err != nil && !isReset(err) {
				t.Fatalf("server neither answered nor closed: %v", err)
			}
		}
		// A good client is still served.
		d := ws.Dialer{NetDial: netDial, Timeout: 5 * time.Second}
		good, br, _, err := d.Dial(context.Background(), wsURL(s, "/ws"))
		if err != nil {
			t.Fatalf("good client after %q: %v", in, err)
		}
		defer good.Close()
		c := &client{t: t, nc: good, r: good}
		if br != nil {
			c.r = io.MultiReader(br, good)
		}
		c.writeFrame(ws.OpText, true, []byte("ok"))
		c.expectText("ok")
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}
