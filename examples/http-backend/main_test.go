package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHTTPBackend(t *testing.T) {
	key := []byte("dev-backend-key")
	out := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{Listen: "127.0.0.1:0", Secret: key, Out: out, Ready: func(a string) { addr <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	// The hub side: the example's hub.hcl, pointed at this backend.
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "backend.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("hub.hcl")
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.ReplaceAll(src, []byte("http://127.0.0.1:9000"), []byte("http://"+a))
	src = bytes.ReplaceAll(src, []byte("/tmp/backend.key"), []byte(keyFile))
	parsed, err := config.Parse(src, "hub.hcl")
	if err != nil {
		t.Fatalf("hub.hcl: %v", err)
	}
	c := hubtest.Config(t)
	c.HTTP, c.Proxies, c.Flows = parsed.HTTP, parsed.Proxies, parsed.Flows
	n := hubtest.Start(t, c)

	if _, st, _ := hubtest.TryDial(t, n.WSURL(), nil); st != 401 {
		t.Errorf("no name: status %d, want 401", st)
	}
	if _, st, _ := hubtest.TryDial(t, n.WSURL()+"?name=mallory", nil); st != 403 {
		t.Errorf("mallory: status %d, want 403", st)
	}
	alice := hubtest.Dial(t, n.WSURL()+"?name=alice", nil)
	// Joined lobby server-side, and told so.
	if m := alice.Expect("joined"); m.S("room") != "lobby" || m.S("by") != "server" {
		t.Errorf("got %s, want joined lobby by server", m["_raw"])
	}
	alice.Send(`{"type":"message","data":{"text":"hi"}}`)
	if m := alice.Expect("message"); m.JSON("data") != `{"echo":{"text":"hi"},"from":"backend"}` {
		t.Errorf("reply %s", m["_raw"])
	}
	alice.Send(`{"type":"message","data":{"text":"bye"}}`)
	alice.Expect("message")
	if code, reason := alice.Closed(); code != 1000 || reason != "reply_end" {
		t.Errorf("closed %d %q", code, reason)
	}
	hubtest.Eventually(t, "the webhooks logged", func() bool {
		s := out.String()
		return strings.Contains(s, ": connect ") && strings.Contains(s, ": disconnect ") && strings.Contains(s, "reply_end")
	})
	for _, want := range []string{"accepted alice", "refused mallory", `message from alice: {"text":"hi"}`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out.String())
		}
	}
}
