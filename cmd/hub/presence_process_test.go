package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
)

// SPEC §11, done means 2: kill -9 of a node holding 50 members of a
// presence room. Within 5 s every survivor's member sees exactly those 50
// leaves, the API lists no ghost, room_vacated is not sent while members
// remain, and backends get each leave once.
func TestProcessPresenceKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	cfg := filepath.Join(t.TempDir(), "hub.hcl")
	if err := os.WriteFile(cfg, []byte(`
namespace "chat" {
  rooms = ["chat.>"]
  presence {
    join_leave = true
  }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ps := startProcClusterWith(t, procOpts{args: []string{"-config", cfg}})
	a, b, c := ps[0], ps[1], ps[2]
	const room = "chat.lobby"
	watchers := []*hubtest.Client{
		a.dial(t, "?user=alice"),
		b.dial(t, "?user=bob"),
	}
	for _, w := range watchers {
		w.Join(room)
	}
	var doomed []string
	for i := 0; i < 50; i++ {
		u := fmt.Sprintf("c%02d", i)
		cl := c.dial(t, "?user="+u)
		cl.Send(`{"type":"join_room","room":"chat.lobby"}`)
		doomed = append(doomed, u)
	}
	listed := func(p *proc) (int, bool) {
		m := p.get("/api/rooms/" + room + "/presence")
		n, _ := m["count"].(float64)
		return int(n), m["complete"] == true
	}
	hubtest.Eventually(t, "52 members listed on every node", func() bool {
		for _, p := range ps {
			if n, ok := listed(p); n != 52 || !ok {
				return false
			}
		}
		return true
	})
	// What the watchers saw so far is not this test's business.
	for _, w := range watchers {
		for {
			if m, _ := w.TryNext(300 * time.Millisecond); m == nil {
				break
			}
		}
	}
	nc := a.natsConn(t)
	leaves := hubtest.Events(t, nc, "hub.events.leave")
	vacated := hubtest.Events(t, nc, "hub.events.room_vacated")

	killed := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
	for i, w := range watchers {
		var got []string
		for len(got) < 50 {
			m, ok := w.TryNext(time.Until(killed.Add(5 * time.Second)))
			if !ok || m == nil {
				t.Fatalf("watcher %d: %d leaves within 5 s of the kill, want 50: %v", i, len(got), got)
			}
			for _, ch := range hubtest.PresenceChanges(m) {
				got = append(got, ch)
			}
		}
		t.Logf("watcher %d: 50 leaves %v after the kill", i, time.Since(killed).Round(time.Millisecond))
		var want []string
		for _, u := range doomed {
			want = append(want, "-"+u)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("watcher %d saw %v, want exactly the 50 leaves", i, got)
		}
	}
	for _, p := range ps[:2] {
		m := p.get("/api/rooms/" + room + "/presence")
		var users []string
		members, _ := m["members"].([]any)
		for _, x := range members {
			users = append(users, x.(map[string]any)["user"].(string))
		}
		if !slices.Equal(users, []string{"alice", "bob"}) || m["complete"] != true {
			t.Errorf("%s lists %v (complete %v), want alice and bob", p.name, users, m["complete"])
		}
	}
	seen := map[string]int{}
	for len(seen) < 50 {
		var ev map[string]any
		if err := json.Unmarshal(hubtest.NextMsg(t, leaves).Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["room"] != room || ev["node"] != "pc" || ev["reason"] != "node_down" {
			t.Errorf("leave event %v, want room %s, node pc, reason node_down", ev, room)
		}
		seen[fmt.Sprint(ev["user"])]++
	}
	// No more: neither a duplicate leave, nor room_vacated (alice and bob
	// are still there), nor a frame to the watchers.
	for _, w := range watchers {
		w.Quiet(500 * time.Millisecond)
	}
	if len(leaves) > 0 || len(vacated) > 0 {
		t.Errorf("%d more leave events, %d room_vacated, want none", len(leaves), len(vacated))
	}
}
