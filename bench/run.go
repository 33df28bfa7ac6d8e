package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Run runs cfg's cases cfg.Runs times and returns their figures (medians
// over the runs, with each run's report inside). It blocks until the runs
// end, cfg.Timeout passes or ctx is cancelled; either way every process it
// started is stopped (by PID) before it returns. After an error the report
// holds what was measured so far.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.Runs <= 1 {
		return runOnce(ctx, &cfg)
	}
	var runs []*Report
	for i := range cfg.Runs {
		fmt.Fprintf(cfg.Stderr, "run %d of %d\n", i+1, cfg.Runs)
		rep, err := runOnce(ctx, &cfg)
		if rep != nil {
			runs = append(runs, rep)
		}
		if err != nil {
			return medianReport(runs), fmt.Errorf("run %d: %w", i+1, err)
		}
		if i+1 < cfg.Runs {
			_ = rep.WriteTable(cfg.Stderr)
		}
	}
	return medianReport(runs), nil
}

func runOnce(ctx context.Context, cfg *Config) (*Report, error) {
	r := &runner{cfg: cfg}
	defer r.cleanup()
	host, _ := os.Hostname()
	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Host: host, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Spawned: cfg.Spawn, LoadAvg: loadAvg(),
	}
	var err error
	has := func(k string) bool { return slices.Contains(cfg.Cases, k) }
	if has(CaseIdle) {
		// PERF.md measures idle connections twice: with the minimal upgrade
		// headers and with a desktop browser's (only the latter with
		// -browser-headers).
		if cfg.Spawn && !cfg.NoFloor {
			if rep.IdleFloor, err = r.idleFloor(ctx); err != nil {
				return rep.finish(), fmt.Errorf("idle, floor server: %w", err)
			}
		}
		if !cfg.BrowserHeaders {
			if rep.Idle, err = r.idle(ctx, true, false); err != nil {
				return rep.finish(), fmt.Errorf("idle: %w", err)
			}
		}
		if rep.IdleBrowser, err = r.idle(ctx, true, true); err != nil {
			return rep.finish(), fmt.Errorf("idle, browser headers: %w", err)
		}
	}
	if has(CaseConnect) {
		if rep.Connect, err = r.idle(ctx, false, cfg.BrowserHeaders); err != nil {
			return rep.finish(), fmt.Errorf("connect: %w", err)
		}
	}
	if has(CaseBurst) || has(CasePaced) || has(CaseSustained) {
		if err = r.fanoutCases(ctx, rep, has(CaseBurst), has(CasePaced), has(CaseSustained)); err != nil {
			return rep.finish(), err
		}
	}
	if has(CaseCompression) {
		if rep.Compression, err = r.compression(ctx); err != nil {
			return rep.finish(), fmt.Errorf("compression: %w", err)
		}
	}
	if has(CaseChat) {
		if rep.Chat, err = r.chatCase(ctx); err != nil {
			return rep.finish(), fmt.Errorf("chat: %w", err)
		}
	}
	if has(CaseCluster) {
		if rep.Cluster, err = r.cluster(ctx); err != nil {
			return rep.finish(), fmt.Errorf("cluster: %w", err)
		}
	}
	if err := r.historyCases(ctx, rep, has); err != nil {
		return rep.finish(), err
	}
	return rep.finish(), nil
}

// runner holds what a run started, so cleanup can stop it.
type runner struct {
	cfg    *Config
	hubs   []*hub
	groups []*group
	// deflate: every client offers permessage-deflate (the compression case).
	deflate bool
}

func (r *runner) cleanup() {
	for _, g := range r.groups {
		g.stop()
	}
	r.groups = nil
	for _, h := range r.hubs {
		h.stop()
	}
	r.hubs = nil
}

func (r *runner) progressf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Stderr, format+"\n", args...)
}

// single returns one hub to measure: spawned fresh, or the first given.
func (r *runner) single(ctx context.Context, name string) (*hub, func(), error) {
	if !r.cfg.Spawn {
		hs, err := targetHubs(r.cfg)
		if err != nil {
			return nil, nil, err
		}
		return hs[0], func() {}, nil
	}
	h, err := spawnHub(ctx, r.cfg, name, "")
	if err != nil {
		return nil, nil, err
	}
	r.hubs = append(r.hubs, h)
	return h, func() { h.stop(); r.hubs = slices.DeleteFunc(r.hubs, func(x *hub) bool { return x == h }) }, nil
}

// children starts enough client processes for n sockets.
func (r *runner) children(ctx context.Context, n int) (*group, func(), error) {
	return r.childrenAtLeast(ctx, n, 1)
}

// childrenAtLeast starts enough client processes for n sockets, and at
// least least of them.
func (r *runner) childrenAtLeast(ctx context.Context, n, least int) (*group, func(), error) {
	k := max(least, (n+r.cfg.PerChild-1)/r.cfg.PerChild)
	g, err := startChildren(ctx, r.cfg, k)
	if err != nil {
		return nil, nil, err
	}
	r.groups = append(r.groups, g)
	return g, func() { g.stop(); r.groups = slices.DeleteFunc(r.groups, func(x *group) bool { return x == g }) }, nil
}

// localFor is the source address for clients of wsURL.
func (r *runner) localFor(wsURL string) string {
	if r.cfg.LocalAddr != "" {
		if r.cfg.LocalAddr == "any" {
			return ""
		}
		return r.cfg.LocalAddr
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && ip.To4() != nil {
		return "127.0.0.2"
	}
	if u.Hostname() == "localhost" {
		return "127.0.0.2"
	}
	return ""
}

// open spreads n connections to wsURL over the group's children, joining
// rooms round robin, and waits until all are joined or failed. sample, when
// set, runs about once a second while opening.
func (r *runner) open(ctx context.Context, g *group, wsURL string, n int, rooms []string, what string, sample func()) (answer, error) {
	return r.openWith(ctx, g, wsURL, n, rooms, what, sample, r.cfg.BrowserHeaders)
}

// openWith is open with the upgrade headers chosen: a desktop browser's
// (browser) or the minimal set.
func (r *runner) openWith(ctx context.Context, g *group, wsURL string, n int, rooms []string, what string, sample func(), browser bool) (answer, error) {
	k := len(g.children)
	share := func(i int) int { return n/k + btoi(i < n%k) }
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var opened, failed int
				for _, c := range g.children {
					p := c.lastProgress()
					opened += p.Opened
					failed += p.Failed
				}
				if sample != nil {
					sample()
				}
				r.progressf("%s: opened %d/%d conns (%d failed)", what, opened, n, failed)
			}
		}
	}()
	local := r.localFor(wsURL)
	first := 0
	firsts := make([]int, k)
	for i := range k {
		firsts[i] = first
		first += share(i)
	}
	as, err := g.all(ctx, func(i int) command {
		return command{
			Op: opOpen, URL: wsURL, Local: local, Rooms: rooms, N: share(i), First: firsts[i],
			Concurrency: r.cfg.Concurrency, Rate: r.cfg.ConnectRate, Browser: browser, Deflate: r.deflate,
			History: len(rooms) > 0 && isHistoryRoom(rooms[0]),
		}
	})
	close(done)
	if err != nil {
		return answer{}, err
	}
	t := sum(as)
	r.progressf("%s: opened %d/%d conns (%d failed) in %.2fs", what, t.Opened, n, t.Failed, float64(t.ElapsedNS)/1e9)
	if t.Failed > 0 {
		r.progressf("%s: first failure: %s", what, t.FirstErr)
	}
	return t, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func roomNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// payload builds a message of size bytes carrying the send time.
func payload(seq, size int, now time.Time) []byte {
	head := fmt.Sprintf(`{"t":%d,"s":%d,"p":"`, now.UnixNano(), seq)
	pad := max(0, size-len(head)-2)
	return []byte(head + strings.Repeat("x", pad) + `"}`)
}

// clientCPU is the CPU time the group's client processes used so far.
func (r *runner) clientCPU(ctx context.Context, g *group) (float64, error) {
	as, err := g.all(ctx, func(int) command { return command{Op: opStatus} })
	if err != nil {
		return 0, err
	}
	return sum(as).CPUSeconds, nil
}

// loadAvg is the first three fields of /proc/loadavg, "" when unreadable.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
