package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubrt/hub/client"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

const presenceSecret = "client-presence-secret"

// presenceCluster starts size nodes with a "chat" namespace that has
// presence with join_leave and a short leave delay.
func presenceCluster(t *testing.T, size int) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i := 0; i < size; i++ {
		var c = hubtest.Config(t)
		if i > 0 {
			c = hubtest.ClusterConfig(t, nodes[0].GossipAddr())
		} else {
			c.Cluster.Secret = hubtest.ClusterSecret
		}
		c.Auth.JWTSecret = presenceSecret
		c.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
			Presence: &namespace.Presence{JoinLeave: true, MaxList: 1000, LeaveDelay: 200 * time.Millisecond}}}
		nodes = append(nodes, hubtest.Start(t, c))
	}
	hubtest.Eventually(t, "the cluster to form", func() bool {
		for _, n := range nodes {
			if n.ClusterSize() != size || n.NATSRoutes() < size-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// recorder keeps what a client's presence callbacks were told.
type recorder struct {
	mu      sync.Mutex
	changes []string // "+user" / "-user"
	infos   map[string]string
	last    client.Presence
}

func (r *recorder) options(o client.Options) client.Options {
	r.infos = map[string]string{}
	o.OnJoin = func(room, user string, info json.RawMessage) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.changes = append(r.changes, "+"+user)
		if info != nil {
			r.infos[user] = string(info)
		}
	}
	o.OnLeave = func(room, user string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.changes = append(r.changes, "-"+user)
	}
	o.OnPresence = func(p client.Presence) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.last = p
	}
	return o
}

// take returns the changes told so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = nil
	return out
}

// wait waits until the changes told include every one of want, then
// returns (and forgets) all of them.
func (r *recorder) wait(t *testing.T, want ...string) []string {
	t.Helper()
	var got []string
	hubtest.Eventually(t, "changes "+strings.Join(want, " "), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, w := range want {
			if !slices.Contains(r.changes, w) {
				return false
			}
		}
		return true
	})
	got = r.take()
	return got
}

func users(p client.Presence) string {
	var out []string
	for _, m := range p.Members {
		out = append(out, m.User)
	}
	return strings.Join(out, " ")
}

func presenceToken(t *testing.T, user, info string) string {
	t.Helper()
	claims := node.Claims{Info: json.RawMessage(info), RegisteredClaims: jwt.RegisteredClaims{
		Subject: user, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(presenceSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The Go client keeps a room's members from the presence answer and the
// join, leave and presence_diff frames, with members on three nodes: once
// per user (a second tab is no join), info from the JWT, and after a
// reconnect it asks again and tells what changed while it was away.
func TestClient_Presence(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := presenceCluster(t, 3)
	ctx := ctxT(t)
	const room = "chat.lobby"

	// alice's connections go through a gate the test closes to keep her
	// away.
	var mu sync.Mutex
	allow := make(chan struct{})
	close(allow)
	var conn net.Conn
	var ra recorder
	alice := dial(t, nodes[0].WSURL(), ra.options(client.Options{
		User: "alice", Reconnect: true, MinDelay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			gate := allow
			mu.Unlock()
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			mu.Lock()
			conn = nc
			mu.Unlock()
			return nc, err
		},
	}))
	if _, ok := alice.Members(room); ok {
		t.Fatal("Members before Presence: ok, want not kept")
	}
	if err := alice.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	p, err := alice.Presence(ctx, room)
	if err != nil || users(p) != "alice" || p.Count != 1 || p.Connections != 1 || len(p.Members[0].Connections) != 1 ||
		p.Members[0].Connections[0].Node != nodes[0].Name() {
		t.Fatalf("Presence = %+v, %v; want alice alone, on %s", p, err, nodes[0].Name())
	}

	join := func(n *node.Node, o client.Options) *client.Client {
		c := dial(t, n.WSURL(), o)
		if err := c.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var rb recorder
	bob := join(nodes[1], rb.options(client.Options{User: "bob"}))
	if _, err := bob.Presence(ctx, room); err != nil {
		t.Fatal(err)
	}
	carol := join(nodes[2], client.Options{Token: presenceToken(t, "carol", `{"name":"Carol"}`)})
	bob2 := join(nodes[2], client.Options{User: "bob"}) // bob's second tab: no join
	if got := ra.wait(t, "+bob", "+carol"); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"+bob", "+carol"}) {
		t.Fatalf("alice was told %v, want +bob +carol once each", got)
	}
	rb.wait(t, "+carol")
	ra.mu.Lock()
	info := ra.infos["carol"]
	ra.mu.Unlock()
	if info != `{"name":"Carol"}` {
		t.Errorf("carol's info = %q, want the token's", info)
	}
	if p, ok := alice.Members(room); !ok || users(p) != "alice bob carol" || p.Count != 3 {
		t.Fatalf("alice's Members = %+v, %v", p, ok)
	}
	// The kept list is what the API lists.
	p2, _ := bob.Members(room)
	if users(p2) != "alice bob carol" {
		t.Fatalf("bob's Members = %+v", p2)
	}
	// bob's second tab goes, then his first leaves the room: one leave,
	// after the leave delay.
	_ = bob2.Close()
	hubtest.Eventually(t, "bob's second tab gone", func() bool { return nodes[2].NumConns() == 1 })
	left := time.Now()
	if err := bob.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	if got := ra.wait(t, "-bob"); !slices.Equal(got, []string{"-bob"}) || time.Since(left) < 200*time.Millisecond {
		t.Fatalf("alice was told %v, want -bob once, after the leave delay", got)
	}
	if _, ok := bob.Members(room); ok {
		t.Error("bob still keeps the presence of a room he left")
	}

	// alice is cut off; meanwhile carol leaves and dave comes.
	mu.Lock()
	allow = make(chan struct{})
	cut := conn
	mu.Unlock()
	_ = cut.Close()
	hubtest.Eventually(t, "alice's connection gone", func() bool { return nodes[0].NumConns() == 0 })
	_ = carol.Close()
	join(nodes[1], client.Options{User: "dave"})
	hubtest.Eventually(t, "the cluster to list alice's absence", func() bool {
		_, body := hubtest.HTTP(t, "GET", nodes[1].HTTPURL()+"/api/rooms/"+room+"/presence", "", "")
		return body["count"] == float64(1)
	})
	ra.take()
	mu.Lock()
	close(allow)
	mu.Unlock()
	got := ra.wait(t, "-carol", "+dave")
	slices.Sort(got)
	if want := []string{"+alice", "+dave", "-carol"}; !slices.Equal(got, want) && !slices.Equal(got, want[1:]) {
		t.Fatalf("after the reconnect alice was told %v, want carol's leave and dave's join", got)
	}
	hubtest.Eventually(t, "alice's list after the reconnect", func() bool {
		p, ok := alice.Members(room)
		return ok && users(p) == "alice dave" && p.Count == 2
	})
	ra.mu.Lock()
	last := ra.last
	ra.mu.Unlock()
	if users(last) != "alice dave" {
		t.Errorf("OnPresence last told %q, want alice dave", users(last))
	}
}

// Above max_list the client keeps counts only, and Presence of a room
// without presence (or not joined) is the hub's error; Leave stops
// keeping the room.
func TestClient_PresenceCountsAndErrors(t *testing.T) {
	c := hubtest.Config(t)
	c.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		Presence: &namespace.Presence{JoinLeave: true, MaxList: 2, LeaveDelay: namespace.DefaultPresenceLeaveDelay}}}
	n := hubtest.Start(t, c)
	ctx := ctxT(t)
	const room = "chat.big"
	var r recorder
	alice := dial(t, n.WSURL(), r.options(client.Options{User: "alice"}))
	if err := alice.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "carol"} {
		cl := dial(t, n.WSURL(), client.Options{User: u})
		if err := cl.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.Eventually(t, "three in the room", func() bool {
		_, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/"+room+"/presence", "", "")
		return body["connections"] == float64(3)
	})
	p, err := alice.Presence(ctx, room)
	if err != nil || p.Members != nil || p.Count != 3 || p.Connections != 3 {
		t.Fatalf("Presence above max_list = %+v, %v; want counts only, 3", p, err)
	}
	// One more: a count-only presence_diff (at most once a second).
	dave := dial(t, n.WSURL(), client.Options{User: "dave"})
	if err := dave.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "the kept count to follow", func() bool {
		p, ok := alice.Members(room)
		return ok && p.Members == nil && p.Count == 4 && p.Connections == 4
	})
	r.mu.Lock()
	told := r.last.Count
	r.mu.Unlock()
	if told != 4 {
		t.Errorf("OnPresence last told count %d, want 4", told)
	}

	var he *client.Error
	if _, err := alice.Presence(ctx, "plain"); !errors.As(err, &he) || he.Code != 120 {
		t.Errorf("Presence of a room without presence: %v, want hub error 120", err)
	}
	if _, err := alice.Presence(ctx, "chat.other"); !errors.As(err, &he) || he.Code != 109 {
		t.Errorf("Presence of a room not joined: %v, want hub error 109", err)
	}
	if _, ok := alice.Members("chat.other"); ok {
		t.Error("a refused Presence left the room kept")
	}
	if err := alice.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, ok := alice.Members(room); ok {
		t.Error("the room is still kept after Leave")
	}
}
