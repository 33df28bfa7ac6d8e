package node_test

// Conformance tests for SPEC §6: JWT identity, development mode and the
// per-connection and per-IP limits.

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

const secret = "test-secret-0123456789"

func mint(t *testing.T, user string, rooms []string, ttl time.Duration) string {
	t.Helper()
	tok, err := node.MintToken(secret, user, rooms, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func jwtNode(t *testing.T, dev bool) *node.Node {
	return startNode(t, func(c *config.Config) {
		c.Node.Dev = dev
		c.Auth.JWTSecret = secret
	})
}

func TestAuth_JWT(t *testing.T) {
	n := jwtNode(t, false)
	_, ev := events(t, n, "connect")

	t.Run("token query parameter", func(t *testing.T) {
		c := hubtest.Dial(t, n.WSURL()+"?token="+mint(t, "alice", nil, time.Minute), nil)
		if e, _ := hubtest.NextEvent(t, ev, nil); e.User != "alice" {
			t.Fatalf("user %q, want alice", e.User)
		}
		c.Send(`{"type":"message","user":"bob","data":1,"id":1}`) // authenticated: allowed
		c.Expect("ack")
	})
	t.Run("Authorization header", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + mint(t, "bob", nil, time.Minute)}}
		hubtest.Dial(t, n.WSURL(), h)
		if e, _ := hubtest.NextEvent(t, ev, nil); e.User != "bob" {
			t.Fatalf("user %q, want bob", e.User)
		}
	})

	expiredClaims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()}
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, expiredClaims).SignedString([]byte(secret))
	wrongKey, _ := node.MintToken("another-secret", "alice", nil, time.Minute)
	noneAlg, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	badSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a b", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	refused := []struct {
		name   string
		url    string
		header http.Header
	}{
		{"no token", "", nil},
		{"expired", "?token=" + expired, nil},
		{"expired in header", "", http.Header{"Authorization": {"Bearer " + expired}}},
		{"wrong key", "?token=" + wrongKey, nil},
		{"alg none", "?token=" + noneAlg, nil},
		{"garbage", "?token=not.a.jwt", nil},
		{"bad sub", "?token=" + badSub, nil},
		{"dev user without dev mode", "?user=alice", nil},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			_, err := hubtest.TryRawDial(n.WSURL()+tt.url, tt.header)
			if got := hubtest.ErrStatus(err); got != http.StatusUnauthorized {
				t.Fatalf("upgrade: %v (status %d), want 401", err, got)
			}
		})
	}
}

func TestAuth_RoomsClaim(t *testing.T) {
	n := jwtNode(t, false)
	c := hubtest.Dial(t, n.WSURL()+"?token="+mint(t, "alice", []string{"public.*", "team-7"}, time.Minute), nil)
	c.Join("public.news")
	c.Join("team-7")
	for _, room := range []string{"private", "team-8", "public", "xpublic.a"} {
		c.Send(`{"type":"join_room","room":"` + room + `","id":"` + room + `"}`)
		if m := c.ExpectError(protocol.ErrRoomForbidden.Code); m.S("id") != room {
			t.Fatalf("error %s", m["_raw"])
		}
	}
	alive := hubtest.Dial(t, n.WSURL()+"?token="+mint(t, "bob", nil, time.Minute), nil)
	alive.Join("private") // no rooms claim: any room
	c.Join("public.again")
}

func TestAuth_DevMode(t *testing.T) {
	t.Run("dev user parameter", func(t *testing.T) {
		n := startNode(t, nil)
		_, ev := events(t, n, "connect")
		dial(t, n, "dev-user")
		if e, _ := hubtest.NextEvent(t, ev, nil); e.User != "dev-user" {
			t.Fatalf("user %q", e.User)
		}
		_, err := hubtest.TryRawDial(n.WSURL()+"?user=bad%20name", nil)
		if s := hubtest.ErrStatus(err); s != http.StatusBadRequest {
			t.Fatalf("bad dev user: %v, want 400", err)
		}
	})
	t.Run("no dev mode: anonymous", func(t *testing.T) {
		n := startNode(t, func(c *config.Config) { c.Node.Dev = false })
		_, ev := events(t, n, "connect")
		c := dial(t, n, "alice")
		if e, _ := hubtest.NextEvent(t, ev, nil); e.User != "" {
			t.Fatalf("user %q, want anonymous", e.User)
		}
		c.Send(`{"type":"message","user":"bob","data":1,"id":1}`)
		c.ExpectError(protocol.ErrUnauthenticated.Code)
	})
	t.Run("dev mode with JWT: token wins, user parameter without token", func(t *testing.T) {
		n := jwtNode(t, true)
		_, ev := events(t, n, "connect")
		hubtest.Dial(t, n.WSURL()+"?user=mallory&token="+mint(t, "alice", nil, time.Minute), nil)
		if e, _ := hubtest.NextEvent(t, ev, nil); e.User != "alice" {
			t.Fatalf("user %q, want alice from the token", e.User)
		}
		_, err := hubtest.TryRawDial(n.WSURL()+"?user=alice&token=garbage", nil)
		if s := hubtest.ErrStatus(err); s != http.StatusUnauthorized {
			t.Fatalf("bad token in dev mode: %v, want 401", err)
		}
	})
}

func TestLimits_RoomsPerConnection(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.WebSocket.MaxRoomsPerConnection = 3 })
	c := dial(t, n, "alice")
	c.Join("a")
	c.Join("b")
	c.Join("c")
	c.Send(`{"type":"join_room","room":"d","id":"d"}`)
	c.ExpectError(protocol.ErrTooManyRooms.Code)
	c.Join("a") // already a member: fine
	c.Send(`{"type":"leave_room","room":"b","id":1}`)
	c.Expect("ack")
	c.Join("d")
}

func TestLimits_MessagesPerSecond(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.WebSocket.MaxMessagesPerSecond = 2
		c.WebSocket.MessageBurst = 3
	})
	c := dial(t, n, "alice")
	for i := 0; i < 6; i++ {
		c.Send(`{"type":"message","data":1,"id":` + strconv.Itoa(i) + `}`)
	}
	acks, limited := 0, 0
	for i := 0; i < 6; i++ {
		m := c.Next()
		switch {
		case m.S("type") == "ack":
			acks++
		case m.S("type") == "error" && m["code"] == float64(protocol.ErrRateLimited.Code):
			limited++
		default:
			t.Fatalf("got %s", m["_raw"])
		}
	}
	if acks < 3 || limited == 0 {
		t.Fatalf("%d acks, %d rate-limit errors; want the burst of 3 through and the rest refused", acks, limited)
	}
	// The connection stays and recovers once the rate allows (2/s).
	c.Quiet(600 * time.Millisecond)
	c.Send(`{"type":"message","data":1,"id":"again"}`)
	c.Expect("ack")

	// A client that keeps going after being told is cut off.
	for i := 0; i < 3+actors.RateLimitStrikes; i++ {
		if err := c.Conn().SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := wsutil.WriteClientText(c.Conn(), []byte(`{"type":"message","data":1}`)); err != nil {
			break
		}
	}
	if code, reason := c.Closed(); code != 1008 || reason != "rate_limit" {
		t.Fatalf("closed %d %q, want 1008 rate_limit", code, reason)
	}
}

func TestLimits_ConnectionsPerIP(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.WebSocket.MaxConnectionsPerIP = 2 })
	a := dial(t, n, "")
	dial(t, n, "")
	_, err := hubtest.TryRawDial(n.WSURL(), nil)
	if s := hubtest.ErrStatus(err); s != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, want 503", err)
	}
	// A slot frees when a connection ends.
	a.Close()
	a.Closed()
	hubtest.Eventually(t, "slot freed", func() bool {
		c, err := hubtest.TryRawDial(n.WSURL(), nil)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func TestLimits_AllowedOrigins(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.WebSocket.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
	})
	for _, o := range []string{"https://app.example.com", "https://x.example.org", ""} {
		h := http.Header{}
		if o != "" {
			h.Set("Origin", o)
		}
		c, err := hubtest.TryRawDial(n.WSURL(), h)
		if err != nil {
			t.Fatalf("origin %q refused: %v", o, err)
		}
		c.Close()
	}
	for _, o := range []string{"https://evil.example.com", "http://app.example.com", "https://example.org", "null"} {
		_, err := hubtest.TryRawDial(n.WSURL(), http.Header{"Origin": {o}})
		if s := hubtest.ErrStatus(err); s != http.StatusForbidden {
			t.Fatalf("origin %q: %v, want 403", o, err)
		}
	}
}
