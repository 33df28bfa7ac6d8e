package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// sseEvent is one Server-Sent Event, or a comment (Comment set).
type sseEvent struct {
	ID, Event, Data, Comment string
}

// sseStream reads an SSE response in the background.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	ended  chan struct{}
}

// sseOpen requests url and fails the test unless the stream starts.
func sseOpen(t *testing.T, url string, header http.Header) *sseStream {
	t.Helper()
	s, status, body := sseTry(t, url, header)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, status, body)
	}
	return s
}

// sseTry requests url; on a refusal it returns the status and body.
func sseTry(t *testing.T, url string, header http.Header) (*sseStream, int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode, string(b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	s := &sseStream{t: t, resp: resp, cancel: cancel, events: make(chan sseEvent, 4096), ended: make(chan struct{})}
	go s.read()
	t.Cleanup(s.close)
	return s, resp.StatusCode, ""
}

func (s *sseStream) read() {
	defer close(s.ended)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "id":
				ev.ID = v
			case "event":
				ev.Event = v
			case "data":
				ev.Data = v
			}
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event that is not a comment.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	for {
		select {
		case ev := <-s.events:
			if ev.Comment != "" {
				continue
			}
			return ev
		case <-s.ended:
			select {
			case ev := <-s.events:
				if ev.Comment == "" {
					return ev
				}
				continue
			default:
			}
			s.t.Fatal("stream ended while waiting for an event")
		case <-time.After(hubtest.Wait):
			s.t.Fatal("no event")
		}
	}
}

// waitEnd waits for the server to end the response.
func (s *sseStream) waitEnd() {
	s.t.Helper()
	select {
	case <-s.ended:
	case <-time.After(hubtest.Wait):
		s.t.Fatal("stream not ended")
	}
}

// hello reads the connected event and returns its fields.
func (s *sseStream) hello() (id, user string, rooms []string) {
	s.t.Helper()
	ev := s.next()
	if ev.Event != "connected" {
		s.t.Fatalf("first event %+v, want connected", ev)
	}
	var h struct {
		ConnectionID string   `json:"connection_id"`
		User         string   `json:"user"`
		Rooms        []string `json:"rooms"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &h); err != nil {
		s.t.Fatal(err)
	}
	return h.ConnectionID, h.User, h.Rooms
}

// sseNextEvent returns the next NATS event of a kind for a connection.
func sseNextEvent(t *testing.T, ch chan *nats.Msg, connID string) map[string]any {
	t.Helper()
	for {
		m := hubtest.NextMsg(t, ch)
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["connection_id"] == connID {
			return ev
		}
	}
}

func TestSSE_IsAHubConnection(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	nc := hubtest.NATS(t, n.NATSURL())
	connects := hubtest.Events(t, nc, "hub.events.connect")
	disconnects := hubtest.Events(t, nc, "hub.events.disconnect")

	s := sseOpen(t, n.HTTPURL()+"/sse?user=bob&room=a&rooms=b,c,a&token=", http.Header{"X-Trace": {"t1"}})
	id, user, rooms := s.hello()
	if user != "bob" || strings.Join(rooms, ",") != "a,b,c" || id == "" {
		t.Fatalf("hello: id %q user %q rooms %v", id, user, rooms)
	}
	ev := sseNextEvent(t, connects, id)
	if ev["user"] != "bob" || ev["path"] != "/sse" || ev["node"] != n.Name() {
		t.Fatalf("connect event %v", ev)
	}
	if h, _ := ev["headers"].(map[string]any); h == nil || h["X-Trace"] == nil {
		t.Fatalf("connect event headers %v", ev["headers"])
	}
	if q, _ := ev["query"].(map[string]any); q["token"] != nil || q["room"] == nil {
		t.Fatalf("connect event query %v", ev["query"])
	}
	if n.NumConns() != 1 {
		t.Fatalf("NumConns = %d", n.NumConns())
	}
	// The rooms are joined before the stream starts.
	_, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/b", "", "")
	if body["members"] != float64(1) {
		t.Fatalf("room b: %v", body)
	}
	_, body = hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/connections/"+id, "", "")
	if body["user"] != "bob" {
		t.Fatalf("connection info: %v", body)
	}

	posts := []struct{ path, body string }{
		{"/api/rooms/a/messages", `{"n":1}`},
		{"/api/users/bob/messages", `{"n":2}`},
		{"/api/broadcast", `{"n":3}`},
		{"/api/connections/" + id + "/messages", `{"n":4}`},
	}
	for _, p := range posts {
		if status, _ := hubtest.HTTP(t, "POST", n.HTTPURL()+p.path, "", p.body); status != http.StatusAccepted {
			t.Fatalf("POST %s: %d", p.path, status)
		}
		// Wait for each so the order is known.
		got := s.next()
		var f map[string]any
		if err := json.Unmarshal([]byte(got.Data), &f); err != nil {
			t.Fatalf("data %q: %v", got.Data, err)
		}
		if f["type"] != "message" || !strings.Contains(got.Data, strings.Trim(p.body, "{}")) {
			t.Fatalf("after POST %s got %+v", p.path, got)
		}
	}
	alice := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	alice.Join("c")
	alice.Send(`{"type":"message","room":"c","data":"hi","id":1}`)
	alice.Expect("ack")
	got := s.next()
	if got.ID != "5" || got.Data != `{"type":"message","room":"c","from":"alice","data":"hi"}` {
		t.Fatalf("room message from alice: %+v", got)
	}

	s.close()
	ev = sseNextEvent(t, disconnects, id)
	if ev["reason"] != "client_close" {
		t.Fatalf("disconnect event %v", ev)
	}
	hubtest.Eventually(t, "only alice left", func() bool { return n.NumConns() == 1 })
}

func TestSSE_KickedStreamGetsCloseEvent(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	s := sseOpen(t, n.HTTPURL()+"/sse?user=eve", nil)
	id, _, rooms := s.hello()
	if rooms == nil || len(rooms) != 0 {
		t.Fatalf("rooms = %#v, want []", rooms)
	}
	if status, _ := hubtest.HTTP(t, "DELETE", n.HTTPURL()+"/api/connections/"+id, "", ""); status != http.StatusNoContent {
		t.Fatalf("kick: %d", status)
	}
	ev := s.next()
	if ev.Event != "close" || ev.Data != `{"code":4500,"reason":"kicked"}` {
		t.Fatalf("got %+v, want the close event", ev)
	}
	s.waitEnd()
	hubtest.Eventually(t, "no connections", func() bool { return n.NumConns() == 0 })
}

func TestSSE_Refusals(t *testing.T) {
	const secret = "sse-secret-0123456789"
	cfg := hubtest.Config(t)
	cfg.Auth.JWTSecret = secret
	cfg.Node.Dev = false
	cfg.WebSocket.AllowedOrigins = []string{"https://ok.example"}
	n := hubtest.Start(t, cfg)
	tok := func(rooms ...string) string {
		s, err := node.MintToken(secret, "zed", rooms, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name   string
		query  string
		header http.Header
		status int
		body   string
	}{
		{"no token", "", nil, 401, "token required"},
		{"bad token", "?token=nope", nil, 401, "invalid token"},
		{"invalid room", "?token=" + tok() + "&room=a%20b", nil, 400, "invalid room name"},
		{"room not in claim", "?token=" + tok("pub.*") + "&room=priv", nil, 403, "room priv: room not allowed"},
		{"origin", "?token=" + tok(), http.Header{"Origin": {"https://evil.example"}}, 403, "origin not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, status, body := sseTry(t, n.HTTPURL()+"/sse"+tt.query, tt.header)
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("status %d body %q, want %d with %q", status, body, tt.status, tt.body)
			}
		})
	}
	hubtest.Eventually(t, "no connections", func() bool { return n.NumConns() == 0 })

	// Allowed: a token, the Authorization header, a room the claim allows,
	// an allowed origin (which CORS then names).
	s, status, body := sseTry(t, n.HTTPURL()+"/sse?room=pub.news",
		http.Header{"Authorization": {"Bearer " + tok("pub.*")}, "Origin": {"https://ok.example"}})
	if status != 200 {
		t.Fatalf("allowed request: %d %s", status, body)
	}
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://ok.example" {
		t.Fatalf("Access-Control-Allow-Origin = %q", got)
	}
	if _, user, rooms := s.hello(); user != "zed" || len(rooms) != 1 {
		t.Fatalf("user %q rooms %v", user, rooms)
	}
}

func TestSSE_KeepaliveComments(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.WebSocket.PingInterval = 50 * time.Millisecond
	n := hubtest.Start(t, cfg)
	s := sseOpen(t, n.HTTPURL()+"/sse", nil)
	s.hello()
	for i := 0; i < 2; i++ {
		select {
		case ev := <-s.events:
			if ev.Comment != "ping" {
				t.Fatalf("got %+v, want a ping comment", ev)
			}
		case <-time.After(hubtest.Wait):
			t.Fatal("no keepalive")
		}
	}
}

func TestSSE_ShutdownClosesStreams(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	nc := hubtest.NATS(t, n.NATSURL())
	disconnects := hubtest.Events(t, nc, "hub.events.disconnect")
	s := sseOpen(t, n.HTTPURL()+"/sse?room=r", nil)
	id, _, _ := s.hello()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v with an SSE stream open", d)
	}
	ev := s.next()
	if ev.Event != "close" || ev.Data != `{"code":1001,"reason":"shutdown"}` {
		t.Fatalf("got %+v", ev)
	}
	s.waitEnd()
	if e := sseNextEvent(t, disconnects, id); e["reason"] != "shutdown" {
		t.Fatalf("disconnect event %v", e)
	}
}

func TestSSE_SlowConsumerIsClosed(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.WebSocket.WriteQueueFrames = 8
	cfg.WebSocket.WriteQueueBytes = 256 << 10
	cfg.WebSocket.WriteTimeout = 2 * time.Second
	n := hubtest.Start(t, cfg)
	nc := hubtest.NATS(t, n.NATSURL())
	connects := hubtest.Events(t, nc, "hub.events.connect")
	disconnects := hubtest.Events(t, nc, "hub.events.disconnect")

	// A client that sends the request and never reads the response.
	conn, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	if _, err := io.WriteString(conn, "GET /sse?room=flood HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ConnectionID string `json:"connection_id"`
	}
	if err := json.Unmarshal(hubtest.NextMsg(t, connects).Data, &ev); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "joined", func() bool {
		_, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/flood", "", "")
		return body["members"] == float64(1)
	})
	payload := []byte(`"` + strings.Repeat("x", 32<<10) + `"`)
	pub := hubtest.NATS(t, n.NATSURL())
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for range 4000 {
			select {
			case <-stop:
				return
			default:
			}
			if pub.Publish("hub.room.flood", payload) != nil {
				return
			}
		}
	}()
	dis := sseNextEvent(t, disconnects, ev.ConnectionID)
	close(stop)
	<-published
	if r := dis["reason"]; r != "slow_consumer" {
		t.Fatalf("disconnect reason %v, want slow_consumer", r)
	}
	hubtest.Eventually(t, "no connections", func() bool { return n.NumConns() == 0 })
}

func TestSSE_AcrossTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: multi-node test")
	}
	a := hubtest.Start(t, hubtest.ClusterConfig(t))
	b := hubtest.Start(t, hubtest.ClusterConfig(t, a.GossipAddr()))
	hubtest.Eventually(t, "cluster formed", func() bool {
		return a.ClusterSize() == 2 && b.ClusterSize() == 2 && a.NATSRoutes() >= 1 && b.NATSRoutes() >= 1
	})

	s := sseOpen(t, b.HTTPURL()+"/sse?user=bob&room=r", nil)
	id, _, _ := s.hello()
	hubtest.Eventually(t, "room seen from node a", func() bool {
		_, body := hubtest.HTTP(t, "GET", a.HTTPURL()+"/api/rooms/r", "", "")
		return body["members"] == float64(1)
	})
	alice := hubtest.Dial(t, a.WSURL()+"?user=alice", nil)
	alice.Join("r")
	alice.Send(`{"type":"message","room":"r","data":"x-node","id":1}`)
	alice.Expect("ack")
	if ev := s.next(); ev.Data != `{"type":"message","room":"r","from":"alice","data":"x-node"}` {
		t.Fatalf("room message across nodes: %+v", ev)
	}
	hubtest.HTTP(t, "POST", a.HTTPURL()+"/api/users/bob/messages", "", `"to-bob"`)
	if ev := s.next(); ev.Data != `{"type":"message","data":"to-bob"}` {
		t.Fatalf("user message across nodes: %+v", ev)
	}
	if status, _ := hubtest.HTTP(t, "DELETE", a.HTTPURL()+"/api/connections/"+id, "", ""); status != http.StatusNoContent {
		t.Fatalf("kick through node a: %d", status)
	}
	if ev := s.next(); ev.Event != "close" || !strings.Contains(ev.Data, "4500") {
		t.Fatalf("got %+v, want the close event", ev)
	}
}

// Streams count against the node's connection limits together with the
// WebSocket connections, node-wide and per address, and give their place
// back when they end.
func TestSSE_CountsAgainstConnectionLimits(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.WebSocket.MaxConnections = 2
	n := hubtest.Start(t, cfg)
	hubtest.Dial(t, n.WSURL()+"?user=a", nil)
	b := sseOpen(t, n.HTTPURL()+"/sse?user=b", nil)
	_, status, body := sseTry(t, n.HTTPURL()+"/sse?user=c", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections") {
		t.Fatalf("a third connection on the node: %d %s", status, body)
	}
	if _, code, _ := hubtest.TryDial(t, n.WSURL()+"?user=d", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("a WebSocket over the node's limit: status %d, want 503", code)
	}
	b.close()
	hubtest.Eventually(t, "the stream's place to come back", func() bool {
		s, status, _ := sseTry(t, n.HTTPURL()+"/sse?user=e", nil)
		if status == http.StatusOK {
			s.close()
			return true
		}
		return false
	})

	cfg = hubtest.Config(t)
	cfg.WebSocket.MaxConnectionsPerIP = 1
	n = hubtest.Start(t, cfg)
	sseOpen(t, n.HTTPURL()+"/sse?user=f", nil)
	_, status, body = sseTry(t, n.HTTPURL()+"/sse?user=g", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections from this address") {
		t.Fatalf("a second stream from one address: %d %s", status, body)
	}
}
