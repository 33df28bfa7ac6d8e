package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/bench"
	"github.com/hubrt/hub/internal/hubtest"
)

// TestMain lets this test binary be its own client process: the parent
// starts os.Args[0] with bench.ChildEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(bench.ChildEnv) == "1" {
		os.Exit(bench.RunChild(os.Stdin, os.Stdout))
	}
	code := m.Run()
	removeBuiltHub()
	os.Exit(code)
}

func tinyConfig(t *testing.T) bench.Config {
	return bench.Config{
		ChildExe:  os.Args[0],
		ChildArgs: []string{"-test.run=^$"},
		Conns:     200,
		Rooms:     10,
		Members:   200,
		Messages:  20,
		Quiet:     3 * time.Second,
		Settle:    100 * time.Millisecond,
		Timeout:   60 * time.Second,
		Stderr:    testWriter{t},
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func checkReport(t *testing.T, rep *bench.Report) {
	t.Helper()
	if rep.Idle == nil || rep.Idle.Conns != 200 || rep.Idle.Failed != 0 {
		t.Fatalf("idle = %+v, want 200 conns and no failure", rep.Idle)
	}
	if rep.Idle.ConnsPerSec <= 0 || rep.Idle.RSSAfterMiB <= 0 || rep.Idle.GoroutinesAfter <= 0 {
		t.Errorf("idle = %+v, want positive rate, RSS and goroutines", rep.Idle)
	}
	if len(rep.Burst) != 2 {
		t.Fatalf("burst runs = %d, want nats and http", len(rep.Burst))
	}
	for _, b := range rep.Burst {
		if b.Lost != 0 || b.Received != 200*20 || b.ConnsClosed != 0 {
			t.Errorf("%s: lost %d, received %d of %d, %d conns closed; want no loss", b.Name, b.Lost, b.Received, b.Expected, b.ConnsClosed)
		}
		if b.DeliveriesPerSec <= 0 || b.P99Ms <= 0 || b.RSSMaxMiB <= 0 || b.CPUSeconds < 0 {
			t.Errorf("%s = %+v, want positive figures", b.Name, b)
		}
	}
	if len(rep.Figures) == 0 {
		t.Error("no figures")
	}
}

func TestRun_IdleAndBurstInProcess(t *testing.T) {
	cfg := hubtest.Config(t)
	n := hubtest.Start(t, cfg)
	bc := tinyConfig(t)
	bc.Cases = []string{bench.CaseIdle, bench.CaseBurst}
	bc.URLs = []string{n.WSURL()}
	bc.NATSURLs = []string{n.NATSURL()}
	bc.MetricsURLs = []string{n.HTTPURL() + "/metrics"}
	rep, err := bench.Run(context.Background(), bc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkReport(t, rep)
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
}

func TestRun_SpawnedHub(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and spawns the hub binary")
	}
	exe := filepath.Join(t.TempDir(), "hub")
	build := exec.Command("go", "build", "-o", exe, "github.com/hubrt/hub/cmd/hub")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bc := tinyConfig(t)
	bc.Cases = []string{bench.CaseIdle, bench.CaseBurst}
	bc.Spawn = true
	bc.HubExe = exe
	rep, err := bench.Run(context.Background(), bc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkReport(t, rep)
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  bench.Config
		ok   bool
	}{
		{"spawn", bench.Config{Spawn: true}, true},
		{"nothing to measure", bench.Config{}, false},
		{"unknown case", bench.Config{Spawn: true, Cases: []string{"nope"}}, false},
		{"spawn and url", bench.Config{Spawn: true, URLs: []string{"ws://127.0.0.1:1/ws"}}, false},
		{"cluster needs nodes", bench.Config{URLs: []string{"ws://127.0.0.1:1/ws"}, NATSURLs: []string{"nats://x"}, Cases: []string{"cluster"}}, false},
		{"nats needs url", bench.Config{URLs: []string{"ws://127.0.0.1:1/ws"}, Cases: []string{"burst"}, Publish: []string{"nats"}}, false},
		{"http only", bench.Config{URLs: []string{"ws://127.0.0.1:1/ws"}, Cases: []string{"burst"}, Publish: []string{"http"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestRun_ChatInProcess(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	bc := tinyConfig(t)
	bc.Cases = []string{bench.CaseChat}
	bc.URLs = []string{n.WSURL()}
	bc.NATSURLs = []string{n.NATSURL()}
	bc.MetricsURLs = []string{n.HTTPURL() + "/metrics"}
	bc.ChatConns, bc.ChatRoomSize, bc.ChatRate, bc.ChatDuration = 200, 10, 2, 2*time.Second
	rep, err := bench.Run(context.Background(), bc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	h := rep.Chat.Hub
	if h == nil || h.Sent != 800 || h.SendErrs != 0 || h.Expected != 800*9 || h.Lost != 0 || h.Received != h.Expected {
		t.Fatalf("chat = %+v, want 800 messages sent and each delivered to the 9 other members", h)
	}
	if h.CPUPerMsgUs <= 0 || h.P99Ms <= 0 {
		t.Errorf("chat = %+v, want positive CPU and latency", h)
	}
	if rep.Chat.Floor != nil {
		t.Errorf("floor measured against a hub that was not spawned")
	}
}
