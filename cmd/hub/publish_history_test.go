package main

import (
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
)

// SPEC §10: hub publish stores a message to a history room (and says its
// offset); other rooms get a plain publish.
func TestPublish_HistoryRoom(t *testing.T) {
	c := hubtest.Config(t)
	c.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		History: &namespace.History{Size: 10, MaxBytes: -1, Storage: namespace.StorageMemory}}}
	n := hubtest.Start(t, c)
	cl := hubtest.Dial(t, n.WSURL(), nil)
	cl.Join("chat.x")
	code, out, errs := runCmd("publish", "-nats-url", n.NATSURL(), "room", "chat.x", `{"a":1}`)
	if code != 0 || !strings.Contains(out, "at offset 1") {
		t.Fatalf("publish to a history room: %d %q %q", code, out, errs)
	}
	if m := cl.Expect("message"); m.JSON("data") != `{"a":1}` || m["offset"] != float64(1) {
		t.Fatalf("got %v", m["_raw"])
	}
	code, out, errs = runCmd("publish", "-nats-url", n.NATSURL(), "room", "other", `1`)
	if code != 0 || !strings.Contains(out, "published") {
		t.Fatalf("publish to a room without history: %d %q %q", code, out, errs)
	}
}
