package node_test

// Tests of SPEC §12 (HTTP backends) against real HTTP servers, real nodes
// and real WebSocket clients.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hubrt/hub/backend"
	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

var backendSecret = []byte("backend-test-key")

// testBackend is a real HTTP backend: it verifies every request's
// signature, records it, and answers with handle.
type testBackend struct {
	t      *testing.T
	srv    *httptest.Server
	handle func(w http.ResponseWriter, r *backendReq)
	mu     sync.Mutex
	reqs   []*backendReq
}

type backendReq struct {
	Path, Event, IDs string
	Body             []byte
	Header           http.Header
}

func startBackend(t *testing.T, handle func(w http.ResponseWriter, r *backendReq)) *testBackend {
	b := &testBackend{t: t, handle: handle}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := backend.Verify(backendSecret, r.Header.Get("Hub-Signature"), body, time.Now(), 0); err != nil {
			t.Errorf("%s: signature %q does not verify: %v", r.URL.Path, r.Header.Get("Hub-Signature"), err)
		}
		br := &backendReq{Path: r.URL.Path, Event: r.Header.Get("Hub-Event"), IDs: r.Header.Get("Hub-Event-Id"), Body: body, Header: r.Header}
		b.mu.Lock()
		b.reqs = append(b.reqs, br)
		b.mu.Unlock()
		if b.handle != nil {
			b.handle(w, br)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *testBackend) requests(path string) []*backendReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*backendReq
	for _, r := range b.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// connector adds an http connector called name pointing at b.
func (b *testBackend) connector(t *testing.T, c *config.Config, name string, timeout time.Duration) *config.HTTPConnector {
	key := filepath.Join(t.TempDir(), name+".key")
	if err := os.WriteFile(key, append(slices.Clone(backendSecret), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:1" // nothing listens: a backend that is down
	if b != nil {
		url = b.srv.URL
	}
	hc := config.HTTPConnector{Name: name, URL: url, SecretFile: key, Timeout: timeout,
		MaxInFlight: 64, Batch: 1, QueueSize: 10000, RetryFor: time.Minute}
	c.HTTP = append(c.HTTP, hc)
	return &c.HTTP[len(c.HTTP)-1]
}

func httpFlow(name, op, connector, target string) config.Flow {
	return config.Flow{Name: name,
		From: config.Endpoint{Connector: "ws", Kind: config.KindWebSocket, Operation: op},
		To:   config.Endpoint{Connector: connector, Kind: config.KindHTTP, Target: target}}
}

// golden compares a request body, with the fields that change from run to
// run replaced, to testdata/backends/<name>.json.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: body %q is not JSON: %v", name, body, err)
	}
	normalize(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	got := buf.Bytes()
	path := filepath.Join("testdata", "backends", name+".json")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s request:\n%s\nwant (%s):\n%s", name, got, path, want)
	}
}

func normalize(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "time":
				x[k] = "<time>"
			case "connection_id":
				if e != "" {
					x[k] = "<connection_id>"
				}
			case "node":
				x[k] = "<node>"
			default:
				normalize(e)
			}
		}
	case []any:
		for _, e := range x {
			normalize(e)
		}
	}
}

func TestBackends_ConnectProxy(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		var ev protocol.Event
		_ = json.Unmarshal(r.Body, &ev)
		switch ev.Query["who"][0] {
		case "alice":
			io.WriteString(w, `{"user":"alice","info":{"name":"Alice"},"join":["lobby","news"]}`)
		case "anon":
			w.WriteHeader(http.StatusNoContent)
		case "banned":
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"banned"}`)
		case "teapot":
			io.WriteString(w, `{"status":418}`)
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
		case "slow":
			time.Sleep(2 * time.Second)
		}
	})
	c := hubtest.Config(t)
	be.connector(t, c, "app", 300*time.Millisecond)
	c.Proxies = []config.Proxy{{Kind: config.ProxyConnect, Connector: "app", Target: "/connect", OnError: config.OnErrorRefuse}}
	n := hubtest.Start(t, c)
	nc := hubtest.NATS(t, n.NATSURL())
	events := hubtest.Events(t, nc, "hub.events.>")

	h := http.Header{}
	h.Set("Cookie", "session=s1")
	h.Set("User-Agent", "hub-test")
	alice := hubtest.Dial(t, n.WSURL()+"?who=alice&token=abc", h)
	reqs := be.requests("/connect")
	if len(reqs) != 1 || reqs[0].Event != "connect" {
		t.Fatalf("connect proxy requests %+v", reqs)
	}
	golden(t, "connect_proxy", reqs[0].Body)

	ev, _ := hubtest.NextEvent(t, events, func(e protocol.Event) bool { return e.Event == "connect" })
	if ev.User != "alice" {
		t.Errorf("connect event user %q, want alice (from the proxy)", ev.User)
	}
	if _, ok := ev.Headers["Cookie"]; ok {
		t.Error("the connect event (NATS) carries the Cookie header; only the proxy may see it")
	}
	// Joined server-side, each announced with a joined frame: a room
	// message reaches alice.
	joined := map[string]bool{}
	for range 2 {
		if m := alice.Expect("joined"); m.S("by") == "server" {
			joined[m.S("room")] = true
		}
	}
	if !joined["lobby"] || !joined["news"] {
		t.Fatalf("joined %v by server, want lobby and news", joined)
	}
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/news/messages", "", `"extra"`)
	if m := alice.Expect("message"); m.S("room") != "news" || m.JSON("data") != `"extra"` {
		t.Errorf("alice got %s", m["_raw"])
	}

	hubtest.Dial(t, n.WSURL()+"?who=anon", nil).Close()

	tests := []struct {
		who    string
		status int
		body   string
		within time.Duration
	}{
		{"banned", 403, `{"error":"banned"}`, time.Second},
		{"teapot", 418, `{"error":"I'm a teapot"}`, time.Second},
		{"broken", 503, `{"error":"backend unavailable"}`, time.Second},
		{"slow", 503, `{"error":"backend timed out"}`, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		start := time.Now()
		st, body := upgradeStatus(t, n, "?who="+tt.who)
		if st != tt.status || strings.TrimSpace(body) != tt.body {
			t.Errorf("%s: upgrade %d %s, want %d %s", tt.who, st, body, tt.status, tt.body)
		}
		if d := time.Since(start); d > tt.within {
			t.Errorf("%s: answered after %v, want within %v", tt.who, d, tt.within)
		}
	}
}

// upgradeStatus sends an upgrade request and returns the status and body.
func upgradeStatus(t *testing.T, n *node.Node, query string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.HTTPURL()+"/ws"+query, nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	tr := &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("upgrade %s: %v", query, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBackends_ConnectProxyOnErrorAllow(t *testing.T) {
	c := hubtest.Config(t)
	(*testBackend)(nil).connector(t, c, "down", 300*time.Millisecond)
	c.Proxies = []config.Proxy{{Kind: config.ProxyConnect, Connector: "down", Target: "/connect", OnError: config.OnErrorAllow}}
	n := hubtest.Start(t, c)
	cl := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	cl.Send(`{"type":"join_room","room":"r","id":1}`)
	cl.Expect("ack")
}

// With the backend down, a storm of connects is refused within the
// timeout, and the node's goroutines and memory stay bounded.
func TestBackends_ConnectStormBackendDown(t *testing.T) {
	const total, clients = 2000, 32
	c := hubtest.Config(t)
	(*testBackend)(nil).connector(t, c, "storm", time.Second)
	c.Proxies = []config.Proxy{{Kind: config.ProxyConnect, Connector: "storm", Target: "/connect", OnError: config.OnErrorRefuse}}
	n := hubtest.Start(t, c)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	goBefore := runtime.NumGoroutine()

	var next, refused, other atomic.Int64
	var slowest atomic.Int64
	peakG := atomic.Int64{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if g := int64(runtime.NumGoroutine()); g > peakG.Load() {
				peakG.Store(g)
			}
		}
	}()
	url := strings.Replace(n.WSURL(), "ws://", "", 1)
	addr := url[:strings.Index(url, "/")]
	req := []byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
			buf := make([]byte, 512)
			for next.Add(1) <= total {
				t0 := time.Now()
				conn, err := d.Dial("tcp", addr)
				if err != nil {
					other.Add(1)
					continue
				}
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_, _ = conn.Write(req)
				k, _ := io.ReadAtLeast(conn, buf, 12)
				conn.Close()
				if bytes.HasPrefix(buf[:k], []byte("HTTP/1.1 503")) {
					refused.Add(1)
				} else {
					other.Add(1)
				}
				if d := int64(time.Since(t0)); d > slowest.Load() {
					slowest.Store(d)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-sampled
	t.Logf("%d connects refused in %v (%.0f/s), slowest %v, peak goroutines %d (before %d)",
		refused.Load(), took.Round(time.Millisecond), float64(total)/took.Seconds(), time.Duration(slowest.Load()).Round(time.Millisecond), peakG.Load(), goBefore)
	if refused.Load() != total || other.Load() != 0 {
		t.Errorf("refused %d, other outcomes %d, want all %d refused with 503", refused.Load(), other.Load(), total)
	}
	if s := time.Duration(slowest.Load()); s > 3*time.Second {
		t.Errorf("slowest refusal took %v, want within the 1s timeout (plus scheduling)", s)
	}
	// Bounded: the clients, at most one upgrade goroutine per client in
	// flight, the HTTP client's, the node's own.
	if g := peakG.Load(); g > int64(goBefore+4*clients+50) {
		t.Errorf("peak goroutines %d with %d clients (before %d): not bounded by the clients in flight", g, clients, goBefore)
	}
	hubtest.Eventually(t, "goroutines back", func() bool { return runtime.NumGoroutine() <= goBefore+10 })
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapInuse) - int64(heapBefore); grown > 16<<20 {
		t.Errorf("heap grew %d MiB over the storm", grown>>20)
	}
	if n.NumConns() != 0 {
		t.Errorf("%d connections open", n.NumConns())
	}
	if got := testutil.ToFloat64(metrics.BackendErrors.WithLabelValues("storm", backend.KindUnavailable)); got < total {
		t.Errorf("hub_backend_errors_total{connector=storm,kind=unavailable} = %v, want %d", got, total)
	}
}

func TestBackends_MessageFlow(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		var ev protocol.Event
		_ = json.Unmarshal(r.Body, &ev)
		var m struct {
			Do string `json:"do"`
		}
		_ = json.Unmarshal(ev.Message, &m)
		switch m.Do {
		case "echo":
			fmt.Fprintf(w, `{"body":{"echo":%s}}`, ev.Message)
		case "plain":
			io.WriteString(w, `["not","a","reply"]`)
		case "none":
			w.WriteHeader(204)
		case "end":
			io.WriteString(w, `{"body":"bye","end":true}`)
		case "refuse":
			w.WriteHeader(422)
		case "fail":
			w.WriteHeader(500)
		case "sleep":
			time.Sleep(2 * time.Second)
		}
	})
	c := hubtest.Config(t)
	be.connector(t, c, "msgs", 300*time.Millisecond)
	c.Flows = append(c.Flows, httpFlow("chat_to_app", "message", "msgs", "/messages"))
	n := hubtest.Start(t, c)
	nc := hubtest.NATS(t, n.NATSURL())
	events := hubtest.Events(t, nc, "hub.events.message")

	cl := hubtest.Dial(t, n.WSURL()+"?user=carol&lang=en", nil)
	cl.Send(`{"type":"message","id":1,"data":{"do":"echo","n":1}}`)
	cl.Expect("ack")
	if m := cl.Expect("message"); m.JSON("data") != `{"echo":{"do":"echo","n":1}}` {
		t.Errorf("reply %s", m["_raw"])
	}
	_, natsMsg := hubtest.NextEvent(t, events, nil)
	reqs := be.requests("/messages")
	if len(reqs) != 1 || reqs[0].Event != "message" {
		t.Fatalf("message requests %+v", reqs)
	}
	if !bytes.Equal(reqs[0].Body, natsMsg.Data) {
		t.Errorf("HTTP body differs from the NATS event:\nhttp %s\nnats %s", reqs[0].Body, natsMsg.Data)
	}
	golden(t, "message_flow", reqs[0].Body)

	cl.Send(`{"type":"message","data":{"do":"plain"}}`)
	if m := cl.Expect("message"); m.JSON("data") != `["not","a","reply"]` {
		t.Errorf("plain reply %s", m["_raw"])
	}
	cl.Send(`{"type":"message","data":{"do":"none"}}`)
	cl.Quiet(300 * time.Millisecond)
	cl.Send(`{"type":"message","data":{"do":"refuse"}}`)
	cl.ExpectError(protocol.ErrMessageRefused.Code)
	for _, tt := range []struct {
		do   string
		code int
	}{{"fail", 503}, {"sleep", 504}} {
		start := time.Now()
		cl.Send(`{"type":"message","data":{"do":"` + tt.do + `"}}`)
		cl.ExpectError(tt.code)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s: error frame after %v, want within the 300ms timeout", tt.do, d)
		}
	}
	cl.Send(`{"type":"message","data":{"do":"end"}}`)
	if m := cl.Expect("message"); m.JSON("data") != `"bye"` {
		t.Errorf("end reply %s", m["_raw"])
	}
	if code, reason := cl.Closed(); code != 1000 || reason != "reply_end" {
		t.Errorf("closed %d %q, want 1000 reply_end", code, reason)
	}
}

// Messages of one connection are posted in order, one at a time, under 50
// concurrent senders.
func TestBackends_MessageOrderUnderConcurrentSenders(t *testing.T) {
	const senders, each = 50, 20
	var inFlight sync.Map
	var overlap atomic.Int32
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		var ev protocol.Event
		_ = json.Unmarshal(r.Body, &ev)
		if _, busy := inFlight.LoadOrStore(ev.ConnectionID, true); busy {
			overlap.Add(1)
		}
		time.Sleep(time.Millisecond)
		inFlight.Delete(ev.ConnectionID)
		fmt.Fprintf(w, `{"body":%s}`, ev.Message)
	})
	c := hubtest.Config(t)
	c.WebSocket.MaxMessagesPerSecond = 0
	be.connector(t, c, "order", 5*time.Second).MaxInFlight = 16
	c.Flows = append(c.Flows, httpFlow("ordered", "message", "order", "/messages"))
	n := hubtest.Start(t, c)
	var wg sync.WaitGroup
	for s := range senders {
		cl := hubtest.Dial(t, n.WSURL()+fmt.Sprintf("?user=s%d", s), nil)
		wg.Go(func() {
			for i := range each {
				cl.Send(fmt.Sprintf(`{"type":"message","data":%d}`, i))
			}
		})
		defer func() {
			for i := range each {
				m := cl.Expect("message")
				if m.JSON("data") != fmt.Sprint(i) {
					t.Errorf("sender %d: reply %d is %s", s, i, m["_raw"])
					return
				}
			}
		}()
	}
	wg.Wait()
	hubtest.Eventually(t, "every message posted", func() bool { return len(be.requests("/messages")) == senders*each })
	// Per connection, the backend saw the messages in the order sent.
	got := map[string][]string{}
	for _, r := range be.requests("/messages") {
		var ev protocol.Event
		_ = json.Unmarshal(r.Body, &ev)
		got[ev.User] = append(got[ev.User], string(ev.Message))
	}
	for user, msgs := range got {
		for i, m := range msgs {
			if m != fmt.Sprint(i) {
				t.Fatalf("%s: message %d posted as %s (order %v)", user, i, m, msgs)
			}
		}
	}
	if overlap.Load() != 0 {
		t.Errorf("%d times two messages of one connection were in flight at once", overlap.Load())
	}
}

func TestBackends_JoinProxy(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		var ev protocol.Event
		_ = json.Unmarshal(r.Body, &ev)
		switch ev.Room {
		case "private.ok":
			w.WriteHeader(200)
		case "private.no":
			w.WriteHeader(403)
		case "private.down":
			w.WriteHeader(502)
		case "team.blue":
			w.WriteHeader(401)
		}
	})
	c := hubtest.Config(t)
	be.connector(t, c, "joins", time.Second)
	c.Proxies = []config.Proxy{{Kind: config.ProxyJoin, Connector: "joins", Target: "/join", OnError: config.OnErrorRefuse, Rooms: []string{"private.>"}}}
	c.Namespaces = []namespace.Namespace{{Name: "team", Rooms: []string{"team.*"}, Anonymous: true, JoinProxy: "joins"}}
	n := hubtest.Start(t, c)
	cl := hubtest.Dial(t, n.WSURL()+"?user=dan", nil)
	cl.Join("public")
	if len(be.requests("/join")) != 0 {
		t.Error("the join proxy was asked about a room outside its patterns")
	}
	cl.Join("private.ok")
	reqs := be.requests("/join")
	if len(reqs) != 1 || reqs[0].Event != "join" {
		t.Fatalf("join requests %+v", reqs)
	}
	golden(t, "join_proxy", reqs[0].Body)
	cl.Send(`{"type":"join_room","room":"private.no","id":"x"}`)
	if m := cl.ExpectError(protocol.ErrJoinRefused.Code); m.S("id") != "x" {
		t.Errorf("refusal %s has no id", m["_raw"])
	}
	cl.Send(`{"type":"join_room","room":"private.down","id":"y"}`)
	cl.ExpectError(protocol.ErrBackendUnavailable.Code)
	// A namespace's join_proxy asks the same backend.
	cl.Join("team.red")
	cl.Send(`{"type":"join_room","room":"team.blue","id":"z"}`)
	cl.ExpectError(protocol.ErrJoinRefused.Code)
	if got := len(be.requests("/join")); got != 5 {
		t.Errorf("join proxy asked %d times, want 5", got)
	}
	// The allowed join holds: a room message reaches dan.
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/private.ok/messages", "", `1`)
	if m := cl.Expect("message"); m.S("room") != "private.ok" {
		t.Errorf("got %s", m["_raw"])
	}
}

func TestBackends_ProxyOverNATS(t *testing.T) {
	c := hubtest.Config(t)
	c.Proxies = []config.Proxy{
		{Kind: config.ProxyConnect, Connector: "bus", Target: "app.connect", OnError: config.OnErrorRefuse},
		{Kind: config.ProxyJoin, Connector: "bus", Target: "app.join", OnError: config.OnErrorRefuse, Rooms: []string{"vip"}},
	}
	n := hubtest.Start(t, c)
	nc := hubtest.NATS(t, n.NATSURL())
	var connectReq []byte
	if _, err := nc.Subscribe("app.connect", func(m *natsMsg) {
		var ev protocol.Event
		_ = json.Unmarshal(m.Data, &ev)
		connectReq = m.Data
		if ev.Query["who"][0] == "erin" {
			_ = m.Respond([]byte(`{"user":"erin"}`))
		} else {
			_ = m.Respond([]byte(`{"status":401,"error":"no"}`))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("app.join", func(m *natsMsg) { _ = m.Respond([]byte(`{"status":403}`)) }); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	cl := hubtest.Dial(t, n.WSURL()+"?who=erin", nil)
	var ev protocol.Event
	_ = json.Unmarshal(connectReq, &ev)
	if ev.Event != "connect" {
		t.Errorf("NATS connect request %s", connectReq)
	}
	cl.Send(`{"type":"join_room","room":"vip","id":1}`)
	cl.ExpectError(protocol.ErrJoinRefused.Code)
	if st, body := upgradeStatus(t, n, "?who=mallory"); st != 401 || !strings.Contains(body, `"no"`) {
		t.Errorf("refused over NATS: %d %s", st, body)
	}
}

// Webhooks: a backend that fails the first 3 attempts of every request
// still gets each event once (de-duplicated by Hub-Event-Id), in order per
// connection.
func TestBackends_WebhooksRetried(t *testing.T) {
	// The metric is the process's: count what this test adds to it.
	retriesBefore := testutil.ToFloat64(metrics.BackendRetries.WithLabelValues("hooks"))
	var mu sync.Mutex
	attempts := map[string]int{}
	seen := map[string]bool{}
	perConn := map[string][]string{}
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		mu.Lock()
		attempts[r.IDs]++
		a := attempts[r.IDs]
		mu.Unlock()
		switch a {
		case 1:
			w.WriteHeader(503)
			return
		case 2:
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		case 3:
			time.Sleep(600 * time.Millisecond) // past the timeout
			return
		}
		var ev protocol.Event
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Errorf("webhook body %s: %v", r.Body, err)
		}
		mu.Lock()
		if !seen[r.IDs] {
			seen[r.IDs] = true
			perConn[ev.ConnectionID] = append(perConn[ev.ConnectionID], ev.Event)
		}
		mu.Unlock()
	})
	c := hubtest.Config(t)
	be.connector(t, c, "hooks", 300*time.Millisecond)
	c.Flows = append(c.Flows, httpFlow("hook_connect", "connect", "hooks", "/events"),
		httpFlow("hook_disconnect", "disconnect", "hooks", "/events"))
	n := hubtest.Start(t, c)
	// Each request takes about a second to get through (backoff 100, 200,
	// 400 ms and a timeout), and a connection's events wait behind each
	// other: keep the count small, and the deadline long for a loaded run.
	const conns = 3
	for i := range conns {
		cl := hubtest.Dial(t, n.WSURL()+fmt.Sprintf("?user=u%d", i), nil)
		cl.Close()
		cl.Closed()
	}
	deadline := time.Now().Add(6 * hubtest.Wait)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 2*conns {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("%d of %d events delivered; attempts %v", n, 2*conns, attempts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, evs := range perConn {
		if !slices.Equal(evs, []string{"connect", "disconnect"}) {
			t.Errorf("%s: events %v, want connect then disconnect, once each", id, evs)
		}
	}
	for ids, a := range attempts {
		if a != 4 {
			t.Errorf("event %s: %d attempts, want 4", ids, a)
		}
	}
	if got := testutil.ToFloat64(metrics.BackendRetries.WithLabelValues("hooks")) - retriesBefore; got != 3*2*conns {
		t.Errorf("retries %v, want %d", got, 3*2*conns)
	}
}

func TestBackends_WebhookGolden(t *testing.T) {
	be := startBackend(t, nil)
	c := hubtest.Config(t)
	be.connector(t, c, "audit", time.Second).Batch = 10
	c.Flows = append(c.Flows, httpFlow("audit", "disconnect", "audit", "/events"))
	n := hubtest.Start(t, c)
	cl := hubtest.Dial(t, n.WSURL()+"?user=gus", nil)
	cl.Close()
	cl.Closed()
	hubtest.Eventually(t, "disconnect webhook", func() bool { return len(be.requests("/events")) == 1 })
	r := be.requests("/events")[0]
	if r.Event != "webhook" || r.IDs == "" || strings.Contains(r.IDs, ",") {
		t.Errorf("webhook headers: event %q ids %q", r.Event, r.IDs)
	}
	golden(t, "webhook_batch", r.Body)
}

// A full webhook queue drops and counts; nothing else breaks.
func TestBackends_WebhookOverflow(t *testing.T) {
	release := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	c := hubtest.Config(t)
	hc := be.connector(t, c, "full", 30*time.Second)
	hc.QueueSize, hc.MaxInFlight = 3, 1
	c.Flows = append(c.Flows, httpFlow("full", "connect", "full", "/events"))
	n := hubtest.Start(t, c)
	for i := range 10 {
		cl := hubtest.Dial(t, n.WSURL()+fmt.Sprintf("?user=o%d", i), nil)
		cl.Join("room")
	}
	hubtest.Eventually(t, "overflow counted", func() bool {
		return testutil.ToFloat64(metrics.BackendDropped.WithLabelValues("full", "overflow")) >= 6
	})
	// The node goes on: a message reaches a client.
	cl := hubtest.Dial(t, n.WSURL()+"?user=last", nil)
	cl.Join("room")
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/room/messages", "", `"still here"`)
	if m := cl.Expect("message"); m.JSON("data") != `"still here"` {
		t.Errorf("got %s", m["_raw"])
	}
	if d := testutil.ToFloat64(metrics.BackendQueueDepth.WithLabelValues("full", "webhook")); d > 3 {
		t.Errorf("queue depth %v over queue_size 3", d)
	}
	close(release)
}

// Shutdown posts the queued disconnect events before it returns.
func TestBackends_ShutdownDrainsWebhooks(t *testing.T) {
	var got atomic.Int32
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		time.Sleep(20 * time.Millisecond)
		got.Add(1)
	})
	c := hubtest.Config(t)
	be.connector(t, c, "drain", time.Second).MaxInFlight = 2
	c.Flows = append(c.Flows, httpFlow("drain", "disconnect", "drain", "/events"))
	n, err := node.New(c, hubtest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	const conns = 20
	for i := range conns {
		hubtest.Dial(t, n.WSURL()+fmt.Sprintf("?user=d%d", i), nil)
	}
	hubtest.Eventually(t, "connections open", func() bool { return n.NumConns() == conns })
	stop(t, n)
	if got.Load() != conns {
		t.Errorf("backend got %d of %d disconnect webhooks by the end of Shutdown", got.Load(), conns)
	}
}

// With JWT and a connect proxy, a connection without a token is the
// proxy's to decide; a bad token is refused before the proxy is asked.
func TestBackends_ConnectProxyWithJWT(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		var ev protocol.Event
		_ = json.Unmarshal(r.Body, &ev)
		if ev.User == "" && len(ev.Headers["Cookie"]) == 0 {
			w.WriteHeader(401)
			return
		}
		if ev.User == "" {
			io.WriteString(w, `{"user":"from-cookie"}`)
		}
	})
	c := hubtest.Config(t)
	c.Node.Dev = false
	c.Auth.JWTSecret = "jwt-secret"
	be.connector(t, c, "jwtapp", time.Second)
	c.Proxies = []config.Proxy{{Kind: config.ProxyConnect, Connector: "jwtapp", Target: "/connect", OnError: config.OnErrorRefuse}}
	n := hubtest.Start(t, c)
	nc := hubtest.NATS(t, n.NATSURL())
	events := hubtest.Events(t, nc, "hub.events.connect")

	tok, err := node.MintToken("jwt-secret", "tina", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hubtest.Dial(t, n.WSURL()+"?token="+tok, nil)
	if ev, _ := hubtest.NextEvent(t, events, nil); ev.User != "tina" {
		t.Errorf("token user %q, want tina", ev.User)
	}
	h := http.Header{}
	h.Set("Cookie", "session=1")
	hubtest.Dial(t, n.WSURL(), h)
	if ev, _ := hubtest.NextEvent(t, events, nil); ev.User != "from-cookie" {
		t.Errorf("cookie user %q, want from-cookie", ev.User)
	}
	if st, _ := upgradeStatus(t, n, ""); st != 401 {
		t.Errorf("no token, no cookie: %d, want the proxy's 401", st)
	}
	asked := len(be.requests("/connect"))
	if st, body := upgradeStatus(t, n, "?token=garbage"); st != 401 || !strings.Contains(body, "invalid token") {
		t.Errorf("bad token: %d %s", st, body)
	}
	if len(be.requests("/connect")) != asked {
		t.Error("the proxy was asked about a bad token")
	}
}

// The connect proxy's info is what presence shows; presence's join, leave
// and room lifecycle events reach an http connector as webhooks, in order.
func TestBackends_PresenceInfoAndRoomWebhooks(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *backendReq) {
		if r.Path == "/connect" {
			io.WriteString(w, `{"user":"alice","info":{"name":"Alice"}}`)
		}
	})
	c := hubtest.Config(t)
	be.connector(t, c, "presapp", time.Second)
	c.Proxies = []config.Proxy{{Kind: config.ProxyConnect, Connector: "presapp", Target: "/connect", OnError: config.OnErrorRefuse}}
	c.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		Presence: &namespace.Presence{JoinLeave: true, MaxList: 100, LeaveDelay: namespace.DefaultPresenceLeaveDelay}}}
	for _, op := range []string{"join", "leave", "room_occupied", "room_vacated"} {
		c.Flows = append(c.Flows, httpFlow("pres_"+op, op, "presapp", "/events"))
	}
	n := hubtest.Start(t, c)
	cl := hubtest.Dial(t, n.WSURL(), nil)
	cl.Join("chat.lobby")
	hubtest.Eventually(t, "presence with the proxy's info", func() bool {
		st, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/chat.lobby/presence", "", "")
		b, _ := json.Marshal(body)
		return st == 200 && strings.Contains(string(b), `"info":{"name":"Alice"}`) && strings.Contains(string(b), `"user":"alice"`)
	})
	cl.Send(`{"type":"leave_room","room":"chat.lobby","id":"l"}`)
	hubtest.Eventually(t, "four room webhooks", func() bool { return len(be.requests("/events")) >= 4 })
	var got []string
	for _, r := range be.requests("/events") {
		var ev struct {
			Event, Room, User string
		}
		_ = json.Unmarshal(r.Body, &ev)
		if ev.Room != "chat.lobby" || r.IDs == "" {
			t.Errorf("webhook %s (ids %q)", r.Body, r.IDs)
		}
		got = append(got, ev.Event)
	}
	// join/leave are ordered by connection, the room's events by room:
	// within each, in order.
	idx := func(e string) int { return slices.Index(got, e) }
	if idx("join") < 0 || idx("leave") < idx("join") || idx("room_occupied") < 0 || idx("room_vacated") < idx("room_occupied") {
		t.Errorf("webhooks %v, want join before leave and room_occupied before room_vacated", got)
	}
}
