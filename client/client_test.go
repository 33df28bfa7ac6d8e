package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hubrt/hub/client"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(ctxT(t), url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func next(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("messages closed: %v", c.Err())
		}
		return m
	case <-time.After(hubtest.Wait):
		t.Fatal("no message")
	}
	return client.Message{}
}

func TestClient_RoomsUsersAndErrors(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	ctx := ctxT(t)
	alice := dial(t, n.WSURL(), client.Options{User: "alice"})
	bob := dial(t, n.WSURL(), client.Options{User: "bob"})
	for _, c := range []*client.Client{alice, bob} {
		if err := c.Join(ctx, "chat"); err != nil {
			t.Fatalf("Join: %v", err)
		}
	}
	if err := alice.SendToRoom(ctx, "chat", map[string]any{"text": "hi"}); err != nil {
		t.Fatalf("SendToRoom: %v", err)
	}
	if m := next(t, bob); m.Room != "chat" || m.From != "alice" || string(m.Data) != `{"text":"hi"}` {
		t.Fatalf("bob got %+v", m)
	}
	if err := alice.SendToUser(ctx, "bob", json.RawMessage(`"psst"`)); err != nil {
		t.Fatalf("SendToUser: %v", err)
	}
	if m := next(t, bob); m.Room != "" || m.From != "alice" || string(m.Data) != `"psst"` {
		t.Fatalf("bob got %+v", m)
	}
	if err := alice.Send(ctx, 42); err != nil {
		t.Fatalf("Send: %v", err)
	}
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/broadcast", "", `"all"`)
	if m := next(t, alice); string(m.Data) != `"all"` || m.Room != "" {
		t.Fatalf("alice got %+v", m)
	}

	tests := []struct {
		name string
		do   func() error
		code int
	}{
		{"invalid room", func() error { return alice.Join(ctx, "no spaces") }, 105},
		{"not joined", func() error { return alice.SendToRoom(ctx, "elsewhere", 1) }, 109},
		{"leave not joined", func() error { return alice.Leave(ctx, "elsewhere") }, 109},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var he *client.Error
			if !errors.As(err, &he) || he.Code != tt.code {
				t.Fatalf("err = %v, want hub error %d", err, tt.code)
			}
		})
	}
	if err := bob.Leave(ctx, "chat"); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if got := bob.Rooms(); len(got) != 0 {
		t.Fatalf("Rooms() = %v after leaving", got)
	}
	if err := alice.Send(ctx, make(chan int)); err == nil {
		t.Fatal("Send(chan) = nil, want an encoding error")
	}
}

func TestClient_ReconnectsAndRejoins(t *testing.T) {
	n1 := hubtest.Start(t, hubtest.Config(t))
	_, port, _ := net.SplitHostPort(n1.Addr().String())

	var mu sync.Mutex
	var states []string
	c := dial(t, n1.WSURL(), client.Options{
		User: "carol", Reconnect: true, MinDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond,
		OnState: func(s client.State, err error) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, s.String())
			if s == client.StateReconnecting {
				var ce *client.CloseError
				if !errors.As(err, &ce) || ce.Code != client.CodeGoingAway {
					t.Errorf("reconnecting because of %v, want close 1001", err)
				}
			}
		},
	})
	ctx := ctxT(t)
	if err := c.Join(ctx, "stay"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n1.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	// A request made while the node is down waits for the next connection.
	sent := make(chan error, 1)
	go func() { sent <- c.Send(ctx, "queued") }()

	cfg := hubtest.Config(t)
	cfg.WebSocket.Port, _ = strconv.Atoi(port)
	n2 := hubtest.Start(t, cfg)
	if err := <-sent; err != nil {
		t.Fatalf("Send while reconnecting: %v", err)
	}
	hubtest.Eventually(t, "rejoined", func() bool { return n2.NumConns() == 1 })
	hubtest.Eventually(t, "member of stay", func() bool {
		_, body := hubtest.HTTP(t, "GET", n2.HTTPURL()+"/api/rooms/stay", "", "")
		return body["members"] == float64(1)
	})
	hubtest.HTTP(t, "POST", n2.HTTPURL()+"/api/rooms/stay/messages", "", `"back"`)
	if m := next(t, c); m.Room != "stay" || string(m.Data) != `"back"` {
		t.Fatalf("got %+v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 2 || states[0] != "reconnecting" || states[1] != "connected" {
		t.Fatalf("states = %v", states)
	}
}

func TestClient_KickedDoesNotReconnect(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	nc := hubtest.NATS(t, n.NATSURL())
	events := hubtest.Events(t, nc, "hub.events.connect")
	c := dial(t, n.WSURL(), client.Options{User: "dave", Reconnect: true, MinDelay: 10 * time.Millisecond})
	var ev struct {
		ConnectionID string `json:"connection_id"`
	}
	if err := json.Unmarshal(hubtest.NextMsg(t, events).Data, &ev); err != nil {
		t.Fatal(err)
	}
	if status, _ := hubtest.HTTP(t, "DELETE", n.HTTPURL()+"/api/connections/"+ev.ConnectionID, "", ""); status != 204 {
		t.Fatalf("kick: status %d", status)
	}
	select {
	case <-c.Done():
	case <-time.After(hubtest.Wait):
		t.Fatal("client still running after a kick")
	}
	var ce *client.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != client.CodeKicked || ce.Reason != "kicked" {
		t.Fatalf("Err() = %v, want close 4000 kicked", c.Err())
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("Messages not closed")
	}
	if err := c.Send(context.Background(), 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after the end = %v, want ErrClosed", err)
	}
}

func TestClient_CloseEndsEverything(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	c := dial(t, n.WSURL(), client.Options{Reconnect: true})
	hubtest.Eventually(t, "connected", func() bool { return n.NumConns() == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Fatalf("Err() = %v, want ErrClosed", c.Err())
	}
	if err := c.Join(context.Background(), "r"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Join after Close = %v", err)
	}
	hubtest.Eventually(t, "disconnected", func() bool { return n.NumConns() == 0 })
}

func TestClient_WithoutReconnectEndsWithTheConnection(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	c := dial(t, n.WSURL(), client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
	<-c.Done()
	var ce *client.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != client.CodeGoingAway {
		t.Fatalf("Err() = %v, want close 1001", c.Err())
	}
}

func TestClient_DialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := client.Dial(ctxT(t), "ws://"+addr+"/ws", client.Options{}); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}

// SPEC §10: the client remembers each history room's position and, on
// reconnect, recovers what it missed and says whether it could.
func TestClient_RecoversHistoryRooms(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		History: &namespace.History{Size: 100, MaxBytes: -1, Storage: namespace.StorageMemory}}}
	n := hubtest.Start(t, cfg)

	var mu sync.Mutex
	allow := make(chan struct{})
	close(allow)
	var conn net.Conn
	recovered := make(chan bool, 4)
	c := dial(t, n.WSURL(), client.Options{
		Reconnect: true, MinDelay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			gate := allow
			mu.Unlock()
			<-gate
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			mu.Lock()
			conn = nc
			mu.Unlock()
			return nc, err
		},
		OnRecover: func(room string, ok bool) { recovered <- ok },
	})
	ctx := ctxT(t)
	if err := c.Join(ctx, "chat.r"); err != nil {
		t.Fatal(err)
	}
	publish := func(v string) {
		if code, _ := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/chat.r/messages", "", v); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	publish("1")
	if m := next(t, c); string(m.Data) != "1" || m.Offset == 0 {
		t.Fatalf("got %+v, want 1 with an offset", m)
	}
	// Cut the connection and keep the client out while 3 messages go by.
	mu.Lock()
	allow = make(chan struct{})
	cut := conn
	mu.Unlock()
	cut.Close()
	hubtest.Eventually(t, "the hub to see the client gone", func() bool { return n.NumConns() == 0 })
	for _, v := range []string{"2", "3", "4"} {
		publish(v)
	}
	mu.Lock()
	close(allow)
	mu.Unlock()
	var last uint64
	for _, want := range []string{"2", "3", "4"} {
		m := next(t, c)
		if string(m.Data) != want || m.Offset <= last {
			t.Fatalf("got %+v, want %s after offset %d", m, want, last)
		}
		last = m.Offset
	}
	select {
	case ok := <-recovered:
		if !ok {
			t.Fatal("OnRecover(false), want true")
		}
	case <-time.After(hubtest.Wait):
		t.Fatal("OnRecover not called")
	}
	if _, off, ok := c.Position("chat.r"); !ok || off != last {
		t.Fatalf("Position = %d %v, want %d", off, ok, last)
	}
}

// A client with TokenFunc answers refresh_required with a new token and
// keeps its connection; when the refresh fails the hub closes with 4002 and
// the client reconnects with a token from TokenFunc, joining its rooms again.
func TestClient_TokenRefresh(t *testing.T) {
	const secret = "client-refresh-secret-0123456789"
	c := hubtest.Config(t)
	c.Node.Dev = false
	c.Auth.JWTSecret = secret
	c.Auth.TokenGrace = 500 * time.Millisecond
	n := hubtest.Start(t, c)
	mint := func(ttl time.Duration) string {
		tok, err := node.MintToken(secret, "dana", nil, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	var mu sync.Mutex
	calls := 0
	var states []string
	cl := dial(t, n.WSURL(), client.Options{
		Reconnect: true, MinDelay: 20 * time.Millisecond,
		TokenFunc: func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return mint(2 * time.Second), nil
			}
			return mint(time.Minute), nil
		},
		OnState: func(s client.State, err error) {
			mu.Lock()
			defer mu.Unlock()
			var ce *client.CloseError
			if errors.As(err, &ce) {
				states = append(states, s.String()+" "+strconv.Itoa(ce.Code))
			} else {
				states = append(states, s.String())
			}
		},
	})
	ctx := ctxT(t)
	if err := cl.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "the refresh", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 2 })
	time.Sleep(3 * time.Second) // past the first token's expiry and the grace
	mu.Lock()
	if len(states) != 0 {
		t.Fatalf("states %v after a refresh, want none (the connection lives on)", states)
	}
	calls = 0
	mu.Unlock()

	// A second client whose refresh fails.
	cl2 := dial(t, n.WSURL(), client.Options{
		Reconnect: true, MinDelay: 20 * time.Millisecond,
		TokenFunc: func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			switch calls {
			case 1:
				return mint(2 * time.Second), nil
			case 2:
				return "", errors.New("token service down")
			}
			return mint(time.Minute), nil
		},
		OnState: func(s client.State, err error) {
			mu.Lock()
			defer mu.Unlock()
			var ce *client.CloseError
			if errors.As(err, &ce) {
				states = append(states, s.String()+" "+strconv.Itoa(ce.Code))
			} else {
				states = append(states, s.String())
			}
		},
	})
	if err := cl2.Join(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "the reconnect with a fresh token", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) >= 2
	})
	mu.Lock()
	got := append([]string(nil), states...)
	mu.Unlock()
	if got[0] != "reconnecting "+strconv.Itoa(client.CodeTokenExpired) || got[1] != "connected" {
		t.Fatalf("states %v, want reconnecting 4002 then connected", got)
	}
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/r2/messages", "", `"again"`)
	if m := next(t, cl2); m.Room != "r2" || string(m.Data) != `"again"` {
		t.Fatalf("after the reconnect got %+v", m)
	}
}
