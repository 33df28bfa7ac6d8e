package node_test

// Tests of SPEC §13 on one node: token expiry and refresh, the join claim,
// max_connection_age and the room listing.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

func mintClaims(t *testing.T, user string, c node.Claims, ttl time.Duration) string {
	t.Helper()
	tok, err := node.MintTokenClaims(secret, user, c, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// lifetimeNode is a JWT node whose tokens' grace is short.
func lifetimeNode(t *testing.T, grace time.Duration, edit func(c *config.Config)) *node.Node {
	return startNode(t, func(c *config.Config) {
		c.Node.Dev = false
		c.Auth.JWTSecret = secret
		c.Auth.TokenGrace = grace
		if edit != nil {
			edit(c)
		}
	})
}

func dialToken(t *testing.T, n *node.Node, tok string) *hubtest.Client {
	t.Helper()
	return hubtest.Dial(t, n.WSURL()+"?token="+tok, nil)
}

// expiresAt waits for refresh_required and returns its expires_at.
func expiresAt(t *testing.T, c *hubtest.Client) int64 {
	t.Helper()
	m := c.Expect("refresh_required")
	f, ok := m["expires_at"].(float64)
	if !ok {
		t.Fatalf("refresh_required without expires_at: %s", m["_raw"])
	}
	return int64(f)
}

func TestLifetime_RefreshKeepsConnection(t *testing.T) {
	n := lifetimeNode(t, 500*time.Millisecond, nil)
	c := dialToken(t, n, mint(t, "alice", nil, 2*time.Second))
	exp := expiresAt(t, c)
	if d := time.Until(time.Unix(exp, 0)); d < 0 || d > 2*time.Second {
		t.Fatalf("expires_at %d is %v away, want within the token's 2s", exp, d)
	}
	c.Send(map[string]any{"type": "refresh", "token": mint(t, "alice", nil, time.Minute), "id": 1})
	c.Expect("ack")
	// Past the old expiry and its grace the connection still works.
	time.Sleep(time.Until(time.Unix(exp, 0).Add(time.Second)))
	c.Send(`{"type":"join_room","room":"r","id":2}`)
	c.Expect("ack")
}

func TestLifetime_NoRefreshCloses(t *testing.T) {
	n := lifetimeNode(t, 500*time.Millisecond, nil)
	_, ev := events(t, n, "disconnect")
	c := dialToken(t, n, mint(t, "alice", nil, 2*time.Second))
	exp := expiresAt(t, c)
	code, reason := c.Closed()
	if code != int(protocol.CloseTokenExpired) || reason != protocol.ReasonTokenExpired {
		t.Fatalf("closed %d %q, want %d %q", code, reason, protocol.CloseTokenExpired, protocol.ReasonTokenExpired)
	}
	if at := time.Now(); at.Before(time.Unix(exp, 0).Add(500 * time.Millisecond)) {
		t.Fatalf("closed at %v, before expiry %v plus the grace", at, time.Unix(exp, 0))
	}
	if e, _ := hubtest.NextEvent(t, ev, nil); e.Reason != protocol.ReasonTokenExpired {
		t.Fatalf("disconnect reason %q, want %q", e.Reason, protocol.ReasonTokenExpired)
	}
}

func TestLifetime_RefreshOtherUserCloses(t *testing.T) {
	n := lifetimeNode(t, time.Second, nil)
	c := dialToken(t, n, mint(t, "alice", nil, time.Minute))
	c.Send(map[string]any{"type": "refresh", "token": mint(t, "mallory", nil, time.Minute), "id": 1})
	if code, reason := c.Closed(); code != int(protocol.CloseSubChanged) || reason != protocol.ReasonSubChanged {
		t.Fatalf("closed %d %q, want %d %q", code, reason, protocol.CloseSubChanged, protocol.ReasonSubChanged)
	}
}

func TestLifetime_RefreshInvalidToken(t *testing.T) {
	n := lifetimeNode(t, time.Second, nil)
	c := dialToken(t, n, mint(t, "alice", nil, time.Minute))
	bad, err := node.MintToken("another-secret-0123456789", "alice", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range []string{bad, "not.a.token", mint(t, "alice", nil, -time.Minute)} {
		c.Send(map[string]any{"type": "refresh", "token": tok, "id": i})
		if e := c.ExpectError(protocol.ErrInvalidToken.Code); fmt.Sprint(e["id"]) != fmt.Sprint(i) {
			t.Fatalf("error for id %v, want %d", e["id"], i)
		}
	}
	c.Send(`{"type":"refresh","id":9}`)
	c.ExpectError(protocol.ErrMissingToken.Code)
	c.Send(`{"type":"join_room","room":"r","id":10}`)
	c.Expect("ack")
}

func TestLifetime_RefreshNarrowerRooms(t *testing.T) {
	n := lifetimeNode(t, time.Second, nil)
	tok := mintClaims(t, "alice", node.Claims{Rooms: []string{"chat.*"}, Join: []string{"feed.alice"}}, time.Minute)
	c := dialToken(t, n, tok)
	if m := c.Expect("joined"); m.S("room") != "feed.alice" || m.S("by") != "server" {
		t.Fatalf("got %s, want joined feed.alice by server", m["_raw"])
	}
	c.Join("chat.a")
	c.Join("chat.b")
	narrow := mintClaims(t, "alice", node.Claims{Rooms: []string{"chat.a"}}, time.Minute)
	c.Send(map[string]any{"type": "refresh", "token": narrow, "id": "r"})
	got := map[string]string{}
	for len(got) < 2 {
		m := c.Next()
		got[m.S("type")] = m.S("_raw")
	}
	if got["left"] != `{"type":"left","room":"chat.b","by":"server","reason":"token"}` || got["ack"] == "" {
		t.Fatalf("after the refresh got %v, want an ack and chat.b left", got)
	}
	// chat.b no longer delivers and may not be joined again; chat.a and the
	// server-joined feed.alice stay.
	for _, room := range []string{"chat.b", "chat.a", "feed.alice"} {
		hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/"+room+"/messages", "", `"to `+room+`"`)
	}
	for _, want := range []string{"chat.a", "feed.alice"} {
		if m := c.Expect("message"); m.S("room") != want {
			t.Fatalf("message for %q, want %q", m.S("room"), want)
		}
	}
	c.Send(`{"type":"join_room","room":"chat.b","id":3}`)
	c.ExpectError(protocol.ErrRoomForbidden.Code)
}

func TestLifetime_JoinClaim(t *testing.T) {
	n := lifetimeNode(t, time.Second, nil)
	tok := mintClaims(t, "bob", node.Claims{Rooms: []string{"none"}, Join: []string{"feed.bob", "news"}}, time.Minute)
	c := dialToken(t, n, tok)
	joined := map[string]bool{}
	for range 2 {
		m := c.Expect("joined")
		joined[m.S("room")] = true
	}
	if !joined["feed.bob"] || !joined["news"] {
		t.Fatalf("joined %v, want feed.bob and news", joined)
	}
	// The joins hold once the joined frames arrived: messages reach it.
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/news/messages", "", `1`)
	if m := c.Expect("message"); m.S("room") != "news" {
		t.Fatalf("got %s", m["_raw"])
	}
	bad := mintClaims(t, "bob", node.Claims{Join: []string{"bad room"}}, time.Minute)
	if _, status, _ := hubtest.TryDial(t, n.WSURL()+"?token="+bad, nil); status != http.StatusUnauthorized {
		t.Fatalf("join claim with an invalid room: status %d, want 401", status)
	}
}

func TestLifetime_MaxConnectionAge(t *testing.T) {
	n := lifetimeNode(t, time.Second, func(c *config.Config) {
		c.Node.Dev = true
		c.Auth.JWTSecret = ""
		c.WebSocket.MaxConnectionAge = time.Second
	})
	start := time.Now()
	c := dial(t, n, "carol")
	code, reason := c.Closed()
	if code != int(protocol.CloseMaxAge) || reason != protocol.ReasonMaxAge {
		t.Fatalf("closed %d %q, want %d %q", code, reason, protocol.CloseMaxAge, protocol.ReasonMaxAge)
	}
	if d := time.Since(start); d < 850*time.Millisecond {
		t.Fatalf("closed after %v, want 0.9s to 1s", d)
	}
}

func TestAPI_RoomsList(t *testing.T) {
	n := startNode(t, nil)
	members := map[string]int{"a.1": 1, "a.2": 3, "a.3": 2, "b.1": 1}
	for room, k := range members {
		for i := range k {
			dial(t, n, fmt.Sprintf("u%d", i)).Join(room)
		}
	}
	get := func(query string) map[string]any {
		t.Helper()
		status, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms"+query, "", "")
		if status != http.StatusOK {
			t.Fatalf("GET /api/rooms%s: %d %v", query, status, body)
		}
		return body
	}
	names := func(body map[string]any) string {
		var s string
		for _, r := range body["rooms"].([]any) {
			m := r.(map[string]any)
			s += fmt.Sprintf("%s=%v ", m["room"], m["members"])
		}
		return s
	}
	body := get("?prefix=a.&limit=2")
	if got := names(body); got != "a.1=1 a.2=3 " || body["next_cursor"] != "a.2" || body["complete"] != true {
		t.Fatalf("first page: %s %v", got, body)
	}
	body = get("?prefix=a.&limit=2&cursor=a.2")
	if got := names(body); got != "a.3=2 " || body["next_cursor"] != "" {
		t.Fatalf("second page: %s %v", got, body)
	}
	if got := names(get("?sort=members&limit=2")); got != "a.2=3 a.3=2 " {
		t.Fatalf("busiest rooms: %s", got)
	}
	if got := names(get("")); got != "a.1=1 a.2=3 a.3=2 b.1=1 " {
		t.Fatalf("all rooms: %s", got)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=1001", "?sort=size"} {
		if status, _ := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms"+q, "", ""); status != http.StatusBadRequest {
			t.Errorf("GET /api/rooms%s: %d, want 400", q, status)
		}
	}
}
