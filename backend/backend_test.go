package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubrt/hub/protocol"
)

var secret = []byte("s3cret")

// recorder is a real HTTP backend that verifies each request's signature
// and records what it got.
type recorder struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
	h    func(w http.ResponseWriter, r *recorded)
}

type recorded struct {
	path, event, ids string
	body             []byte
	n                int // 1-based arrival number
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *recorded)) *recorder {
	rc := &recorder{t: t, h: h}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), 0); err != nil {
			t.Errorf("request %s: signature %q: %v", r.URL.Path, r.Header.Get(SignatureHeader), err)
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s content-type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		rec := recorded{path: r.URL.Path, event: r.Header.Get(EventHeader), ids: r.Header.Get(EventIDHeader), body: body}
		rc.mu.Lock()
		rec.n = len(rc.reqs) + 1
		rc.reqs = append(rc.reqs, rec)
		rc.mu.Unlock()
		if rc.h != nil {
			rc.h(w, &rec)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *recorder) all() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

func newHTTP(t *testing.T, url string, timeout time.Duration, inFlight int) *HTTP {
	t.Helper()
	h, err := NewHTTP(HTTPConfig{Name: "app", URL: url, Secret: secret, Timeout: timeout, MaxInFlight: inFlight})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.CloseIdle)
	return h
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSign_Verify(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"event":"connect"}`)
	sig := Sign(secret, now, body)
	// The value a backend computes with any HMAC library.
	if want := "t=1767225600,v1="; !strings.HasPrefix(sig, want) || len(sig) != len(want)+64 {
		t.Fatalf("Sign = %q", sig)
	}
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"good", sig, body, now, nil},
		{"later within tolerance", sig, body, now.Add(4 * time.Minute), nil},
		{"stale", sig, body, now.Add(6 * time.Minute), ErrStaleSignature},
		{"other body", sig, []byte(`{"event":"x"}`), now, ErrBadSignature},
		{"other secret", Sign([]byte("x"), now, body), body, now, ErrBadSignature},
		{"no time", sig[strings.Index(sig, ",")+1:], body, now, ErrBadSignature},
		{"garbage", "nonsense", body, now, ErrBadSignature},
		{"two v1, one good", strings.Replace(sig, ",v1=", ",v1=00,v1=", 1), body, now, nil},
	}
	for _, tt := range tests {
		if err := Verify(secret, tt.header, tt.body, tt.now, 0); err != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSign_READMESnippets(t *testing.T) {
	body := []byte(`{"event":"message","message":{"text":"hi ✓"}}`)
	header := Sign(secret, time.Now(), body)
	if !verify(secret, header, body) {
		t.Error("the README's Go snippet does not verify a good signature")
	}
	if verify(secret, header, append(body, ' ')) {
		t.Error("the README's Go snippet verifies a bad signature")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP the README's Node snippet: node is not installed")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.js")
	if err := os.WriteFile(script, []byte(readmeNodeSnippet+`
const [secret, header, body] = process.argv.slice(2);
process.exit(verify(secret, header, Buffer.from(body)) ? 0 : 1);
`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(h string, b []byte) error {
		return exec.Command(node, script, string(secret), h, string(b)).Run()
	}
	if err := run(header, body); err != nil {
		t.Errorf("the README's Node snippet rejects a good signature: %v", err)
	}
	if err := run(header, append(body, ' ')); err == nil {
		t.Error("the README's Node snippet accepts a bad signature")
	}
}

func TestHTTP_TimeoutAnd500(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		switch r.path {
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/500":
			w.WriteHeader(500)
		}
	})
	h := newHTTP(t, rc.srv.URL, 200*time.Millisecond, 4)
	start := time.Now()
	_, err := h.Call(context.Background(), &Request{Target: "/slow", Event: "message", Body: []byte(`{}`)})
	if Kind(err) != KindTimeout {
		t.Errorf("slow backend: err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("slow backend answered after %v, want about the 200ms timeout", d)
	}
	resp, err := h.Call(context.Background(), &Request{Target: "/500", Event: "message", Body: []byte(`{}`)})
	if err != nil || resp.Status != 500 {
		t.Errorf("500: %v %v", resp, err)
	}
	dead := newHTTP(t, "http://127.0.0.1:1", time.Second, 1)
	if _, err := dead.Call(context.Background(), &Request{Target: "/", Event: "message"}); Kind(err) != KindUnavailable {
		t.Errorf("down backend: err = %v, want unavailable", err)
	}
}

func TestMessages_OrderPerConnection(t *testing.T) {
	// Answers echo the message; a random-ish delay makes reordering show
	// if two of one connection were ever in flight together.
	var inFlight sync.Map
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		var ev protocol.Event
		_ = json.Unmarshal(r.body, &ev)
		if _, busy := inFlight.LoadOrStore(ev.ConnectionID, true); busy {
			t.Errorf("two messages of %s in flight at once", ev.ConnectionID)
		}
		time.Sleep(time.Duration(r.n%3) * time.Millisecond)
		inFlight.Delete(ev.ConnectionID)
		fmt.Fprintf(w, `{"body":%s}`, ev.Message)
	})
	h := newHTTP(t, rc.srv.URL, 5*time.Second, 16)
	const senders, each = 50, 20
	var mu sync.Mutex
	got := map[string][]int{}
	m := NewMessages(MessagesConfig{Target: "/messages", PerConn: each,
		OnReply: func(id string, r protocol.Reply) {
			var n int
			_ = json.Unmarshal(r.Body, &n)
			mu.Lock()
			got[id] = append(got[id], n)
			mu.Unlock()
		},
		OnError: func(id string, e *protocol.Error) { t.Errorf("%s: error %v", id, e) },
	}, h, nil)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			id := fmt.Sprintf("n.%d", s)
			for i := range each {
				m.Post(id, fmt.Appendf(nil, `{"event":"message","connection_id":%q,"message":%d}`, id, i))
			}
		})
	}
	wg.Wait()
	if !m.waitIdle(10 * time.Second) {
		t.Fatal("messages not all posted")
	}
	for s := range senders {
		id := fmt.Sprintf("n.%d", s)
		want := make([]int, each)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got[id], want) {
			t.Errorf("%s replies %v, want %v", id, got[id], want)
		}
	}
	_ = m.Shutdown(context.Background())
}

func TestMessages_Outcomes(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		switch r.path {
		case "/reply":
			io.WriteString(w, `{"body":{"ok":true},"end":true}`)
		case "/none":
			w.WriteHeader(204)
		case "/403":
			w.WriteHeader(403)
		case "/500":
			w.WriteHeader(500)
		case "/slow":
			time.Sleep(time.Second)
		}
	})
	h := newHTTP(t, rc.srv.URL, 150*time.Millisecond, 4)
	tests := []struct {
		target string
		reply  string
		err    *protocol.Error
	}{
		{"/reply", `{"ok":true} end`, nil},
		{"/none", "", nil},
		{"/403", "", protocol.ErrMessageRefused},
		{"/500", "", protocol.ErrBackendUnavailable},
		{"/slow", "", protocol.ErrBackendTimeout},
	}
	for _, tt := range tests {
		var reply string
		var gotErr *protocol.Error
		m := NewMessages(MessagesConfig{Target: tt.target,
			OnReply: func(_ string, r protocol.Reply) { reply = fmt.Sprintf("%s end", r.Body) },
			OnError: func(_ string, e *protocol.Error) { gotErr = e },
		}, h, nil)
		start := time.Now()
		m.Post("c1", []byte(`{"event":"message"}`))
		if !m.waitIdle(5 * time.Second) {
			t.Fatalf("%s: not answered", tt.target)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: outcome after %v, want within the timeout", tt.target, d)
		}
		if reply != tt.reply || gotErr != tt.err {
			t.Errorf("%s: reply %q err %v, want %q %v", tt.target, reply, gotErr, tt.reply, tt.err)
		}
	}
}

func TestWebhooks_RetryDedupOrder(t *testing.T) {
	// Every request fails its first 3 attempts (500, a reset connection,
	// a timeout), then succeeds; the backend de-duplicates by event id.
	var attempts sync.Map // ids -> *atomic.Int32
	var mu sync.Mutex
	seen := map[string]bool{}
	order := map[string][]int{}
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		v, _ := attempts.LoadOrStore(r.ids, new(atomic.Int32))
		switch v.(*atomic.Int32).Add(1) {
		case 1:
			w.WriteHeader(500)
			return
		case 2:
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		case 3:
			time.Sleep(400 * time.Millisecond) // past the 200ms timeout
			return
		}
		var evs []struct {
			ConnectionID string `json:"connection_id"`
			N            int    `json:"n"`
		}
		if err := json.Unmarshal(r.body, &evs); err != nil {
			t.Errorf("batch body %s: %v", r.body, err)
		}
		ids := strings.Split(r.ids, ",")
		if len(ids) != len(evs) {
			t.Errorf("ids %q for %d events", r.ids, len(evs))
		}
		mu.Lock()
		for i, ev := range evs {
			if !seen[ids[i]] {
				seen[ids[i]] = true
				order[ev.ConnectionID] = append(order[ev.ConnectionID], ev.N)
			}
		}
		mu.Unlock()
	})
	h := newHTTP(t, rc.srv.URL, 200*time.Millisecond, 8)
	w := NewWebhooks(WebhookConfig{Target: "/events", Batch: 5, Lanes: 3, Backoff: 10 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond, RetryFor: time.Minute, IDPrefix: "n1.x."}, h, nil)
	const conns, each = 6, 12
	for i := range each {
		for c := range conns {
			w.Enqueue(fmt.Sprintf("c%d", c), fmt.Appendf(nil, `{"event":"disconnect","connection_id":"c%d","n":%d}`, c, i))
		}
	}
	eventually(t, "every event delivered", func() bool { return w.Depth() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != conns*each {
		t.Errorf("backend took %d distinct events, want %d", len(seen), conns*each)
	}
	for c := range conns {
		id := fmt.Sprintf("c%d", c)
		if !slices.IsSorted(order[id]) || len(order[id]) != each {
			t.Errorf("%s events in order %v", id, order[id])
		}
	}
	if err := w.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestWebhooks_OverflowAndShutdown(t *testing.T) {
	release := make(chan struct{})
	var got atomic.Int32
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		<-release
		got.Add(1)
	})
	defer close(release)
	h := newHTTP(t, rc.srv.URL, 5*time.Second, 2)
	w := NewWebhooks(WebhookConfig{Target: "/events", QueueSize: 10, Lanes: 1, IDPrefix: "n."}, h, nil)
	ok := 0
	for i := range 30 {
		if w.Enqueue("c", fmt.Appendf(nil, `{"n":%d}`, i)) {
			ok++
		}
	}
	if ok != 10 {
		t.Errorf("queued %d of 30 with a queue of 10", ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := w.Shutdown(ctx); err == nil {
		t.Error("Shutdown drained a stuck backend")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v past its context", d)
	}
	if w.Enqueue("c", []byte(`{}`)) {
		t.Error("Enqueue after Shutdown took the event")
	}
}

func TestWebhooks_DrainOnShutdown(t *testing.T) {
	var got atomic.Int32
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) { got.Add(1) })
	h := newHTTP(t, rc.srv.URL, time.Second, 4)
	w := NewWebhooks(WebhookConfig{Target: "/events", Lanes: 2, IDPrefix: "n."}, h, nil)
	for i := range 100 {
		w.Enqueue(fmt.Sprint(i), []byte(`{}`))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 100 {
		t.Errorf("backend got %d of 100 events by the end of Shutdown", got.Load())
	}
}

func TestProxy_Connect(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		switch r.path {
		case "/ok":
			io.WriteString(w, `{"user":"alice","info":{"name":"Alice"},"join":["lobby"],"expires_at":1767225600}`)
		case "/empty":
			w.WriteHeader(204)
		case "/403":
			w.WriteHeader(403)
			io.WriteString(w, `{"error":"banned"}`)
		case "/body-status":
			io.WriteString(w, `{"status":401,"error":"who are you"}`)
		case "/badjson":
			io.WriteString(w, `{"user":`)
		case "/baduser":
			io.WriteString(w, `{"user":"a b"}`)
		case "/500":
			w.WriteHeader(500)
		case "/slow":
			time.Sleep(time.Second)
		}
	})
	h := newHTTP(t, rc.srv.URL, 150*time.Millisecond, 4)
	tests := []struct {
		target string
		allow  bool
		accept bool
		status int
		msg    string
		user   string
	}{
		{"/ok", false, true, 0, "", "alice"},
		{"/empty", false, true, 0, "", ""},
		{"/403", false, false, 403, "banned", ""},
		{"/body-status", false, false, 401, "who are you", ""},
		{"/badjson", false, false, 503, "backend unavailable", ""},
		{"/baduser", false, false, 503, "backend unavailable", ""},
		{"/500", false, false, 503, "backend unavailable", ""},
		{"/slow", false, false, 503, "backend timed out", ""},
		{"/500", true, true, 0, "", ""},
		{"/slow", true, true, 0, "", ""},
		{"/403", true, false, 403, "banned", ""},
	}
	for _, tt := range tests {
		d := NewProxy(h, "connect", tt.target, tt.allow).Connect(context.Background(), []byte(`{"event":"connect"}`))
		if d.Accept != tt.accept || d.Status != tt.status || d.Error != tt.msg || d.Answer.User != tt.user {
			t.Errorf("%s allow=%v: %+v, want accept %v status %d %q user %q", tt.target, tt.allow, d, tt.accept, tt.status, tt.msg, tt.user)
		}
	}
	d := NewProxy(h, "connect", "/ok", false).Connect(context.Background(), nil)
	if string(d.Answer.Info) != `{"name":"Alice"}` || !slices.Equal(d.Answer.Join, []string{"lobby"}) || d.Answer.ExpiresAt != 1767225600 {
		t.Errorf("answer %+v", d.Answer)
	}
}

func TestProxy_Join(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		switch r.path {
		case "/403":
			w.WriteHeader(403)
		case "/body":
			io.WriteString(w, `{"status":403}`)
		case "/500":
			w.WriteHeader(500)
		}
	})
	h := newHTTP(t, rc.srv.URL, time.Second, 4)
	tests := []struct {
		target string
		allow  bool
		want   *protocol.Error
	}{
		{"/ok", false, nil},
		{"/403", false, protocol.ErrJoinRefused},
		{"/body", false, protocol.ErrJoinRefused},
		{"/500", false, protocol.ErrBackendUnavailable},
		{"/500", true, nil},
	}
	for _, tt := range tests {
		if got := NewProxy(h, "join", tt.target, tt.allow).Join(context.Background(), []byte(`{}`)); got != tt.want {
			t.Errorf("%s allow=%v: %v, want %v", tt.target, tt.allow, got, tt.want)
		}
	}
}

func TestHTTP_BoundedInFlight(t *testing.T) {
	var cur, peak atomic.Int32
	rc := newRecorder(t, func(w http.ResponseWriter, r *recorded) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		cur.Add(-1)
	})
	h := newHTTP(t, rc.srv.URL, 5*time.Second, 3)
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() { _, _ = h.Call(context.Background(), &Request{Target: "/", Event: "webhook"}) })
	}
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Errorf("%d requests in flight at once, want at most 3", p)
	}
	_ = before
}
