package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/hubrt/hub/internal/hubtest"
)

// metric returns the value of an unlabelled counter on /metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	_, b := get(t, url+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` ([0-9.e+-]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// Chromium offers permessage-deflate; with compression on the hub
// negotiates it (the socket's extensions say so, and the metric counts it),
// a compressed room message reaches the page intact, and the page's own
// (compressed) message reaches another member.
func TestCompression_Chromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chromium, driver := browserPaths(t)
	s := newSession(t, startDriver(t, driver), chromium)
	for _, gw := range []string{"epoll", "portable"} {
		t.Run(gw, func(t *testing.T) {
			s.t = t
			cfg := demoConfig(t, 0)
			cfg.WebSocket.Compression = true
			cfg.WebSocket.Gateway = gw
			n := hubtest.Start(t, cfg)
			negotiated := metric(t, n.HTTPURL(), "hub_compression_negotiated_total")

			// Another member, gobwas's client with the extension.
			d := hubtest.Dialer
			d.Extensions = []httphead.Option{wsflate.DefaultParameters.Option()}
			nc, br, _, err := d.Dial(context.Background(), n.WSURL()+"?user=peer")
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			var r io.Reader = nc
			if br != nil {
				r = io.MultiReader(br, nc)
			}
			readText := func() (string, bool) {
				t.Helper()
				for {
					_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
					f, err := ws.ReadFrame(r)
					if err != nil {
						t.Fatalf("peer read: %v", err)
					}
					if f.Header.OpCode != ws.OpText {
						continue
					}
					z, _ := wsflate.IsCompressed(f.Header)
					if z {
						if f, err = wsflate.DecompressFrame(f); err != nil {
							t.Fatal(err)
						}
					}
					return string(f.Payload), z
				}
			}
			if err := ws.WriteFrame(nc, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"join_room","room":"z","id":1}`)))); err != nil {
				t.Fatal(err)
			}
			readText()

			s.navigate(n.HTTPURL() + "/")
			s.js(`
				window.got = [];
				window.sock = new WebSocket(arguments[0]);
				sock.onmessage = (e) => got.push(e.data);
				sock.onopen = () => sock.send(JSON.stringify({type: "join_room", room: "z", id: 1}));
			`, nil, n.WSURL()+"?user=browser")
			s.waitJS("the page joined", `return got.some((m) => JSON.parse(m).type === "ack");`)
			var ext string
			s.js(`return sock.extensions;`, &ext)
			if !strings.HasPrefix(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
				t.Fatalf("Chromium's socket extensions %q, want permessage-deflate", ext)
			}
			if got := metric(t, n.HTTPURL(), "hub_compression_negotiated_total") - negotiated; got != 2 {
				t.Fatalf("hub_compression_negotiated_total grew by %v, want 2 (peer and browser)", got)
			}
			compressions := metric(t, n.HTTPURL(), "hub_compressions_total")

			text := strings.Repeat("a room message, compressed once for every member. ", 200)
			if status, _ := hubtest.HTTP(t, http.MethodPost, n.HTTPURL()+"/api/rooms/z/messages", "", fmt.Sprintf(`{"text":%q}`, text)); status >= 300 {
				t.Fatalf("POST: %d", status)
			}
			s.waitJS("the room message", `return got.some((m) => { const f = JSON.parse(m); return f.type === "message" && f.data.text === arguments[0]; });`, text)
			if msg, z := readText(); !z || !strings.Contains(msg, text) {
				t.Fatalf("peer: compressed %v, %.60s", z, msg)
			}
			if got := metric(t, n.HTTPURL(), "hub_compressions_total") - compressions; got != 1 {
				t.Fatalf("hub_compressions_total grew by %v for one message to two members, want 1", got)
			}

			s.js(`sock.send(JSON.stringify({type: "message", room: "z", data: {text: "from chromium ".repeat(300)}}));`, nil)
			if msg, _ := readText(); !strings.Contains(msg, "from chromium from chromium") {
				t.Fatalf("peer got %.80s, want the page's message", msg)
			}
			s.js(`sock.close();`, nil)
		})
	}
}
