package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hubrt/hub/bench"
)

var hubBin struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// builtHub builds the hub binary once for the tests that spawn it.
func builtHub(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and spawns the hub binary")
	}
	hubBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "hub-bench-test-*")
		if err == nil {
			hubBin.dir = dir
			hubBin.path = filepath.Join(dir, "hub")
			hubBin.out, hubBin.err = exec.Command("go", "build", "-o", hubBin.path, "github.com/hubrt/hub/cmd/hub").CombinedOutput()
		} else {
			hubBin.err = err
		}
	})
	if hubBin.err != nil {
		t.Fatalf("go build: %v\n%s", hubBin.err, hubBin.out)
	}
	return hubBin.path
}

// removeBuiltHub removes what builtHub built (TestMain, after the tests).
func removeBuiltHub() {
	if hubBin.dir != "" {
		os.RemoveAll(hubBin.dir)
	}
}

func historyConfig(t *testing.T, cases ...string) bench.Config {
	bc := tinyConfig(t)
	bc.Cases = cases
	bc.Spawn = true
	bc.HubExe = builtHub(t)
	bc.Messages = 20
	bc.RecoveryMessages = 100
	bc.Duration = time.Second
	bc.Publish = []string{"nats"}
	bc.HistoryStorage = "memory"
	return bc
}

// The burst with history on one node beside the same burst without, and
// the recovery storm: every member recovers exactly what it missed.
func TestRun_HistoryBurstAndRecovery(t *testing.T) {
	bc := historyConfig(t, bench.CaseHistoryBurst, bench.CaseRecovery)
	rep, err := bench.Run(context.Background(), bc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.HistoryBurst) != 2 {
		t.Fatalf("history bursts = %d, want without and with history", len(rep.HistoryBurst))
	}
	for _, b := range rep.HistoryBurst {
		if b.Lost != 0 || b.Received != 200*20 || b.ConnsClosed != 0 || b.Gaps+b.Dups+b.Missing != 0 || b.DeliveriesPerSec <= 0 {
			t.Errorf("%s: %+v; want every message once", b.Name, b)
		}
	}
	if rep.HistoryBurst[1].Name != "history-burst-nats" || rep.HistoryBurst[1].Via != "jetstream" {
		t.Errorf("second run %s via %s, want the history room through JetStream", rep.HistoryBurst[1].Name, rep.HistoryBurst[1].Via)
	}
	x := rep.Recovery
	if x == nil || x.Dropped != 200 || x.Recovered != 200 || x.NotRecovered != 0 || x.Received != 200*100 || x.Replayed != 200*100 ||
		x.Gaps+x.Dups+x.Missing != 0 || x.ReconnectP99Ms <= 0 || x.FromStore+x.FromCache != 200 {
		t.Fatalf("recovery = %+v; want all 200 members recovered with the 100 messages each", x)
	}
	checkFigures(t, rep, "history-burst", "recovery")
}

// The sustained case on 3 clustered nodes (R3) beside the same without.
func TestRun_HistorySustained(t *testing.T) {
	bc := historyConfig(t, bench.CaseHistorySustained)
	bc.SustainedRate = 20
	rep, err := bench.Run(context.Background(), bc)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	x := rep.HistorySustained
	if x == nil || x.Nodes != 3 || x.Plain == nil || x.History == nil {
		t.Fatalf("history-sustained = %+v", x)
	}
	for _, b := range []*bench.FanoutResult{x.Plain, x.History} {
		if b.Lost != 0 || b.Received != 200*20 || b.Gaps+b.Dups+b.Missing != 0 || b.P99Ms <= 0 {
			t.Errorf("%s: %+v; want every message once", b.Name, b)
		}
	}
	checkFigures(t, rep, "history-sustained")
}

// checkFigures: each case has judged lines and none of its counts missed.
func checkFigures(t *testing.T, rep *bench.Report, cases ...string) {
	t.Helper()
	for _, c := range cases {
		n := 0
		for _, f := range rep.Figures {
			if f.Case != c {
				continue
			}
			n++
			if f.Target == "0" && f.Result != bench.Pass {
				t.Errorf("%s: %s = %s", c, f.Name, f.Shown)
			}
		}
		if n == 0 {
			t.Errorf("no figure for %s", c)
		}
	}
}
