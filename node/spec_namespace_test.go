package node_test

import (
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

// SPEC §9: a namespace's anonymous = false refuses anonymous joins, and its
// client_publish overrides the node default both ways.
func TestNamespace_Enforcement(t *testing.T) {
	c := hubtest.Config(t)
	c.Node.ClientPublish = false
	yes, no := true, false
	c.Namespaces = []namespace.Namespace{
		{Name: "chat", Rooms: []string{"chat.>", "dm.*"}, ClientPublish: &yes, Anonymous: false},
		{Name: "news", Rooms: []string{"news.*"}, ClientPublish: &no, Anonymous: true},
	}
	n := hubtest.Start(t, c)

	anon := hubtest.Dial(t, n.WSURL(), nil)
	anon.Send(`{"type":"join_room","room":"chat.lobby","id":1}`)
	if m := anon.ExpectError(206); m.JSON("id") != "1" {
		t.Fatalf("anonymous join to chat.lobby: %v, want error 206 for id 1", m["_raw"])
	}
	anon.Send(`{"type":"join_room","room":"dm.alice","id":2}`)
	anon.ExpectError(206)
	anon.Join("dm.alice.bob") // "*" does not cross a dot: no namespace
	anon.Join("news.eu")

	alice := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	bob := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	alice.Join("chat.lobby")
	bob.Join("chat.lobby")
	alice.Send(`{"type":"message","room":"chat.lobby","data":"hi","id":3}`)
	alice.Expect("ack")
	if m := bob.Expect("message"); m.JSON("data") != `"hi"` {
		t.Fatalf("bob got %v, want hi", m["_raw"])
	}

	// news: client_publish = false, like the node default; a room in no
	// namespace follows the node default (false here).
	alice.Join("news.eu")
	alice.Send(`{"type":"message","room":"news.eu","data":"x","id":4}`)
	alice.ExpectError(203)
	alice.Join("other")
	alice.Send(`{"type":"message","room":"other","data":"x","id":5}`)
	alice.ExpectError(203)
	bob.Quiet(200 * time.Millisecond)
}

// The JWT rooms claim uses the same NATS token wildcards: "orders.*" is one
// token, "orders.>" the rest.
func TestNamespace_RoomsClaimPatterns(t *testing.T) {
	c := hubtest.Config(t)
	c.Node.Dev = false
	c.Auth.JWTSecret = "s3cret"
	n := hubtest.Start(t, c)
	tok, err := node.MintToken("s3cret", "alice", []string{"orders.*", "chat.>"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cl := hubtest.Dial(t, n.WSURL()+"?token="+tok, nil)
	cl.Join("orders.eu")
	cl.Join("chat.a.b.c")
	for i, room := range []string{"orders.eu.1", "orders", "chat"} {
		cl.Send(map[string]any{"type": "join_room", "room": room, "id": i})
		cl.ExpectError(200)
	}
}
