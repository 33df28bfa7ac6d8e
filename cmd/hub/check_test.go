package main

import (
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

// hub check passes against a node with JWT and an API key, signing its
// own token, and names the step that fails with a wrong API key.
func TestCheck_PublishesThroughTheAPIAndReadsTheWebSocket(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.Node.Dev = false
	cfg.Auth.JWTSecret = "check-secret"
	cfg.Auth.APIKey = "check-key"
	n := hubtest.Start(t, cfg)

	code, out, errs := runCmd("check", "-url", n.HTTPURL(), "-api-key", "check-key", "-jwt-secret", "check-secret")
	if code != 0 || !strings.Contains(out, "message back on the WebSocket") || !strings.Contains(out, "passed") {
		t.Fatalf("check: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	code, _, errs = runCmd("check", "-url", n.HTTPURL(), "-api-key", "wrong", "-jwt-secret", "check-secret", "-timeout", "10s")
	if code != 1 || !strings.Contains(errs, "POST /api/rooms/{room}/messages") || !strings.Contains(errs, "API key") {
		t.Fatalf("check with a wrong key: exit %d, stderr %q", code, errs)
	}

	code, _, errs = runCmd("check", "-url", n.HTTPURL(), "-api-key", "check-key", "-timeout", "10s")
	if code != 1 || !strings.Contains(errs, "WebSocket") {
		t.Fatalf("check without a token: exit %d, stderr %q", code, errs)
	}
}
