package node_test

// Conformance tests for SPEC §3 (client protocol) against a real node:
// real WebSocket clients over loopback, the embedded NATS, the HTTP API.
// Shared helpers of the spec_*_test.go files live here too.

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

// quiet is how long a test watches for something that must not arrive.
const quiet = 300 * time.Millisecond

// startNode starts a node with the test configuration, changed by edit.
func startNode(t *testing.T, edit func(c *config.Config)) *node.Node {
	t.Helper()
	c := hubtest.Config(t)
	if edit != nil {
		edit(c)
	}
	return hubtest.Start(t, c)
}

// dial opens a client; user "" is anonymous, else dev-mode ?user=.
func dial(t *testing.T, n *node.Node, user string) *hubtest.Client {
	t.Helper()
	url := n.WSURL()
	if user != "" {
		url += "?user=" + user
	}
	return hubtest.Dial(t, url, nil)
}

// events subscribes to <prefix>.events.<name> ("*" for all) on the node's NATS.
func events(t *testing.T, n *node.Node, name string) (*nats.Conn, chan *nats.Msg) {
	t.Helper()
	nc := hubtest.NATS(t, n.NATSURL())
	return nc, hubtest.Events(t, nc, "hub.events."+name)
}

// connID waits for the connect event of a connection of user (or any
// anonymous one when user is "") and returns its connection id.
func connID(t *testing.T, ch chan *nats.Msg, user string) string {
	t.Helper()
	e, _ := hubtest.NextEvent(t, ch, func(e protocol.Event) bool {
		return e.Event == protocol.EventConnect && e.User == user
	})
	return e.ConnectionID
}

// connIDs waits for the connect events of users, in any order, and returns
// their connection ids by user.
func connIDs(t *testing.T, ch chan *nats.Msg, users ...string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for len(ids) < len(users) {
		e, _ := hubtest.NextEvent(t, ch, func(e protocol.Event) bool {
			return e.Event == protocol.EventConnect && slices.Contains(users, e.User) && ids[e.User] == ""
		})
		ids[e.User] = e.ConnectionID
	}
	return ids
}

// alive proves c still works: a join with an id is acknowledged.
func alive(t *testing.T, c *hubtest.Client) {
	t.Helper()
	c.Join(fmt.Sprintf("alive-%d", time.Now().UnixNano()))
}

func TestProtocol_JoinLeaveAck(t *testing.T) {
	n := startNode(t, nil)
	a := dial(t, n, "alice")
	a.Send(`{"type":"join_room","room":"orders","id":"j1"}`)
	if m := a.Expect("ack"); m.S("id") != "j1" {
		t.Fatalf("ack %s, want id j1", m["_raw"])
	}
	hubtest.Eventually(t, "room count 1", func() bool {
		_, b := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/orders", "", "")
		return b["members"] == float64(1)
	})
	// Joining again is acknowledged and changes nothing.
	a.Send(`{"type":"join_room","room":"orders","id":"j2"}`)
	a.Expect("ack")
	a.Send(`{"type":"leave_room","room":"orders","id":7}`)
	if m := a.Expect("ack"); m["id"] != float64(7) {
		t.Fatalf("ack %s, want id 7", m["_raw"])
	}
	// After leaving, room traffic no longer arrives.
	nc := hubtest.NATS(t, n.NATSURL())
	nc.Publish("hub.room.orders", []byte(`"after leave"`))
	a.Quiet(quiet)
	// Without an id, nothing answers a successful frame.
	a.Send(`{"type":"join_room","room":"orders"}`)
	a.Quiet(quiet)
	nc.Publish("hub.room.orders", []byte(`"back"`))
	if m := a.Expect("message"); m.JSON("data") != `"back"` || m.S("room") != "orders" {
		t.Fatalf("got %s", m["_raw"])
	}
}

func TestProtocol_IDsEchoed(t *testing.T) {
	n := startNode(t, nil)
	a := dial(t, n, "alice")
	tests := []struct {
		name, frame, want string
		typ               string
	}{
		{"string ack", `{"type":"join_room","room":"r","id":"abc-1"}`, `"abc-1"`, "ack"},
		{"number ack", `{"type":"join_room","room":"r","id":42}`, `42`, "ack"},
		{"float ack", `{"type":"message","data":1,"id":1.5}`, `1.5`, "ack"},
		{"negative ack", `{"type":"leave_room","room":"r","id":-3}`, `-3`, "ack"},
		{"string error", `{"type":"nope","id":"e1"}`, `"e1"`, "error"},
		{"number error", `{"type":"leave_room","room":"zz","id":99}`, `99`, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.Send(tt.frame)
			m := a.Expect(tt.typ)
			if got := m.JSON("id"); got != tt.want {
				t.Fatalf("%s: id %s, want %s (%s)", tt.frame, got, tt.want, m["_raw"])
			}
		})
	}
}

func TestProtocol_MessageWithDataOnly(t *testing.T) {
	n := startNode(t, nil)
	_, ev := events(t, n, "message")
	a := dial(t, n, "alice")
	b := dial(t, n, "bob")
	a.Join("r1")
	b.Join("r1")
	a.Send(`{"type":"message","data":{"k":[1,2]},"id":1}`)
	a.Expect("ack")
	e, _ := hubtest.NextEvent(t, ev, nil)
	if string(e.Message) != `{"k":[1,2]}` || e.Room != "" || e.ToUser != "" || e.User != "alice" {
		t.Fatalf("message event %+v", e)
	}
	b.Quiet(quiet)
	a.Quiet(0)
}

func TestProtocol_RoomMessage(t *testing.T) {
	n := startNode(t, nil)
	_, ev := events(t, n, "message")
	a := dial(t, n, "alice")
	b := dial(t, n, "bob")
	c := dial(t, n, "")
	out := dial(t, n, "carol") // not a member
	for _, cl := range []*hubtest.Client{a, b, c} {
		cl.Join("r1")
	}
	a.Send(`{"type":"message","room":"r1","data":{"text":"hi"},"id":"m1"}`)
	a.Expect("ack")
	for _, cl := range []*hubtest.Client{b, c} {
		m := cl.Expect("message")
		if m.S("room") != "r1" || m.S("from") != "alice" || m.JSON("data") != `{"text":"hi"}` {
			t.Fatalf("member got %s", m["_raw"])
		}
	}
	a.Quiet(quiet) // the sender does not get its own message
	out.Quiet(0)
	e, _ := hubtest.NextEvent(t, ev, nil)
	if e.Room != "r1" || e.User != "alice" || string(e.Message) != `{"text":"hi"}` {
		t.Fatalf("message event %+v", e)
	}

	// An anonymous sender's room message carries no "from".
	c.Send(`{"type":"message","room":"r1","data":2}`)
	if m := a.Expect("message"); m["from"] != nil || m.JSON("data") != "2" {
		t.Fatalf("got %s, want no from", m["_raw"])
	}
	b.Expect("message")

	// "from" is set by the server, never by the sender.
	b.Send(`{"type":"message","room":"r1","from":"mallory","data":3}`)
	if m := a.Expect("message"); m.S("from") != "bob" {
		t.Fatalf("got %s, want from bob", m["_raw"])
	}

	// Only members may send to a room: error 109, connection kept.
	out.Send(`{"type":"message","room":"r1","data":1,"id":9}`)
	if m := out.ExpectError(protocol.ErrNotJoined.Code); m["id"] != float64(9) {
		t.Fatalf("error %s, want id 9", m["_raw"])
	}
	alive(t, out)
	a.Quiet(quiet)
}

func TestProtocol_RoomMessageDisabled(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Node.ClientPublish = false; c.Node.ClientDirect = false })
	a := dial(t, n, "alice")
	b := dial(t, n, "bob")
	a.Join("r1")
	b.Join("r1")
	a.Send(`{"type":"message","room":"r1","data":1,"id":1}`)
	a.ExpectError(protocol.ErrPublishDisabled.Code)
	a.Send(`{"type":"message","user":"bob","data":1,"id":2}`)
	a.ExpectError(protocol.ErrDirectDisabled.Code)
	b.Quiet(quiet)
	alive(t, a)
}

func TestProtocol_UserMessage(t *testing.T) {
	n := startNode(t, nil)
	_, ev := events(t, n, "message")
	_, connects := events(t, n, "connect")
	a := dial(t, n, "alice")
	b1 := dial(t, n, "bob")
	b2 := dial(t, n, "bob")
	other := dial(t, n, "carol")
	anon := dial(t, n, "")
	// Make sure both of bob's connections are routable: their connect
	// events are out (the API's count includes connections still on their
	// way).
	for range 2 {
		hubtest.NextEvent(t, connects, func(e protocol.Event) bool { return e.User == "bob" })
	}
	a.Send(`{"type":"message","user":"bob","data":{"t":"psst"},"id":"u1"}`)
	a.Expect("ack")
	for _, b := range []*hubtest.Client{b1, b2} {
		m := b.Expect("message")
		if m.S("from") != "alice" || m.JSON("data") != `{"t":"psst"}` || m["room"] != nil {
			t.Fatalf("bob got %s", m["_raw"])
		}
	}
	e, _ := hubtest.NextEvent(t, ev, nil)
	if e.User != "alice" || e.ToUser != "bob" || e.Room != "" || string(e.Message) != `{"t":"psst"}` {
		t.Fatalf("message event %+v: user must be the sender, to_user the target", e)
	}
	other.Quiet(quiet)
	a.Quiet(0)

	// Anonymous connections may not send to users: error 205.
	anon.Send(`{"type":"message","user":"bob","data":1,"id":5}`)
	if m := anon.ExpectError(protocol.ErrUnauthenticated.Code); m["id"] != float64(5) {
		t.Fatalf("error %s", m["_raw"])
	}
	alive(t, anon)
	b1.Quiet(quiet)
}

func TestProtocol_ErrorsKeepConnection(t *testing.T) {
	n := startNode(t, nil)
	c := dial(t, n, "alice")
	long := strings.Repeat("a", protocol.MaxNameLen+1)
	tests := []struct {
		name  string
		frame string
		code  int
		id    string // JSON of the id expected in the error, "" for none
	}{
		{"invalid JSON", `{"type":`, protocol.ErrInvalidJSON.Code, ""},
		{"not an object", `[1,2]`, protocol.ErrInvalidJSON.Code, ""},
		{"unknown type", `{"type":"dance","id":1}`, protocol.ErrUnknownType.Code, "1"},
		{"missing type", `{"room":"r","id":"x"}`, protocol.ErrMissingType.Code, `"x"`},
		{"missing room join", `{"type":"join_room","id":2}`, protocol.ErrMissingRoom.Code, "2"},
		{"missing room leave", `{"type":"leave_room","id":3}`, protocol.ErrMissingRoom.Code, "3"},
		{"missing data", `{"type":"message","room":"r","id":4}`, protocol.ErrMissingData.Code, "4"},
		{"bad room chars", `{"type":"join_room","room":"a b","id":5}`, protocol.ErrInvalidRoom.Code, "5"},
		{"bad room empty", `{"type":"join_room","room":"","id":6}`, protocol.ErrInvalidRoom.Code, "6"},
		{"bad room empty part", `{"type":"join_room","room":"a..b","id":7}`, protocol.ErrInvalidRoom.Code, "7"},
		{"bad room leading dot", `{"type":"join_room","room":".a","id":8}`, protocol.ErrInvalidRoom.Code, "8"},
		{"bad room too long", `{"type":"join_room","room":"` + long + `","id":9}`, protocol.ErrInvalidRoom.Code, "9"},
		{"bad room wildcard", `{"type":"join_room","room":"a.*","id":10}`, protocol.ErrInvalidRoom.Code, "10"},
		{"bad user", `{"type":"message","user":"bo b","data":1,"id":11}`, protocol.ErrInvalidUser.Code, "11"},
		{"bad user gt", `{"type":"message","user":"a.>","data":1,"id":12}`, protocol.ErrInvalidUser.Code, "12"},
		{"leave not joined", `{"type":"leave_room","room":"never","id":13}`, protocol.ErrNotJoined.Code, "13"},
		{"room and user", `{"type":"message","room":"r","user":"bob","data":1,"id":14}`, protocol.ErrRoomAndUser.Code, "14"},
		{"bad id", `{"type":"join_room","room":"r","id":{"a":1}}`, protocol.ErrInvalidID.Code, ""},
		{"room not a string", `{"type":"join_room","room":5,"id":15}`, protocol.ErrInvalidField.Code, "15"},
		{"message to room not joined", `{"type":"message","room":"nope","data":1,"id":16}`, protocol.ErrNotJoined.Code, "16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Send(tt.frame)
			m := c.ExpectError(tt.code)
			if m.S("message") == "" {
				t.Errorf("error %s has no message", m["_raw"])
			}
			if tt.id == "" && m["id"] != nil || tt.id != "" && m.JSON("id") != tt.id {
				t.Errorf("error %s, want id %s", m["_raw"], tt.id)
			}
			alive(t, c)
		})
	}
	// The room length limit is inclusive.
	c.Join(long[:protocol.MaxNameLen])
	c.Join("a_b-c:d@e.f.9")
}

func TestProtocol_CloseCodes(t *testing.T) {
	mask := func(f ws.Frame) ws.Frame { return ws.MaskFrameInPlace(f) }
	tests := []struct {
		name   string
		frame  ws.Frame
		code   int
		reason string
	}{
		{"oversize", mask(ws.NewTextFrame(bytes.Repeat([]byte("a"), 5000))), 1009, "too_big"},
		{"binary", mask(ws.NewBinaryFrame([]byte(`{"type":"join_room","room":"r"}`))), 1003, "unsupported_data"},
		{"invalid utf8", mask(ws.NewTextFrame([]byte{'"', 0xff, 0xfe, '"'})), 1007, "invalid_utf8"},
		{"unmasked", ws.NewTextFrame([]byte(`{"type":"join_room","room":"r"}`)), 1002, "protocol_error"},
		{"rsv bits", func() ws.Frame {
			f := ws.NewTextFrame([]byte(`{}`))
			f.Header.Rsv = ws.Rsv(true, false, false)
			return mask(f)
		}(), 1002, "protocol_error"},
		{"unknown opcode", mask(ws.NewFrame(ws.OpCode(0x3), true, []byte("x"))), 1002, "protocol_error"},
		{"fragmented ping", mask(ws.NewFrame(ws.OpPing, false, []byte("x"))), 1002, "protocol_error"},
	}
	n := startNode(t, func(c *config.Config) { c.WebSocket.MaxFrameBytes = 4096 })
	_, ev := events(t, n, "disconnect")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, n, "u-"+strings.ReplaceAll(tt.name, " ", "-"))
			alive(t, c)
			if err := ws.WriteFrame(c.Conn(), tt.frame); err != nil {
				t.Fatal(err)
			}
			code, reason := c.Closed()
			if code != tt.code {
				t.Fatalf("closed with %d %q, want %d", code, reason, tt.code)
			}
			e, _ := hubtest.NextEvent(t, ev, func(e protocol.Event) bool { return e.User == "u-"+strings.ReplaceAll(tt.name, " ", "-") })
			if e.Reason != tt.reason {
				t.Fatalf("disconnect reason %q, want %q", e.Reason, tt.reason)
			}
		})
	}
	// A frame exactly at the limit is fine.
	c := dial(t, n, "edge")
	pad := strings.Repeat("x", 4096-len(`{"type":"message","data":"","id":1}`))
	c.Send(`{"type":"message","data":"` + pad + `","id":1}`)
	c.Expect("ack")
}

func TestProtocol_ClientPingAnswered(t *testing.T) {
	n := startNode(t, nil)
	c := hubtest.RawDial(t, n.WSURL(), nil)
	if err := c.WriteFrame(ws.MaskFrameInPlace(ws.NewPingFrame([]byte("are-you-there")))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(hubtest.Wait)
	for {
		f, err := c.ReadFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("no pong: %v", err)
		}
		if f.Header.OpCode == ws.OpPong {
			if string(f.Payload) != "are-you-there" {
				t.Fatalf("pong payload %q", f.Payload)
			}
			break
		}
	}
	// Still open.
	if err := c.WriteText([]byte(`{"type":"join_room","room":"r","id":1}`)); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ReadText(hubtest.Wait); err != nil || string(p) != `{"type":"ack","id":1}` {
		t.Fatalf("got %q %v", p, err)
	}
}

func TestProtocol_ServerPingTimeout(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.WebSocket.PingInterval = 100 * time.Millisecond
		c.WebSocket.PongTimeout = 200 * time.Millisecond
	})
	_, ev := events(t, n, "disconnect")
	// A client that answers pings stays.
	good := dial(t, n, "good")
	// A client that never answers is closed with 4001 "timeout".
	bad := hubtest.RawDial(t, n.WSURL()+"?user=bad", nil)
	sawPing := false
	deadline := time.Now().Add(hubtest.Wait)
	for {
		f, err := bad.ReadFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("no close: %v", err)
		}
		if f.Header.OpCode == ws.OpPing {
			sawPing = true
		}
		if f.Header.OpCode == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(f.Payload)
			if code != 4001 || reason != "timeout" {
				t.Fatalf("closed %d %q, want 4001 timeout", code, reason)
			}
			break
		}
	}
	if !sawPing {
		t.Fatal("closed without a ping first")
	}
	e, _ := hubtest.NextEvent(t, ev, nil)
	if e.User != "bad" || e.Reason != "timeout" {
		t.Fatalf("disconnect %+v, want bad/timeout", e)
	}
	good.Quiet(quiet) // several ping intervals
	alive(t, good)
}

func TestProtocol_UpgradeOnlyOnPath(t *testing.T) {
	n := startNode(t, nil)
	_, err := hubtest.TryRawDial("ws"+n.HTTPURL()[len("http"):]+"/other", nil)
	if err == nil {
		t.Fatal("upgrade on another path succeeded")
	}
	status, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/ws", "", "")
	if status != http.StatusBadRequest || body["error"] == nil {
		t.Fatalf("plain GET /ws: %d %v, want 400 with a JSON error", status, body)
	}
}
