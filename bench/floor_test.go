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

// The floor server serves the fan-out cases too: a member's room messages
// reach every other member, counted and timed like the hub's, and the
// report sets each beside the hub's figure.
func TestFloor_Fanout(t *testing.T) {
	cfg := &Config{
		ChildExe: os.Args[0], ChildArgs: []string{"-test.run=^$"}, Spawn: true,
		Members: 200, Messages: 20, Rate: 20, SustainedRate: 40, Duration: time.Second,
		Quiet: 3 * time.Second, Timeout: time.Minute,
	}
	cfg.setDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &runner{cfg: cfg}
	defer r.cleanup()
	rep := &Report{}
	if err := r.floorFanout(ctx, rep, true, true, true); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"burst-floor": 200 * 20, "paced-floor": 200 * 20, "sustained-floor": 200 * 40}
	if len(rep.FloorFanout) != len(want) {
		t.Fatalf("floor runs = %d, want %d", len(rep.FloorFanout), len(want))
	}
	var cpu float64
	for _, res := range rep.FloorFanout {
		cpu += res.CPUSeconds
		if res.Lost != 0 || res.Received != want[res.Name] || res.ConnsClosed != 0 {
			t.Errorf("%s = %+v, want %d deliveries, none lost", res.Name, res, want[res.Name])
		}
	}
	if cpu <= 0 {
		t.Errorf("floor CPU over every run = %v, want some", cpu)
	}
	rep.FloorFanout[1].CPUPerDelivUs = 3 // too few deliveries for the clock ticks of a CPU figure
	rep.Paced = &FanoutResult{Name: "paced", CPUPerDelivUs: 6, P99Ms: 2 * rep.FloorFanout[1].P99Ms}
	rep.finish()
	for _, f := range rep.Figures {
		if f.Case == "paced" && f.Name == "hub vs floor: CPU per delivery, p99" {
			if f.Value < 1.99 || f.Value > 2.01 {
				t.Errorf("paced vs floor = %v, want 2", f.Value)
			}
			return
		}
	}
	t.Errorf("no paced vs floor figure in %+v", rep.Figures)
}

// The compression case is judged against the same run's cases without
// compression: burst CPU per delivery at most 1.3×, idle RSS within 5 %.
func TestCompressionFigures(t *testing.T) {
	z := &CompressionCase{
		Idle:  &IdleResult{Conns: 10, RSSPerConnKiB: 1.04},
		Burst: &FanoutResult{Members: 10, Messages: 2, CPUPerDelivUs: 1.4},
	}
	fs := compressionFigures(z, &IdleResult{RSSPerConnKiB: 1.0}, []*FanoutResult{{Via: "http", CPUPerDelivUs: 0.1}, {Via: "nats", CPUPerDelivUs: 1.0}})
	got := map[string]string{}
	for _, f := range fs {
		got[f.Name] = f.Result
	}
	if got["idle: RSS per connection, deflate negotiated"] != Pass || got["burst: server CPU per delivery"] != Miss {
		t.Errorf("figures = %+v, want idle PASS (1.04×), burst MISS (1.4× the nats burst)", fs)
	}
}
