package bench_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/bench"
	"github.com/hubrt/hub/internal/hubtest"
)

// TestProfile_Hub profiles an in-process hub under the load tool, since the
// hub serves no pprof endpoint: a CPU profile while the connections open
// (until the last is accepted), while a room of them gets a burst, a paced
// and a sustained run, and while they chat in rooms of ten, and a heap
// profile with every connection idle. It runs only when HUB_BENCH_PROFILE
// names a directory for the profiles; HUB_BENCH_CONNS sets the size (default 15000),
// HUB_BENCH_CASES the cases after the connect (default
// "burst,paced,sustained,chat"; "none" for the connect alone), and HUB_BENCH_TRACE=1 adds a runtime trace
// of each (go tool trace -pprof=sched /tmp/prof/chat.trace).
//
//	HUB_BENCH_PROFILE=/tmp/prof go test -run TestProfile_Hub -timeout 10m ./bench
//	go tool pprof -top /tmp/prof/heap.pprof
//	go tool pprof -top -sample_index=alloc_space -diff_base /tmp/prof/chat.allocs0.pprof /tmp/prof/chat.allocs.pprof
func TestProfile_Hub(t *testing.T) {
	dir := os.Getenv("HUB_BENCH_PROFILE")
	if dir == "" {
		t.Skip("set HUB_BENCH_PROFILE to a directory to write profiles")
	}
	conns := 15000
	if v, err := strconv.Atoi(os.Getenv("HUB_BENCH_CONNS")); err == nil && v > 0 {
		conns = v
	}
	n := hubtest.Start(t, hubtest.Config(t))
	base := bench.Config{
		ChildExe: os.Args[0], ChildArgs: []string{"-test.run=^$"},
		URLs: []string{n.WSURL()}, NATSURLs: []string{n.NATSURL()}, MetricsURLs: []string{n.HTTPURL() + "/metrics"},
		Conns: conns, Members: min(conns, 10000), Stderr: testWriter{t},
	}
	profile := func(name string, cfg bench.Config) *bench.Report {
		f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		writeAllocs(t, filepath.Join(dir, name+".allocs0.pprof"))
		if os.Getenv("HUB_BENCH_TRACE") == "1" {
			tf, err := os.Create(filepath.Join(dir, name+".trace"))
			if err != nil {
				t.Fatal(err)
			}
			defer tf.Close()
			if err := trace.Start(tf); err != nil {
				t.Fatal(err)
			}
			defer trace.Stop()
		}
		rep, err := bench.Run(context.Background(), cfg)
		pprof.StopCPUProfile()
		writeAllocs(t, filepath.Join(dir, name+".allocs.pprof"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rep
	}

	// Connect, then the heap with every connection idle (the children stay
	// up until Run returns, so take the heap from inside: Settle is long
	// enough for a goroutine to snapshot it).
	idle := base
	idle.Cases = []string{bench.CaseIdle}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond) // a poll, not a busy loop: it would show in the CPU profile
		defer tick.Stop()
		for n.NumConns() < conns {
			<-tick.C
		}
		// connect.cpu.pprof is the accept phase only: the idle time and
		// the close that follow are not in it.
		pprof.StopCPUProfile()
		runtime.GC()
		f, err := os.Create(filepath.Join(dir, "heap.pprof"))
		if err != nil {
			return
		}
		defer f.Close()
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("with %d conns: heap in use %.1f MiB, stacks %.1f MiB, sys %.1f MiB, goroutines %d",
			conns, float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20), float64(ms.Sys)/(1<<20), runtime.NumGoroutine())
	}()
	profile("connect", idle)
	<-done

	cases := "burst,paced,sustained,chat"
	if v := os.Getenv("HUB_BENCH_CASES"); v != "" {
		cases = v
	}
	for _, c := range strings.Split(cases, ",") {
		switch c {
		case "none":
		case bench.CaseBurst, bench.CasePaced, bench.CaseSustained:
			fan := base
			fan.Cases = []string{c}
			fan.Publish = []string{"nats"}
			profile(c, fan)
		case bench.CaseChat:
			chat := base
			chat.Cases = []string{bench.CaseChat}
			chat.ChatDuration = 10 * time.Second
			chat.ChatConns = min(conns, 10000)
			profile("chat", chat)
		default:
			t.Fatalf("HUB_BENCH_CASES: no case %q (burst, paced, sustained, chat, none)", c)
		}
	}
}

// writeAllocs saves the allocation profile so far; the difference of two
// is what a case allocated.
func writeAllocs(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}
