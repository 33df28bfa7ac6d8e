package node_test

// Conformance tests for SPEC §5: the HTTP API on the WebSocket port.

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

func accepted(t *testing.T, n *node.Node, method, path, key, body string) {
	t.Helper()
	status, m := hubtest.HTTP(t, method, n.HTTPURL()+path, key, body)
	if status != http.StatusAccepted || m["status"] != "accepted" {
		t.Fatalf("%s %s: %d %v, want 202 {\"status\":\"accepted\"}", method, path, status, m)
	}
}

func wantError(t *testing.T, n *node.Node, method, path, key, body string, want int) {
	t.Helper()
	status, m := hubtest.HTTP(t, method, n.HTTPURL()+path, key, body)
	if status != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, status, m, want)
	}
	if msg, _ := m["error"].(string); msg == "" {
		t.Fatalf("%s %s: body %v, want {\"error\":\"...\"}", method, path, m)
	}
}

func TestAPI_Deliveries(t *testing.T) {
	n := startNode(t, nil)
	_, ev := events(t, n, "connect")
	alice := dial(t, n, "alice")
	aliceID := connID(t, ev, "alice")
	bob1 := dial(t, n, "bob")
	bob2 := dial(t, n, "bob")
	anon := dial(t, n, "")
	alice.Join("r1")
	anon.Join("r1")
	hubtest.Eventually(t, "bob online twice", func() bool {
		_, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/users/bob", "", "")
		return m["connections"] == float64(2)
	})

	accepted(t, n, "POST", "/api/broadcast", "", `{"all":true}`)
	for _, c := range []*hubtest.Client{alice, bob1, bob2, anon} {
		if m := c.Expect("message"); m.JSON("data") != `{"all":true}` || m["room"] != nil {
			t.Fatalf("broadcast: got %s", m["_raw"])
		}
	}

	accepted(t, n, "POST", "/api/rooms/r1/messages", "", ` {"room":1} `)
	for _, c := range []*hubtest.Client{alice, anon} {
		if m := c.Expect("message"); m.JSON("data") != `{"room":1}` || m.S("room") != "r1" {
			t.Fatalf("room: got %s", m["_raw"])
		}
	}
	bob1.Quiet(quiet)

	accepted(t, n, "POST", "/api/users/bob/messages", "", `"hi bob"`)
	for _, c := range []*hubtest.Client{bob1, bob2} {
		if m := c.Expect("message"); m.JSON("data") != `"hi bob"` {
			t.Fatalf("user: got %s", m["_raw"])
		}
	}
	alice.Quiet(quiet)

	accepted(t, n, "POST", "/api/connections/"+aliceID+"/messages", "", `[1,2,3]`)
	if m := alice.Expect("message"); m.JSON("data") != `[1,2,3]` {
		t.Fatalf("connection: got %s", m["_raw"])
	}
	bob1.Quiet(quiet)
	anon.Quiet(0)
}

func TestAPI_Connection(t *testing.T) {
	n := startNode(t, nil)
	_, ev := events(t, n, "connect")
	before := time.Now().Add(-time.Second)
	h := http.Header{"X-Forwarded-For": {"198.51.100.9"}}
	alice := hubtest.Dial(t, n.WSURL()+"?user=alice", h)
	id := connID(t, ev, "alice")
	alice.Join("r1")
	alice.Join("r2")

	status, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/connections/"+id, "", "")
	if status != http.StatusOK {
		t.Fatalf("GET connection: %d %v", status, m)
	}
	if m["id"] != id || m["user"] != "alice" || m["node"] != n.Name() || m["peer"] != "198.51.100.9, 127.0.0.2" {
		t.Fatalf("GET connection: %v", m)
	}
	rooms, _ := m["rooms"].([]any)
	if len(rooms) != 2 || rooms[0] != "r1" || rooms[1] != "r2" {
		t.Fatalf("rooms %v, want [r1 r2]", m["rooms"])
	}
	at, err := time.Parse(time.RFC3339Nano, hubtest.Msg(m).S("connected_at"))
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("connected_at %v: %v", m["connected_at"], err)
	}

	// An anonymous connection with no rooms: empty user, empty list.
	dial(t, n, "")
	anonID := connID(t, ev, "")
	_, m = hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/connections/"+anonID, "", "")
	if m["user"] != "" || hubtest.Msg(m).JSON("rooms") != "[]" {
		t.Fatalf("anonymous connection: %v", m)
	}

	for _, bad := range []string{n.Name() + ".zzzzzz", "nosuchnode.abc", "plain", "a..b"} {
		wantError(t, n, "GET", "/api/connections/"+bad, "", "", http.StatusNotFound)
		wantError(t, n, "POST", "/api/connections/"+bad+"/messages", "", `1`, http.StatusNotFound)
		wantError(t, n, "DELETE", "/api/connections/"+bad, "", "", http.StatusNotFound)
	}

	// DELETE closes it with 4500 "kicked"; afterwards it is unknown.
	status, _ = hubtest.HTTP(t, "DELETE", n.HTTPURL()+"/api/connections/"+id, "", "")
	if status != http.StatusNoContent {
		t.Fatalf("DELETE: %d", status)
	}
	if code, reason := alice.Closed(); code != 4500 || reason != "kicked" {
		t.Fatalf("closed %d %q", code, reason)
	}
	hubtest.Eventually(t, "connection gone", func() bool {
		status, _ := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/connections/"+id, "", "")
		return status == http.StatusNotFound
	})
	wantError(t, n, "DELETE", "/api/connections/"+id, "", "", http.StatusNotFound)
}

func TestAPI_Counts(t *testing.T) {
	n := startNode(t, nil)
	a := dial(t, n, "bob")
	b := dial(t, n, "bob")
	c := dial(t, n, "")
	for _, cl := range []*hubtest.Client{a, b, c} {
		cl.Join("lobby")
	}
	status, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/lobby", "", "")
	if status != 200 || m["room"] != "lobby" || m["members"] != float64(3) || m["nodes"] != float64(1) || m["complete"] != true {
		t.Fatalf("GET room: %d %v", status, m)
	}
	status, m = hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/users/bob", "", "")
	if status != 200 || m["user"] != "bob" || m["online"] != true || m["connections"] != float64(2) {
		t.Fatalf("GET user: %d %v", status, m)
	}
	status, m = hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/users/nobody", "", "")
	if status != 200 || m["online"] != false || m["connections"] != float64(0) {
		t.Fatalf("GET unknown user: %d %v", status, m)
	}
	status, m = hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/empty", "", "")
	if status != 200 || m["members"] != float64(0) {
		t.Fatalf("GET empty room: %d %v", status, m)
	}
	// Counts follow leaves and disconnects.
	c.Send(`{"type":"leave_room","room":"lobby","id":1}`)
	c.Expect("ack")
	a.Close()
	a.Closed()
	hubtest.Eventually(t, "counts drop", func() bool {
		_, r := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/lobby", "", "")
		_, u := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/users/bob", "", "")
		return r["members"] == float64(1) && u["connections"] == float64(1)
	})
}

func TestAPI_Errors(t *testing.T) {
	n := startNode(t, nil)
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"bad room name", "POST", "/api/rooms/a%20b/messages", `1`, 400},
		{"bad room name dots", "POST", "/api/rooms/a..b/messages", `1`, 400},
		{"bad room name star", "POST", "/api/rooms/a.*/messages", `1`, 400},
		{"bad user name", "POST", "/api/users/bo%21b/messages", `1`, 400},
		{"bad room GET", "GET", "/api/rooms/a%20b", ``, 400},
		{"bad user GET", "GET", "/api/users/a%3Eb", ``, 400},
		{"non-JSON body broadcast", "POST", "/api/broadcast", `hello`, 400},
		{"non-JSON body room", "POST", "/api/rooms/r/messages", `{"a":`, 400},
		{"non-JSON body user", "POST", "/api/users/bob/messages", `{{}}`, 400},
		{"empty body", "POST", "/api/broadcast", ``, 400},
		{"two values", "POST", "/api/broadcast", `1 2`, 400},
		{"unknown API", "GET", "/api/nothing", ``, 404},
		{"unknown path", "GET", "/nothing/here", ``, 404},
		{"wrong method broadcast", "GET", "/api/broadcast", ``, 405},
		{"wrong method room messages", "DELETE", "/api/rooms/r/messages", ``, 405},
		{"wrong method room", "POST", "/api/rooms/r", `1`, 405},
		{"too large", "POST", "/api/broadcast", `"` + strings.Repeat("x", node.MaxAPIBody) + `"`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, n, tt.method, tt.path, "", tt.body, tt.status)
		})
	}
}

func TestAPI_Key(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Auth.APIKey = "s3cret-key" })
	c := dial(t, n, "alice")
	c.Join("r")
	for _, key := range []string{"", "wrong"} {
		wantError(t, n, "POST", "/api/broadcast", key, `1`, http.StatusUnauthorized)
		wantError(t, n, "GET", "/api/rooms/r", key, ``, http.StatusUnauthorized)
		wantError(t, n, "GET", "/api/users/alice", key, ``, http.StatusUnauthorized)
		wantError(t, n, "POST", "/api/rooms/r/messages", key, `1`, http.StatusUnauthorized)
	}
	c.Quiet(quiet)
	accepted(t, n, "POST", "/api/broadcast", "s3cret-key", `"with key"`)
	if m := c.Expect("message"); m.JSON("data") != `"with key"` {
		t.Fatalf("got %s", m["_raw"])
	}
	status, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/r", "s3cret-key", "")
	if status != 200 || m["members"] != float64(1) {
		t.Fatalf("GET room with key: %d %v", status, m)
	}
	// Probes need no key.
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := hubtest.HTTP(t, "GET", n.HTTPURL()+p, "", ""); status != 200 {
			t.Fatalf("%s without key: %d", p, status)
		}
	}
}

func TestAPI_Probes(t *testing.T) {
	n := startNode(t, nil)
	status, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/healthz", "", "")
	if status != 200 {
		t.Fatalf("healthz: %d %v", status, m)
	}
	status, m = hubtest.HTTP(t, "GET", n.HTTPURL()+"/readyz", "", "")
	if status != 200 || m["status"] != "ready" {
		t.Fatalf("readyz: %d %v", status, m)
	}
	c := dial(t, n, "")
	c.Join("metrics-room")
	resp, err := http.Get(n.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("\nhub_connections ")) {
		t.Fatalf("metrics: %d, no hub_connections gauge in:\n%.2000s", resp.StatusCode, b)
	}
	// Readiness turns off once shutdown starts. The listener closes at the
	// same moment, so this is observed on the node itself.
	if err := n.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, checks := n.Ready(); ok || checks["not_draining"] {
		t.Fatalf("Ready after Shutdown: %v %v", ok, checks)
	}
}
