package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

func historyConfig(t *testing.T, size int, storage namespace.Storage) *config.Config {
	c := hubtest.Config(t)
	c.Namespaces = []namespace.Namespace{{
		Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		History: &namespace.History{Size: size, MaxBytes: -1, Storage: storage},
	}}
	return c
}

func offsetOf(t *testing.T, m hubtest.Msg) uint64 {
	t.Helper()
	f, ok := m["offset"].(float64)
	if !ok {
		t.Fatalf("frame without offset: %v", m["_raw"])
	}
	return uint64(f)
}

func joinSince(cl *hubtest.Client, room string, id int, since uint64, epoch string) {
	cl.Send(map[string]any{"type": "join_room", "room": room, "id": id, "since": map[string]any{"offset": since, "epoch": epoch}})
}

// SPEC §10: messages to a history room carry offsets; a join is acknowledged
// with epoch and offset; a join with since replays what was missed, then
// acknowledges recovered:true.
func TestHistory_OffsetsAndRecovery(t *testing.T) {
	n := hubtest.Start(t, historyConfig(t, 100, namespace.StorageMemory))
	alice := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	alice.Send(`{"type":"join_room","room":"chat.lobby","id":1}`)
	ack := alice.Expect("ack")
	epoch := ack.S("epoch")
	if epoch == "" || offsetOf(t, ack) != 0 || ack.S("room") != "chat.lobby" {
		t.Fatalf("join ack %v, want room, epoch and offset 0", ack["_raw"])
	}
	var offs []uint64
	for i := range 5 {
		code, m := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/chat.lobby/messages", "", fmt.Sprintf(`{"n":%d}`, i))
		if code != 202 || m["status"] != "accepted" {
			t.Fatalf("publish: %d %v", code, m)
		}
		offs = append(offs, uint64(m["offset"].(float64)))
	}
	for i := range 5 {
		m := alice.Expect("message")
		if offsetOf(t, m) != offs[i] || m.JSON("data") != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("message %d: %v, want offset %d", i, m["_raw"], offs[i])
		}
	}
	// A client message is stored too and acknowledged with its offset.
	alice.Send(`{"type":"message","room":"chat.lobby","data":"hi","id":"m"}`)
	if m := alice.Expect("ack"); m.S("id") != "m" || offsetOf(t, m) <= offs[4] {
		t.Fatalf("message ack %v, want an offset after %d", m["_raw"], offs[4])
	}

	bob := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	joinSince(bob, "chat.lobby", 2, offs[1], epoch)
	for i := 2; i < 5; i++ {
		if m := bob.Expect("message"); offsetOf(t, m) != offs[i] {
			t.Fatalf("replay: %v, want offset %d", m["_raw"], offs[i])
		}
	}
	if m := bob.Expect("message"); m.S("from") != "alice" || m.JSON("data") != `"hi"` {
		t.Fatalf("replay of alice's message: %v", m["_raw"])
	}
	ack = bob.Expect("ack")
	if ack["recovered"] != true || ack.S("epoch") != epoch {
		t.Fatalf("recovery ack %v, want recovered:true", ack["_raw"])
	}

	// GET history pages from an offset.
	code, h := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/chat.lobby/history?since="+strconv.FormatUint(offs[2], 10)+"&limit=2", "", "")
	msgs, _ := h["messages"].([]any)
	if code != 200 || len(msgs) != 2 || uint64(msgs[0].(map[string]any)["offset"].(float64)) != offs[3] {
		t.Fatalf("GET history: %d %v", code, h)
	}
	if code, _ := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/other/history", "", ""); code != 404 {
		t.Fatalf("GET history of a room without history: %d, want 404", code)
	}
	// DELETE empties it: recovering from before gives recovered:false.
	if code, _ := hubtest.HTTP(t, "DELETE", n.HTTPURL()+"/api/rooms/chat.lobby/history", "", ""); code != 200 {
		t.Fatalf("DELETE history: %d", code)
	}
	code, h = hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/chat.lobby/history", "", "")
	if msgs, _ := h["messages"].([]any); code != 200 || len(msgs) != 0 {
		t.Fatalf("history after DELETE: %d %v", code, h)
	}
	carol := hubtest.Dial(t, n.WSURL()+"?user=carol", nil)
	joinSince(carol, "chat.lobby", 3, offs[1], epoch)
	if ack := carol.Expect("ack"); ack["recovered"] != false {
		t.Fatalf("recovery after DELETE: %v, want recovered:false", ack["_raw"])
	}
	if _, checks := n.Ready(); !checks["jetstream"] {
		t.Fatalf("readiness checks %v, want jetstream true", checks)
	}
}

// SPEC §10: nothing is replayed and the ack says recovered:false when the
// history was trimmed past since, or the epoch differs.
func TestHistory_TrimmedAndEpoch(t *testing.T) {
	n := hubtest.Start(t, historyConfig(t, 5, namespace.StorageMemory))
	var offs []uint64
	for i := range 12 {
		_, m := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/chat.a/messages", "", strconv.Itoa(i))
		offs = append(offs, uint64(m["offset"].(float64)))
	}
	probe := hubtest.Dial(t, n.WSURL(), nil)
	probe.Send(`{"type":"join_room","room":"chat.a","id":0}`)
	epoch := probe.Expect("ack").S("epoch")
	tests := []struct {
		name  string
		since uint64
		epoch string
		want  bool
		n     int // replayed
	}{
		{"within size", offs[8], epoch, true, 3},
		{"at the end", offs[11], epoch, true, 0},
		{"trimmed by size", offs[2], epoch, false, 0},
		{"other epoch", offs[8], "x" + epoch, false, 0},
		{"from zero after trimming", 0, epoch, false, 0},
		{"ahead of the room", offs[11] + 100, epoch, false, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := hubtest.Dial(t, n.WSURL(), nil)
			joinSince(cl, "chat.a", i, tt.since, tt.epoch)
			got := 0
			for {
				m := cl.Next()
				if m.S("type") == "message" {
					got++
					continue
				}
				if m.S("type") != "ack" || m["recovered"] != tt.want || got != tt.n {
					t.Fatalf("got %d messages then %v, want %d then recovered:%v", got, m["_raw"], tt.n, tt.want)
				}
				return
			}
		})
	}
}

// SPEC §10 and Done 1: a client that drops out while a publisher sends 1,000
// messages a second rejoins with since and gets exactly what it missed, then
// live, with nothing lost or doubled.
func TestHistory_RecoveryWhilePublishing(t *testing.T) {
	c := historyConfig(t, 10000, namespace.StorageMemory)
	c.WebSocket.WriteQueueFrames = 8192 // the replay is ~1,000 frames
	n := hubtest.Start(t, c)
	nc := hubtest.NATS(t, n.NATSURL())
	js, _ := jetstream.New(nc)
	const total = 3000
	var published atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	start := make(chan struct{})
	wg.Go(func() {
		<-start
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= total; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := js.Publish(context.Background(), "hub.room.chat.fast", []byte(strconv.Itoa(i))); err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
			published.Store(int64(i))
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	seen := map[int]int{}
	var order []int
	record := func(m hubtest.Msg) uint64 {
		v, _ := strconv.Atoi(m.JSON("data"))
		seen[v]++
		order = append(order, v)
		return offsetOf(t, m)
	}
	cl := hubtest.Dial(t, n.WSURL(), nil)
	cl.Send(`{"type":"join_room","room":"chat.fast","id":1}`)
	epoch := cl.Expect("ack").S("epoch")
	close(start)
	var last uint64
	for len(order) < 500 {
		last = record(cl.Expect("message"))
	}
	cl.Close()
	// Wait while messages are missed.
	hubtest.Eventually(t, "the publisher to send 1,000 more", func() bool { return published.Load() > int64(len(order))+1000 })
	cl = hubtest.Dial(t, n.WSURL(), nil)
	joinSince(cl, "chat.fast", 2, last, epoch)
	recovered := false
	for len(order) < total {
		m := cl.Next()
		switch m.S("type") {
		case "message":
			record(m)
		case "ack":
			if m["recovered"] != true {
				t.Fatalf("recovery ack %v, want recovered:true", m["_raw"])
			}
			recovered = true
		default:
			t.Fatalf("unexpected %v", m["_raw"])
		}
	}
	if !recovered {
		t.Fatal("no recovery ack")
	}
	for i, v := range order {
		if v != i+1 || seen[v] != 1 {
			t.Fatalf("message %d is %d (seen %d times), want %d once: lost or doubled", i, v, seen[v], i+1)
		}
	}
}

// SPEC §10: a single node with file storage keeps its history across a
// restart (same name, same data directory).
func TestHistory_FileStorageSurvivesRestart(t *testing.T) {
	c := historyConfig(t, 100, namespace.StorageFile)
	n1, err := node.New(c, hubtest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if code, _ := hubtest.HTTP(t, "POST", n1.HTTPURL()+"/api/rooms/chat.keep/messages", "", strconv.Itoa(i)); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := hubtest.Start(t, c)
	code, h := hubtest.HTTP(t, "GET", n2.HTTPURL()+"/api/rooms/chat.keep/history", "", "")
	msgs, _ := h["messages"].([]any)
	if code != 200 || len(msgs) != 3 {
		t.Fatalf("history after restart: %d %v, want 3 messages", code, h)
	}
	b, _ := json.Marshal(msgs[2].(map[string]any)["data"])
	if string(b) != "2" {
		t.Fatalf("third message %s, want 2", b)
	}
}

// SPEC §10: a publish to a history room that cannot be stored is refused:
// 503 from the API, an error frame to a client; nothing is delivered.
func TestHistory_RefusedWhenNotStored(t *testing.T) {
	n := hubtest.Start(t, historyConfig(t, 100, namespace.StorageMemory))
	cl := hubtest.Dial(t, n.WSURL(), nil)
	cl.Join("chat.x")
	nc := hubtest.NATS(t, n.NATSURL())
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "HUB_chat"); err != nil {
		t.Fatal(err)
	}
	if code, _ := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/chat.x/messages", "", `1`); code != 503 {
		t.Fatalf("API publish without a stream: %d, want 503", code)
	}
	cl.Send(`{"type":"message","room":"chat.x","data":2,"id":9}`)
	if m := cl.ExpectError(507); m.JSON("id") != "9" {
		t.Fatalf("error %v, want id 9", m["_raw"])
	}
	cl.Quiet(300 * time.Millisecond)
	_ = nats.ErrTimeout
}
