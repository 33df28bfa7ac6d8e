//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// slowHandler's Authenticate blocks (until gate is closed or the request's
// context ends) for requests with ?slow=1.
type slowHandler struct {
	*recorder
	gate    chan struct{}
	waiting atomic.Int32
	refuse  bool
}

func (h *slowHandler) AuthenticateBlocks(r *http.Request) bool {
	return r.URL.Query().Get("slow") != ""
}

func (h *slowHandler) Authenticate(r *http.Request) (any, error) {
	if r.URL.Query().Get("slow") == "" {
		return "fast", nil
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case <-h.gate:
	case <-r.Context().Done():
		return nil, &HTTPError{Status: http.StatusServiceUnavailable, Message: "timed out"}
	}
	if h.refuse {
		return nil, &HTTPError{Status: http.StatusForbidden, Message: "nope"}
	}
	return "slow", nil
}

func TestSlowAuth_DoesNotBlockTheWorkers(t *testing.T) {
	h := &slowHandler{recorder: newRecorder(), gate: make(chan struct{})}
	s := startServer(t, Config{Workers: 1}, h)
	type dialed struct {
		c   *client
		err error
	}
	slow := make(chan dialed, 1)
	go func() {
		c, err := dialErr(s, "/ws?slow=1", nil)
		slow <- dialed{c, err}
	}()
	eventually(t, 5*time.Second, func() error {
		if h.waiting.Load() != 1 {
			return errors.New("slow upgrade not waiting yet")
		}
		return nil
	})
	// The only worker is free: another client upgrades and is served.
	fast := dial(t, s, "/ws")
	fast.writeFrame(ws.OpText, true, []byte("hello"))
	fast.expectText("hello")
	if st, _ := httpUpgrade(t, s, "/ws", nil, true); st != http.StatusSwitchingProtocols {
		t.Fatalf("a second fast upgrade got %d", st)
	}
	// Its OnOpen may still be running on the worker as the client reads
	// the 101: wait for it before the slow one may go on.
	eventually(t, 5*time.Second, func() error {
		if n := h.numOpen(); n != 2 {
			return fmt.Errorf("%d opens, want the two fast ones", n)
		}
		return nil
	})

	close(h.gate)
	d := <-slow
	if d.err != nil {
		t.Fatalf("slow upgrade: %v", d.err)
	}
	d.c.t = t
	defer d.c.nc.Close()
	d.c.writeFrame(ws.OpText, true, []byte("late"))
	d.c.expectText("late")
	h.mu.Lock()
	var ids []any
	for _, o := range h.opens {
		ids = append(ids, o.Identity)
	}
	h.mu.Unlock()
	if len(ids) != 3 || ids[2] != "slow" {
		t.Errorf("identities %v, want the slow one last", ids)
	}
}

func TestSlowAuth_RefusalAndBusy(t *testing.T) {
	h := &slowHandler{recorder: newRecorder(), gate: make(chan struct{}), refuse: true}
	s := startServer(t, Config{MaxSlowUpgrades: 1}, h)
	done := make(chan int, 1)
	go func() {
		st, _ := httpUpgrade(t, s, "/ws?slow=1", nil, true)
		done <- st
	}()
	eventually(t, 5*time.Second, func() error {
		if h.waiting.Load() != 1 {
			return errors.New("not waiting")
		}
		return nil
	})
	st, body := httpUpgrade(t, s, "/ws?slow=1", nil, true)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"too many connections in their upgrade"`) {
		t.Errorf("over MaxSlowUpgrades: %d %s, want 503", st, body)
	}
	close(h.gate)
	if st := <-done; st != http.StatusForbidden {
		t.Errorf("refused slow upgrade: %d, want 403", st)
	}
	st, body = httpUpgrade(t, s, "/ws?slow=1", nil, true)
	if st != http.StatusForbidden || !strings.Contains(body, `{"error":"nope"}`) {
		t.Errorf("refusal: %d %q", st, body)
	}
	if got := s.Stats().Rejected[RejectBusy]; got != 1 {
		t.Errorf("busy rejections %d, want 1", got)
	}
	if h.numOpen() != 0 || s.reserved.Load() != 0 {
		t.Errorf("opens %d, reserved %d after refusals", h.numOpen(), s.reserved.Load())
	}
}

func TestSlowAuth_ShutdownWhileWaiting(t *testing.T) {
	h := &slowHandler{recorder: newRecorder(), gate: make(chan struct{})}
	s, err := New(Config{Addr: "127.0.0.1:0", HandshakeTimeout: 300 * time.Millisecond}, h, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = dialErr(s, "/ws?slow=1", nil) }()
	eventually(t, 5*time.Second, func() error {
		if h.waiting.Load() != 1 {
			return errors.New("not waiting")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v with a slow upgrade waiting", d)
	}
	if h.numOpen() != 0 {
		t.Error("the slow upgrade opened during shutdown")
	}
}
