package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
)

// SPEC §11, done means 3: a storm of 5,000 joins into one presence room
// over 2 s, spread over three hub processes (built without the race
// detector, as they run in production). The storm's clients are a
// separate process too (internal/presencestorm): every member learns every
// later join, O(N²) bytes that a race-instrumented test client would take
// minutes to read. Members get batched frames (a bounded number each),
// each node stays within its memory bound, every node lists exactly the
// 5,003 members, and the observers see each join exactly once.
func TestProcessPresenceJoinStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	total := 5000
	if v, err := strconv.Atoi(os.Getenv("HUB_STORM_N")); err == nil && v > 0 {
		total = v
	}
	stormBin := filepath.Join(filepath.Dir(hubBinary(t)), "presencestorm")
	if out, err := exec.Command("go", "build", "-o", stormBin, "../../internal/presencestorm").CombinedOutput(); err != nil {
		t.Fatalf("go build presencestorm: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "hub.hcl")
	if err := os.WriteFile(cfg, []byte(`
namespace "chat" {
  rooms = ["chat.>"]
  presence {
    join_leave = true
    max_list   = 10000
  }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ps := startProcClusterWith(t, procOpts{args: []string{"-config", cfg}})
	const room = "chat.storm"
	// An observer on each node, in the room before the storm.
	var obs []*hubtest.Client
	for i, p := range ps {
		c := p.dial(t, fmt.Sprintf("?user=obs%d", i))
		c.Join(room)
		obs = append(obs, c)
	}
	// The lists are decoded into just the users: the test process runs
	// with the race detector, and decoding 5,000 members into maps while
	// the storm runs would take CPU from the hubs.
	listed := func(p *proc) (users []string, complete bool) {
		resp, err := p.httpc.Get(p.url("/api/rooms/" + room + "/presence"))
		if err != nil {
			return nil, false
		}
		defer resp.Body.Close()
		var a struct {
			Members []struct {
				User string `json:"user"`
			} `json:"members"`
			Complete bool `json:"complete"`
		}
		if json.NewDecoder(resp.Body).Decode(&a) != nil {
			return nil, false
		}
		for _, m := range a.Members {
			users = append(users, m.User)
		}
		return users, a.Complete
	}
	hubtest.Eventually(t, "the observers listed everywhere", func() bool {
		for _, p := range ps {
			if u, ok := listed(p); !ok || len(u) != 3 {
				return false
			}
		}
		return true
	})
	// Each observer reads (and decodes) every presence frame it gets.
	type seen struct {
		changes []string
		frames  int
	}
	results := make([]chan seen, len(obs))
	stopObs := make(chan struct{})
	for i, c := range obs {
		for {
			if m, _ := c.TryNext(200 * time.Millisecond); m == nil {
				break
			}
		}
		results[i] = make(chan seen, 1)
		go func() {
			var s seen
			for {
				select {
				case <-stopObs:
					results[i] <- s
					return
				default:
				}
				m, alive := c.TryNext(100 * time.Millisecond)
				if !alive {
					results[i] <- s
					return
				}
				if ch := hubtest.PresenceChanges(m); ch != nil {
					s.frames++
					s.changes = append(s.changes, ch...)
				}
			}
		}()
	}

	urls := make([]string, len(ps))
	for i, p := range ps {
		urls[i] = p.wsURL("")
	}
	storm := exec.Command(stormBin, "-urls", strings.Join(urls, ","), "-room", room, "-n", strconv.Itoa(total), "-over", "2s", "-quiet", "1s")
	stdin, err := storm.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := storm.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	storm.Stderr = os.Stderr
	start := time.Now()
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = storm.Process.Kill()
		_ = storm.Wait()
	})
	// Every node lists exactly everyone: the time to the final exact list.
	want := []string{"obs0", "obs1", "obs2"}
	for i := 0; i < total; i++ {
		want = append(want, fmt.Sprintf("s%d", i))
	}
	slices.Sort(want)
	var exactAt time.Duration
	for deadline := start.Add(60 * time.Second); exactAt == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not all list the %d members within 60 s", len(want))
		}
		exact := true
		for _, p := range ps {
			u, ok := listed(p)
			if !ok || len(u) != len(want) {
				exact = false
				break
			}
			slices.Sort(u)
			if !slices.Equal(u, want) {
				t.Fatalf("%s lists %d members, not exactly the %d that joined", p.name, len(u), len(want))
			}
		}
		if exact {
			exactAt = time.Since(start)
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
	var report struct {
		Members    int     `json:"members"`
		DialMS     int64   `json:"dial_ms"`
		FramesMax  int     `json:"frames_max"`
		FramesMean float64 `json:"frames_mean"`
		JoinsMax   int     `json:"joins_max"`
		Bytes      int64   `json:"bytes"`
		Errors     int     `json:"errors"`
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || json.Unmarshal([]byte(line), &report) != nil {
		t.Fatalf("presencestorm report %q: %v", line, err)
	}
	close(stopObs)
	var rss []string
	for _, p := range ps {
		hwm := procStatusKiB(t, p.cmd.Process.Pid, "VmHWM")
		rss = append(rss, fmt.Sprintf("%s %.0f MiB", p.name, float64(hwm)/1024))
		// The node's memory bound: 1,667 connections and a 5,003-member
		// room cost ~40 MiB; 256 MiB leaves room for a loaded machine's
		// garbage, and fails on a leak per join or a frame copied per member.
		if hwm > 256<<10 {
			t.Errorf("%s peak RSS %d KiB, want at most 256 MiB", p.name, hwm)
		}
	}
	t.Logf("%d joins over %v (dialing) on 3 nodes: every node listed all %d members exactly %v after the start; frames per member max %d, mean %.1f; %.0f MiB of presence frames to the members; peak RSS %s",
		total, time.Duration(report.DialMS)*time.Millisecond, len(want), exactAt.Round(time.Millisecond), report.FramesMax, report.FramesMean,
		float64(report.Bytes)/(1<<20), strings.Join(rss, ", "))
	if report.Errors > 0 || report.Members != total {
		t.Fatalf("presencestorm: %d of %d connections failed", report.Errors, report.Members)
	}
	// One frame per 100 ms window at most while joins come in, and a few
	// for the stragglers' windows.
	dial := time.Duration(report.DialMS) * time.Millisecond
	if bound := int(dial/(100*time.Millisecond)) + 10; report.FramesMax > bound {
		t.Errorf("a member got %d presence frames, want at most %d (one per 100 ms window)", report.FramesMax, bound)
	}
	// The first storm members hear of nearly every later join (those
	// dialed at the same moment may come before them: the client dials
	// 200 at a time).
	if report.JoinsMax < total-250 {
		t.Errorf("the most joins a member was told of is %d, want at least %d (the first storm members hear of every later one)", report.JoinsMax, total-250)
	}
	// Each observer was told of every join, exactly once.
	var joins []string
	for i := 0; i < total; i++ {
		joins = append(joins, fmt.Sprintf("+s%d", i))
	}
	slices.Sort(joins)
	for i := range obs {
		s := <-results[i]
		got := slices.Clone(s.changes)
		slices.Sort(got)
		if !slices.Equal(got, joins) {
			extra, missing := diffSorted(got, joins)
			t.Errorf("observer %d was told %d changes in %d frames, want each of the %d joins once; more: %v; missing: %v",
				i, len(got), s.frames, total, extra[:min(len(extra), 20)], missing[:min(len(missing), 20)])
		}
		if bound := int(dial/(100*time.Millisecond)) + 10; s.frames > bound {
			t.Errorf("observer %d got %d presence frames, want at most %d", i, s.frames, bound)
		}
	}
}

// procStatusKiB reads a field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// diffSorted returns what a has more than b, and b more than a (both
// sorted, duplicates counted).
func diffSorted(a, b []string) (extra, missing []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			extra = append(extra, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			missing = append(missing, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return extra, missing
}
