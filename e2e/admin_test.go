package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

// adminCluster starts two clustered development nodes that guard /admin
// with an admin token, and waits until each sees the other.
func adminCluster(t *testing.T, token string) (a, b *node.Node) {
	t.Helper()
	ca := hubtest.ClusterConfig(t)
	ca.Auth.AdminToken = token
	a = hubtest.Start(t, ca)
	cb := hubtest.ClusterConfig(t, a.GossipAddr())
	cb.Auth.AdminToken = token
	b = hubtest.Start(t, cb)
	hubtest.Eventually(t, "the two nodes to form a cluster", func() bool {
		return a.ClusterSize() == 2 && b.ClusterSize() == 2 && a.NATSRoutes() == 1 && b.NATSRoutes() == 1
	})
	return a, b
}

// keepScreenshot copies a screenshot to $HUB_SCREENSHOTS (default
// <tmp>/hub-e2e), and to docs/ when HUB_UPDATE_DOCS=1, and logs both paths.
func keepScreenshot(t *testing.T, path, docsName string) {
	t.Helper()
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("HUB_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hub-e2e")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(keep, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (copy: %s)", path, keep)
	if docsName != "" && os.Getenv("HUB_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", docsName), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: docs/%s updated", docsName)
	}
}

// TestAdmin_FindsAndKicksInChromium drives the admin page of one node of a
// two-node cluster: it signs in with the admin token, sees both nodes,
// finds a user connected to the other node, kicks it (the client is closed
// with "kicked" and the live tail shows the disconnect), and publishes to a
// room through the page. At a phone's width nothing leaves the screen.
func TestAdmin_FindsAndKicksInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chromium, driver := browserPaths(t)
	const token = "e2e-admin-token"
	a, b := adminCluster(t, token)

	// erin on node b is the one to find and kick; frank on node a stays.
	erin := hubtest.Dial(t, b.WSURL()+"?user=erin", nil)
	erin.Join("lobby")
	erin.Join("orders.eu")
	frank := hubtest.Dial(t, a.WSURL()+"?user=frank", nil)
	frank.Join("lobby")

	s := newSession(t, startDriver(t, driver), chromium)
	s.resize(1280, 1000)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshot: %s", s.screenshot("admin-failed.png"))
		}
	})
	s.navigate(a.HTTPURL() + "/admin")

	// Without the token the page asks for it; a wrong one is refused.
	s.waitVisible("the sign-in form", "#login")
	s.typeInto("#login-token", "wrong")
	s.click("#login-form button")
	s.waitText("the refusal", "#login-why", func(v string) bool { return strings.Contains(v, "refused") })
	s.typeInto("#login-token", token)
	s.click("#login-form button")
	s.waitHidden("the sign-in form to go", "#login")

	// Both nodes, ready, with their connections.
	for _, n := range []*node.Node{a, b} {
		sel := `#nodes tr[data-node="` + n.Name() + `"]`
		s.waitText(n.Name()+" ready", sel+` td[data-label="state"]`, func(v string) bool { return v == "ready" })
		s.waitText(n.Name()+" with one connection", sel+` td[data-label="connections"]`, func(v string) bool { return v == "1" })
	}
	s.waitText("the summary", "#sum-conns", func(v string) bool { return v == "2" })
	s.waitText("the live tail", "#events-state", func(v string) bool { return v == "live" })

	// Busiest rooms (where the node lists rooms): lobby first, with both.
	var roomsShown bool
	s.js(`return !document.getElementById('rooms-card').hidden`, &roomsShown)
	if roomsShown {
		s.waitText("lobby first among the rooms", "#rooms tbody tr:first-child", func(v string) bool {
			return strings.Contains(v, "lobby") && strings.Contains(v, "2")
		})
	} else {
		t.Log("the node has no GET /api/rooms: the busiest rooms card is hidden")
	}

	// Find erin: one connection, on node b, in both rooms.
	s.typeInto("#lookup", "erin")
	s.click("#lookup-go")
	s.waitText("erin found", "#lookup-status", func(v string) bool { return strings.Contains(v, "1 connection of user erin") })
	item := "#lookup-results li:first-child"
	if got := s.text(item + " dd:nth-of-type(2)"); got != b.Name() {
		t.Errorf("erin's node shows %q, want %q", got, b.Name())
	}
	if got := s.text(item + " dd.rooms"); !strings.Contains(got, "lobby") || !strings.Contains(got, "orders.eu") {
		t.Errorf("erin's rooms show %q", got)
	}
	id := s.text(item + " .id")
	if !strings.HasPrefix(id, b.Name()+".") {
		t.Errorf("erin's connection id %q is not one of %s", id, b.Name())
	}
	keepScreenshot(t, s.screenshot("admin.png"), "admin.png")

	// Kick her: the client is closed as kicked, the page says so, the
	// tail shows her disconnect.
	s.click(item + " button.kick")
	s.waitText("the kick done", item+" button.kick", func(v string) bool { return v == "Kicked" })
	if code, reason := erin.Closed(); reason != "kicked" {
		t.Errorf("erin closed with %d %q, want reason kicked", code, reason)
	}
	s.waitText("the disconnect in the tail", "#events", func(v string) bool {
		return strings.Contains(v, "disconnect") && strings.Contains(v, "conn="+id) && strings.Contains(v, "reason=kicked")
	})
	hubtest.Eventually(t, "erin gone from the cluster", func() bool {
		_, body := hubtest.HTTP(t, "GET", a.HTTPURL()+"/api/users/erin", "", "")
		return body["connections"] == float64(0)
	})

	// Publish to the lobby from the page: frank gets it.
	s.typeInto("#pub-target", "lobby")
	s.typeInto("#pub-data", `{"notice":"from the admin page"}`)
	s.click("#pub-send")
	s.waitText("the publish accepted", "#pub-status", func(v string) bool { return strings.HasPrefix(v, "accepted") })
	if m := frank.Expect("message"); m.S("room") != "lobby" || m.JSON("data") != `{"notice":"from the admin page"}` {
		t.Errorf("frank got %v", m)
	}

	// The room card: the lobby's members cluster-wide.
	s.typeInto("#room-name", "lobby")
	s.click("#room-form button")
	s.waitText("the lobby's members", "#room-status", func(v string) bool { return strings.HasPrefix(v, "1 member") })
	keepScreenshot(t, s.screenshot("admin-after-kick.png"), "")

	// A phone's width: one column, nothing past the right edge.
	s.resize(390, 844)
	var width, scrollWidth int
	s.js(`return window.innerWidth`, &width)
	s.js(`return document.documentElement.scrollWidth`, &scrollWidth)
	var overflow []string
	s.js(`return [...document.querySelectorAll('body *')]
	  .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 1)
	  .map(e => e.tagName + '#' + e.id + '.' + e.className)`, &overflow)
	if width > 400 || scrollWidth > width || len(overflow) > 0 {
		t.Errorf("at %d px the page is %d px wide; past the right edge: %v", width, scrollWidth, overflow)
	}
	keepScreenshot(t, s.screenshot("admin-390.png"), "admin-390.png")
}

// TestAdmin_OffWithoutToken needs no browser: outside development mode a
// node without admin token or API key refuses /admin and says how to turn
// it on.
func TestAdmin_OffWithoutToken(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.Node.Dev = false
	n := hubtest.Start(t, cfg)
	resp, body := get(t, n.HTTPURL()+"/admin/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "admin_token") || !strings.Contains(string(body), "HUB_ADMIN_TOKEN") {
		t.Fatalf("GET /admin/ without a token: %d %s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("refusal is %s, want JSON", resp.Header.Get("Content-Type"))
	}
}

// TestAdmin_RoomHistoryInChromium: for a room whose namespace keeps
// history and presence, the room card lists the stored messages and who
// is in; for a room without, it says so.
func TestAdmin_RoomHistoryInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chromium, driver := browserPaths(t)
	cfg := hubtest.Config(t)
	cfg.Namespaces = []namespace.Namespace{{
		Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		History:  &namespace.History{Size: 100, MaxBytes: -1, Storage: namespace.StorageMemory},
		Presence: &namespace.Presence{MaxList: namespace.DefaultPresenceMaxList, LeaveDelay: namespace.DefaultPresenceLeaveDelay},
	}}
	n := hubtest.Start(t, cfg)
	gina := hubtest.Dial(t, n.WSURL()+"?user=gina", nil)
	gina.Join("chat.lobby")
	for _, text := range []string{"first", "second", "third"} {
		if status, body := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/chat.lobby/messages", "", `{"text":"`+text+`"}`); status != http.StatusAccepted {
			t.Fatalf("POST: %d %v", status, body)
		}
	}
	s := newSession(t, startDriver(t, driver), chromium)
	s.resize(1280, 900)
	s.navigate(n.HTTPURL() + "/admin/")
	s.waitText("the node listed", "#sum-nodes", func(v string) bool { return v == "1" })

	s.typeInto("#room-name", "chat.lobby")
	s.click("#room-form button")
	s.waitVisible("the history panel", "#room-history")
	s.waitText("three stored messages", "#history-list", func(v string) bool {
		return strings.Contains(v, "#1") && strings.Contains(v, `{"text":"third"}`)
	})
	s.waitVisible("the presence panel", "#room-presence")
	s.waitText("gina present", "#presence-list", func(v string) bool { return strings.Contains(v, "gina") })
	keepScreenshot(t, s.screenshot("admin-history.png"), "")

	s.typeInto("#room-name", "plain")
	s.click("#room-form button")
	s.waitText("no history for a plain room", "#history-list", func(v string) bool { return strings.Contains(v, "no history") })
}
