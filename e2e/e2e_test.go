package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
)

func demoConfig(t *testing.T, port int) *config.Config {
	c := hubtest.Config(t)
	c.Node.Demo = true
	c.WebSocket.Port = port
	return c
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestDemo_Served needs no browser: the page and the client it loads.
func TestDemo_Served(t *testing.T) {
	cfg := demoConfig(t, 0)
	cfg.WebSocket.Path = "/rt/ws"
	n := hubtest.Start(t, cfg)
	resp, page := get(t, n.HTTPURL()+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Contains(page, []byte(`name="hub-ws-path" content="/rt/ws"`)) {
		t.Fatal("the page does not name the configured WebSocket path")
	}
	resp, js := get(t, n.HTTPURL()+"/client/hub-client.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /client/hub-client.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want, err := os.ReadFile("../client/js/hub-client.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(js, want) {
		t.Fatal("served hub-client.js differs from client/js/hub-client.js")
	}
	if resp, _ := get(t, n.HTTPURL()+"/nothing-here"); resp.StatusCode != 404 {
		t.Fatalf("GET /nothing-here: %d", resp.StatusCode)
	}
}

// tab is one browser tab showing the demo page.
type tab struct {
	s      *session
	handle string
	name   string
}

func (tb *tab) focus() { tb.s.switchTo(tb.handle) }

func (tb *tab) open(url, user string) {
	tb.focus()
	tb.s.navigate(url + "/?user=" + user)
	tb.s.click("#connect")
	tb.waitOpen()
}

func (tb *tab) waitOpen() {
	tb.focus()
	tb.s.waitText(tb.name+" connected", "#state", func(v string) bool { return v == "open" })
}

func (tb *tab) join(room string) {
	tb.focus()
	tb.s.typeInto("#room", room)
	tb.s.click("#join")
	tb.s.waitText(tb.name+" in "+room, `#rooms li[data-room="`+room+`"] .name`, func(v string) bool { return v == room })
}

func (tb *tab) say(text string) {
	tb.focus()
	tb.s.typeInto("#text", text)
	tb.s.click("#send")
}

func (tb *tab) waitLog(want string) {
	tb.focus()
	tb.s.waitText(tb.name+" sees "+strconv.Quote(want), "#log", func(v string) bool { return strings.Contains(v, want) })
}

func TestDemo_ChatInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chromium, driver := browserPaths(t)
	n1 := hubtest.Start(t, demoConfig(t, 0))
	_, portStr, _ := net.SplitHostPort(n1.Addr().String())
	port, _ := strconv.Atoi(portStr)
	url := n1.HTTPURL()

	s := newSession(t, startDriver(t, driver), chromium)
	alice := &tab{s: s, handle: s.window(), name: "alice"}
	bob := &tab{s: s, handle: s.newTab(), name: "bob"}
	shots := func(stage string) {
		for _, tb := range []*tab{alice, bob} {
			tb.focus()
			t.Logf("screenshot: %s", s.screenshot(stage+"-"+tb.name+".png"))
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			shots("failed")
		}
	})

	alice.open(url, "alice")
	alice.join("lobby")
	bob.open(url, "bob")
	bob.join("lobby")

	// Typed in one tab, shown in the other.
	alice.say("hello from alice")
	alice.waitLog("me to [lobby]: hello from alice")
	bob.waitLog("[lobby] alice: hello from alice")

	// Presence counts, and a message published through the HTTP API.
	bob.s.waitText("two in the lobby", "#count-lobby", func(v string) bool { return v == "2 online" })
	if status, _ := hubtest.HTTP(t, "POST", url+"/api/rooms/lobby/messages", "", `{"text":"from the API"}`); status != http.StatusAccepted {
		t.Fatalf("POST: %d", status)
	}
	alice.waitLog("[lobby] from the API")
	bob.waitLog("[lobby] from the API")
	shots("chat")

	// Stop the node and start another on the same port: both tabs
	// reconnect, join the lobby again and carry on.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	alice.waitLog("connection closed: 1001 shutdown (reconnecting)")
	n2 := hubtest.Start(t, demoConfig(t, port))
	alice.waitOpen()
	bob.waitOpen()
	alice.waitLog("reconnected, rooms joined again")
	bob.waitLog("reconnected, rooms joined again")
	hubtest.Eventually(t, "both back in the lobby", func() bool {
		_, body := hubtest.HTTP(t, "GET", n2.HTTPURL()+"/api/rooms/lobby", "", "")
		return body["members"] == float64(2)
	})
	bob.say("back again")
	alice.waitLog("[lobby] bob: back again")
	alice.say("welcome back")
	bob.waitLog("[lobby] alice: welcome back")
	shots("after-restart")
}
