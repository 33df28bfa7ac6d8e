package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

// TestDemo_FirstContact opens the demo page as a newcomer would, on a
// phone-sized window: nothing overflows the screen, acting before
// connecting says what to do, the token field says it is not used on a
// node without JWT, and there is an icon (no 404 for /favicon.ico).
func TestDemo_FirstContact(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chromium, driver := browserPaths(t)
	n := hubtest.Start(t, demoConfig(t, 0))
	if resp, body := get(t, n.HTTPURL()+"/favicon.ico"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<svg") {
		t.Fatalf("GET /favicon.ico: %d", resp.StatusCode)
	}
	s := newSession(t, startDriver(t, driver), chromium)
	s.resize(390, 844)
	s.navigate(n.HTTPURL() + "/")
	var width int
	s.js(`return window.innerWidth`, &width)
	if width > 400 {
		t.Fatalf("window is %d px wide, want a phone's 390", width)
	}
	var overflow []string
	s.js(`return [...document.querySelectorAll('body *')]
	  .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 1)
	  .map(e => e.tagName + '#' + e.id + '.' + e.className)`, &overflow)
	var scrollWidth int
	s.js(`return document.documentElement.scrollWidth`, &scrollWidth)
	if len(overflow) > 0 || scrollWidth > width {
		t.Errorf("at %d px the page is %d px wide; elements past the right edge: %v", width, scrollWidth, overflow)
	}
	var icon string
	s.js(`const l = document.querySelector('link[rel="icon"]'); return l ? l.href : ''`, &icon)
	if icon == "" {
		t.Error("the page declares no icon, so browsers ask for /favicon.ico")
	}

	// Join and Send before Connect say what to do.
	s.click("#join")
	s.waitText("a notice", "#notice", func(v string) bool { return strings.Contains(v, "press Connect first") })
	s.typeInto("#text", "hello?")
	s.click("#send")
	s.waitText("a notice", "#notice", func(v string) bool { return strings.Contains(v, "press Connect first") })

	// No JWT on this node: the token field says so instead of taking a
	// token that would be ignored.
	var tokenDisabled bool
	var placeholder string
	s.js(`return document.getElementById('token').disabled`, &tokenDisabled)
	s.js(`return document.getElementById('token').placeholder`, &placeholder)
	if !tokenDisabled || !strings.Contains(placeholder, "no JWT") {
		t.Errorf("token field on a node without JWT: disabled=%v placeholder=%q", tokenDisabled, placeholder)
	}
	t.Logf("screenshot: %s", s.screenshot("first-contact-390.png"))

	// Connected, the same page joins and sends; the notice goes away.
	s.typeInto("#name", "newcomer")
	s.click("#connect")
	s.waitText("connected", "#state", func(v string) bool { return v == "open" })
	s.click("#join")
	s.waitText("in the lobby", `#rooms li[data-room="lobby"] .name`, func(v string) bool { return v == "lobby" })
	if v := s.text("#notice"); v != "" {
		t.Errorf("notice still says %q after connecting", v)
	}
	t.Logf("screenshot: %s", s.screenshot("first-contact-390-joined.png"))
}

// TestDemo_TokenRequired: on a node that requires JWT, the page asks for
// a token instead of failing the upgrade with a bare 401.
func TestDemo_TokenRequired(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chromium, driver := browserPaths(t)
	cfg := demoConfig(t, 0)
	cfg.Node.Dev = false
	cfg.Auth.JWTSecret = "first-contact-secret"
	n := hubtest.Start(t, cfg)
	s := newSession(t, startDriver(t, driver), chromium)
	s.navigate(n.HTTPURL() + "/")
	s.click("#connect")
	s.waitText("a notice", "#notice", func(v string) bool { return strings.Contains(v, "requires a token") })
	var nameDisabled bool
	s.js(`return document.getElementById('name').disabled`, &nameDisabled)
	if !nameDisabled {
		t.Error("the name field is open on a node where the token names the user")
	}
}
