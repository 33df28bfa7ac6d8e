package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// The floor server serves the chat case the way the hub does: every
// message reaches every other member of its room, none is lost.
func TestFloor_Chat(t *testing.T) {
	cfg := &Config{
		ChildExe: os.Args[0], ChildArgs: []string{"-test.run=^$"}, Spawn: true,
		ChatConns: 100, ChatRoomSize: 5, ChatRate: 2, ChatDuration: 2 * time.Second,
		Quiet: 3 * time.Second, Timeout: time.Minute,
	}
	cfg.setDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &runner{cfg: cfg}
	defer r.cleanup()
	f, err := spawnFloor(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.hubs = append(r.hubs, f)
	res, err := r.chat(ctx, f, "floor")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 400 || res.Lost != 0 || res.Received != 400*4 || res.ConnsClosed != 0 {
		t.Fatalf("floor chat = %+v, want 400 sent, each to the 4 other members", res)
	}
	if res.CPUPerMsgUs <= 0 {
		t.Errorf("floor chat = %+v, want its CPU", res)
	}
}
