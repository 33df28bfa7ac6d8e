package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// IdleResult is the idle or connect case.
type IdleResult struct {
	Conns  int    `json:"conns"` // joined and acknowledged
	Failed int    `json:"failed"`
	Rooms  int    `json:"rooms"`
	Server string `json:"server,omitempty"` // "floor" for the floor server, "" for the hub
	// BrowserHeaders: the clients sent a desktop browser's upgrade headers.
	BrowserHeaders bool    `json:"browser_headers,omitempty"`
	Seconds        float64 `json:"seconds"` // first dial to last ack
	ConnsPerSec    float64 `json:"conns_per_sec"`
	JoinP50Ms      float64 `json:"join_p50_ms"` // dial start to ack
	JoinP99Ms      float64 `json:"join_p99_ms"`
	JoinMaxMs      float64 `json:"join_max_ms"`
	FirstErr       string  `json:"first_err,omitempty"`
	HubCPU         float64 `json:"hub_cpu_seconds"`    // hub CPU while opening
	ClientCPU      float64 `json:"client_cpu_seconds"` // client processes' CPU while opening

	// Idle only.
	RSSBeforeMiB     float64 `json:"rss_before_mib,omitempty"`
	RSSAfterMiB      float64 `json:"rss_after_mib,omitempty"`
	RSSPerConnKiB    float64 `json:"rss_per_conn_kib,omitempty"`
	GoroutinesBefore int     `json:"goroutines_before,omitempty"`
	GoroutinesAfter  int     `json:"goroutines_after,omitempty"`
	GoroutinesMax    int     `json:"goroutines_max,omitempty"`
	HubConnections   int     `json:"hub_connections,omitempty"` // hub_connections after opening
	// HeapInusePerConnB is the growth of the hub's in-use heap spans
	// (go_memstats_heap_inuse_bytes) per connection; HeapAllocMiB the
	// heap's allocated bytes (live and not yet collected) at the end.
	HeapInusePerConnB float64 `json:"heap_inuse_per_conn_bytes,omitempty"`
	HeapAllocMiB      float64 `json:"heap_alloc_mib,omitempty"`
	ClosedWhileIdle   int     `json:"closed_while_idle,omitempty"`
}

// idle opens cfg.Conns connections over cfg.Rooms rooms. With memory it
// also measures the hub's RSS and goroutines before and after.
func (r *runner) idle(ctx context.Context, memory, browser bool) (*IdleResult, error) {
	name := CaseConnect
	if memory {
		name = CaseIdle
	}
	if browser {
		name += "-browser"
	}
	h, stopHub, err := r.single(ctx, "bench-"+name)
	if err != nil {
		return nil, err
	}
	defer stopHub()
	return r.idleOn(ctx, h, name, memory, browser)
}

// idleFloor is the idle case (minimal headers) against the floor server.
func (r *runner) idleFloor(ctx context.Context) (*IdleResult, error) {
	f, err := spawnFloor(ctx, r.cfg)
	if err != nil {
		return nil, err
	}
	r.hubs = append(r.hubs, f)
	defer r.drop(f)
	res, err := r.idleOn(ctx, f, "idle-floor", true, false)
	if res != nil {
		res.Server = "floor"
	}
	return res, err
}

func (r *runner) idleOn(ctx context.Context, h *hub, name string, memory, browser bool) (*IdleResult, error) {
	// At least two client processes, one per core: with one, the accept
	// rate is the client's (15,000 sockets in one process measured ~3,500
	// conn/s against the floor and ~3,100 against the hub, the client
	// process near a whole core; with two, ~6,200 and ~5,300).
	g, stopClients, err := r.childrenAtLeast(ctx, r.cfg.Conns, 2)
	if err != nil {
		return nil, err
	}
	defer stopClients()

	res := &IdleResult{Rooms: r.cfg.Rooms, BrowserHeaders: browser}
	var mu sync.Mutex
	var heapBefore float64
	sample := func() {}
	if memory {
		time.Sleep(500 * time.Millisecond) // let the fresh hub finish starting up
		rss, err := h.rssBytes(ctx)
		if err != nil {
			return nil, err
		}
		var gr float64
		if h.metrics != "" {
			if gr, err = h.goroutines(ctx); err != nil {
				return nil, err
			}
		}
		res.RSSBeforeMiB = rss / (1 << 20)
		if m, err := h.scrape(ctx, "go_memstats_heap_inuse_bytes"); h.metrics != "" && err == nil {
			heapBefore = m["go_memstats_heap_inuse_bytes"]
		}
		res.GoroutinesBefore, res.GoroutinesMax = int(gr), int(gr)
		sample = func() {
			if h.metrics == "" {
				return
			}
			if gr, err := h.goroutines(ctx); err == nil {
				mu.Lock()
				res.GoroutinesMax = max(res.GoroutinesMax, int(gr))
				mu.Unlock()
			}
		}
	}
	c0, err := r.clientCPU(ctx, g)
	if err != nil {
		return nil, err
	}
	h0, err := h.cpuSeconds(ctx)
	if err != nil {
		return nil, err
	}
	t, err := r.openWith(ctx, g, h.ws, r.cfg.Conns, roomNames(name, r.cfg.Rooms), name, sample, browser)
	if err != nil {
		return nil, err
	}
	if h1, err := h.cpuSeconds(ctx); err == nil {
		res.HubCPU = h1 - h0
	}
	res.ClientCPU = t.CPUSeconds - c0
	res.Conns, res.Failed, res.FirstErr = t.Opened, t.Failed, t.FirstErr
	res.Seconds = float64(t.ElapsedNS) / 1e9
	if res.Seconds > 0 {
		res.ConnsPerSec = float64(t.Opened) / res.Seconds
	}
	res.JoinP50Ms = float64(t.Join.Quantile(0.5)) / 1e3
	res.JoinP99Ms = float64(t.Join.Quantile(0.99)) / 1e3
	res.JoinMaxMs = float64(t.Join.Max) / 1e3
	if t.Opened == 0 {
		return res, fmt.Errorf("no connection opened: %s", t.FirstErr)
	}
	if !memory {
		return res, nil
	}
	r.progressf("%s: settling %s before reading memory", name, r.cfg.Settle)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(r.cfg.Settle):
	}
	rss, err := h.rssBytes(ctx)
	if err != nil {
		return res, err
	}
	res.RSSAfterMiB = rss / (1 << 20)
	res.RSSPerConnKiB = (res.RSSAfterMiB - res.RSSBeforeMiB) * 1024 / float64(res.Conns)
	if h.metrics == "" {
		return res, nil // the floor server: no metrics
	}
	m, err := h.scrape(ctx, "go_goroutines", "hub_connections", "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes")
	if err != nil {
		return res, err
	}
	if res.Conns > 0 {
		res.HeapInusePerConnB = (m["go_memstats_heap_inuse_bytes"] - heapBefore) / float64(res.Conns)
	}
	res.HeapAllocMiB = m["go_memstats_heap_alloc_bytes"] / (1 << 20)
	res.GoroutinesAfter = int(m["go_goroutines"])
	res.GoroutinesMax = max(res.GoroutinesMax, res.GoroutinesAfter)
	res.HubConnections = int(m["hub_connections"])
	st, err := g.all(ctx, func(int) command { return command{Op: opStatus} })
	if err != nil {
		return res, err
	}
	res.ClosedWhileIdle = sum(st).Closed
	return res, nil
}
