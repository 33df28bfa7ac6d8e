package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The history cases of PERF.md, each against hubs the tool spawns with a
// namespace "hist" (rooms hist.>) that keeps history in JetStream:
//
//   - history-burst: one node (R1), the burst in a room with history beside
//     the same burst in a room without, on the same hub;
//   - history-sustained: the sustained case with the room's members spread
//     over HistoryNodes clustered nodes (R3, bootstrap_expect), beside the
//     same run without history on the same nodes;
//   - recovery: every member of a history room drops at once, the
//     publisher stores RecoveryMessages, and every member reconnects with
//     since; each must get exactly the messages it missed.
//
// Messages to a history room are published as a backend should (README):
// a JetStream publish, acknowledged once stored ("as fast as accepted" is
// with up to 1,024 acknowledgements outstanding), or through the HTTP API,
// whose answer waits for the store.

// HistoryPair is one case run in a room with history and in one without,
// on the same hubs with the same clients' sizes.
type HistoryPair struct {
	Nodes   int           `json:"nodes"`
	Plain   *FanoutResult `json:"plain"`
	History *FanoutResult `json:"history"`
}

// RecoveryResult is the recovery storm.
type RecoveryResult struct {
	Members         int     `json:"members"`  // joined before the drop
	Messages        int     `json:"messages"` // stored while the members were away
	Dropped         int     `json:"dropped"`
	DropSeconds     float64 `json:"drop_seconds"`    // until the hub counted no connection
	PublishSeconds  float64 `json:"publish_seconds"` // the messages, first publish to last acknowledgement
	Reconnected     int     `json:"reconnected"`     // joins acknowledged after the drop
	ReconnectFailed int     `json:"reconnect_failed"`
	FirstErr        string  `json:"first_err,omitempty"`
	Recovered       int     `json:"recovered"` // acks with recovered:true
	NotRecovered    int     `json:"not_recovered"`
	Expected        uint64  `json:"expected"` // Dropped × Messages
	Received        uint64  `json:"received"`
	Replayed        uint64  `json:"replayed"` // of Received, before the ack
	Gaps            uint64  `json:"gaps"`
	Dups            uint64  `json:"dups"`
	Missing         uint64  `json:"missing"`
	Resyncs         int     `json:"resyncs"`
	ConnsClosed     int     `json:"conns_closed"` // by the hub after the reconnect

	StormSeconds     float64 `json:"storm_seconds"` // first reconnect to last ack
	ReconnectP50Ms   float64 `json:"reconnect_p50_ms"`
	ReconnectP99Ms   float64 `json:"reconnect_p99_ms"`
	ReconnectMaxMs   float64 `json:"reconnect_max_ms"`
	ReplayPerSec     float64 `json:"replay_per_sec"`
	CPUSeconds       float64 `json:"cpu_seconds"` // hub, over the storm
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	CPUPerReplayUs   float64 `json:"cpu_per_replay_us"`

	// What the storm cost the store, from the hub's metrics
	// (hub_history_reads_total, hub_history_recoveries_total by outcome)
	// and JetStream's API statistics of the account (a store read makes
	// two requests: the room's last message and an ordered consumer).
	Reads      float64 `json:"reads"`
	FromStore  float64 `json:"from_store"`
	FromCache  float64 `json:"from_cache"`
	Trimmed    float64 `json:"trimmed"`
	ReadErrors float64 `json:"read_errors"`
	JSRequests float64 `json:"js_requests"`
}

// historyCases runs the history cases that has selects.
func (r *runner) historyCases(ctx context.Context, rep *Report, has func(string) bool) error {
	var err error
	if has(CaseHistoryBurst) {
		rep.HistoryBurst, err = r.historyBurst(ctx)
		if err != nil {
			return fmt.Errorf("history-burst: %w", err)
		}
	}
	if has(CaseHistorySustained) {
		if rep.HistorySustained, err = r.historySustained(ctx); err != nil {
			return fmt.Errorf("history-sustained: %w", err)
		}
	}
	if has(CaseRecovery) {
		if rep.Recovery, err = r.recovery(ctx); err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
	}
	return nil
}

// historyConfig is the spawned hubs' config file: the namespace "hist"
// with replicas, and write queues deep enough to replay RecoveryMessages
// (a join replays at most half of write_queue_frames).
func historyConfig(cfg *Config, replicas int) string {
	frames := max(1024, 2*(cfg.RecoveryMessages+64))
	bytes := max(1<<20, frames*(cfg.Size+128))
	size := max(1000, cfg.RecoveryMessages+cfg.Messages+256)
	return fmt.Sprintf(`connector "ws" {
  type               = "websocket"
  write_queue_frames = %d
  write_queue_bytes  = %d
}

namespace "hist" {
  rooms = [%q]
  history {
    size     = %d
    storage  = %q
    replicas = %d
  }
}
`, frames, bytes, historyRoomPrefix+">", size, cfg.HistoryStorage, replicas)
}

// spawnHistoryHubs starts n hubs with historyConfig (R n); more than one
// form a cluster that waits for all n before starting JetStream
// (bootstrap_expect), as a first deployment does. Each gets a fresh data
// directory, removed by stop.
func (r *runner) spawnHistoryHubs(ctx context.Context, n int, name string) ([]*hub, func(), error) {
	dir, err := os.MkdirTemp("", "hub-bench-"+name+"-*")
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "hub.hcl")
	if err := os.WriteFile(path, []byte(historyConfig(r.cfg, n)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	var gossip []string
	if n > 1 {
		ports, err := freePorts("127.0.0.1", n)
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("free ports: %w", err)
		}
		for _, p := range ports {
			gossip = append(gossip, "127.0.0.1:"+strconv.Itoa(p))
		}
	}
	hubs := make([]*hub, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := *r.cfg
		c.HubArgs = append(slices.Clone(r.cfg.HubArgs), "-config", path, "-data-dir", filepath.Join(dir, fmt.Sprintf("node%d", i+1)))
		if n > 1 {
			others := slices.Delete(slices.Clone(gossip), i, i+1)
			c.HubArgs = append(c.HubArgs, "-gossip-bind", gossip[i], "-join", strings.Join(others, ","),
				"-bootstrap-expect", strconv.Itoa(n))
		}
		// Clustered nodes start together: each waits for the others.
		wg.Go(func() { hubs[i], errs[i] = spawnHub(ctx, &c, fmt.Sprintf("%s-%d", name, i+1), "") })
	}
	wg.Wait()
	var started []*hub
	for _, h := range hubs {
		if h != nil {
			started = append(started, h)
		}
	}
	r.hubs = append(r.hubs, started...)
	stop := func() {
		for _, h := range started {
			h.stop()
		}
		r.hubs = slices.DeleteFunc(r.hubs, func(x *hub) bool { return slices.Contains(started, x) })
		os.RemoveAll(dir)
	}
	if err := errors.Join(errs...); err != nil {
		stop()
		return nil, nil, err
	}
	if n > 1 {
		if err := waitMembers(ctx, hubs, n); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return hubs, stop, nil
}

// historyBurst is the burst on one node, in a room without history and
// then in one with, through each publish path.
func (r *runner) historyBurst(ctx context.Context) ([]*FanoutResult, error) {
	hubs, stop, err := r.spawnHistoryHubs(ctx, 1, "bench-hist")
	if err != nil {
		return nil, err
	}
	defer stop()
	var out []*FanoutResult
	for _, hist := range []bool{false, true} {
		room, what := "bench", "no-history"
		if hist {
			room, what = historyRoomPrefix+"bench", "history"
		}
		res, err := r.pairRun(ctx, hubs, room, func(g *group, members int) ([]*FanoutResult, error) {
			var rs []*FanoutResult
			for _, via := range r.cfg.Publish {
				v := via
				if hist && via == "nats" {
					v = "jetstream"
				}
				res, err := r.fanout(ctx, g, hubs, hubs[0], run{
					name: what + "-burst-" + via, via: v, room: room, members: members, messages: r.cfg.Messages,
				})
				if res != nil {
					rs = append(rs, res)
				}
				if err != nil {
					return rs, fmt.Errorf("%s via %s: %w", what, via, err)
				}
			}
			return rs, nil
		})
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// historySustained is the sustained case on HistoryNodes nodes, in a room
// without history and then in one with (R HistoryNodes).
func (r *runner) historySustained(ctx context.Context) (*HistoryPair, error) {
	hubs, stop, err := r.spawnHistoryHubs(ctx, r.cfg.HistoryNodes, fmt.Sprintf("bench-hist%d", r.cfg.HistoryNodes))
	if err != nil {
		return nil, err
	}
	defer stop()
	out := &HistoryPair{Nodes: len(hubs)}
	rate := r.cfg.SustainedRate
	n := max(1, int(rate*r.cfg.Duration.Seconds()+0.5))
	for _, hist := range []bool{false, true} {
		room, what, via := "bench", "no-history", "nats"
		if hist {
			room, what, via = historyRoomPrefix+"bench", "history", "jetstream"
		}
		res, err := r.pairRun(ctx, hubs, room, func(g *group, members int) ([]*FanoutResult, error) {
			res, err := r.fanout(ctx, g, hubs, hubs[0], run{
				name: fmt.Sprintf("%s-sustained-%d", what, len(hubs)), via: via, room: room, members: members, messages: n, rate: rate,
			})
			return []*FanoutResult{res}, err
		})
		if len(res) > 0 {
			if hist {
				out.History = res[0]
			} else {
				out.Plain = res[0]
			}
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", what, err)
		}
	}
	return out, nil
}

// pairRun opens cfg.Members members of room spread over hubs, runs f with
// them, and closes them.
func (r *runner) pairRun(ctx context.Context, hubs []*hub, room string, f func(g *group, members int) ([]*FanoutResult, error)) ([]*FanoutResult, error) {
	g, stopClients, err := r.children(ctx, r.cfg.Members)
	if err != nil {
		return nil, err
	}
	defer stopClients()
	joined := 0
	for i, h := range hubs {
		share := r.cfg.Members/len(hubs) + btoi(i < r.cfg.Members%len(hubs))
		t, err := r.open(ctx, g, h.ws, share, []string{room}, fmt.Sprintf("%s node %d", room, i+1), nil)
		if err != nil {
			return nil, err
		}
		joined += t.Opened
	}
	if joined == 0 {
		return nil, errors.New("no connection opened")
	}
	return f(g, joined)
}

// recovery is the storm: every member of a history room drops at once,
// RecoveryMessages are stored meanwhile, every member reconnects with
// since and must get exactly what it missed.
func (r *runner) recovery(ctx context.Context) (*RecoveryResult, error) {
	hubs, stop, err := r.spawnHistoryHubs(ctx, 1, "bench-recovery")
	if err != nil {
		return nil, err
	}
	defer stop()
	h := hubs[0]
	room := historyRoomPrefix + "storm"
	res := &RecoveryResult{Messages: r.cfg.RecoveryMessages}
	// Two client processes at least: one epoll loop reading 10 million
	// replayed frames alone falls behind the hub's write timeout.
	g, stopClients, err := r.childrenAtLeast(ctx, r.cfg.Members, 2)
	if err != nil {
		return nil, err
	}
	defer stopClients()
	t, err := r.open(ctx, g, h.ws, r.cfg.Members, []string{room}, "recovery", nil)
	if err != nil {
		return nil, err
	}
	if t.Opened == 0 {
		return nil, fmt.Errorf("no connection opened: %s", t.FirstErr)
	}
	res.Members = t.Opened
	p, err := r.newPublisher(h, "jetstream", room)
	if err != nil {
		return nil, err
	}
	defer p.close()
	// Every member has a position (a probe's offset) to recover from.
	if err := r.warmup(ctx, g, p, run{name: "recovery", room: room, members: t.Opened}); err != nil {
		return nil, err
	}
	if _, err := g.all(ctx, func(int) command { return command{Op: opReset} }); err != nil {
		return nil, err
	}

	// Drop every member at once, and wait for the hub to see it.
	dropStart := time.Now()
	as, err := g.all(ctx, func(int) command { return command{Op: opDrop} })
	if err != nil {
		return res, err
	}
	res.Dropped = sum(as).Dropped
	if err := waitMetric(ctx, h, "hub_connections", func(v float64) bool { return v == 0 }, 30*time.Second); err != nil {
		return res, fmt.Errorf("after the drop: %w", err)
	}
	res.DropSeconds = time.Since(dropStart).Seconds()
	r.progressf("recovery: %d members dropped; the hub closed them in %.2fs", res.Dropped, res.DropSeconds)

	pubStart := time.Now()
	for i := range res.Messages {
		if err := p.publish(ctx, payload(i, r.cfg.Size, time.Now())); err != nil {
			return res, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	if err := p.flush(); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	res.PublishSeconds = time.Since(pubStart).Seconds()
	r.progressf("recovery: stored %d messages in %.3fs", res.Messages, res.PublishSeconds)

	m0, err := recoveryMetrics(ctx, h, p.nc)
	if err != nil {
		return res, err
	}
	cc0, err := r.clientCPU(ctx, g)
	if err != nil {
		return res, err
	}
	cpu0, err := sumCPU(ctx, hubs)
	if err != nil {
		return res, err
	}
	res.Expected = uint64(res.Dropped) * uint64(res.Messages)
	rt, err := r.reconnect(ctx, g, h.ws, room)
	if err != nil {
		return res, err
	}
	res.Reconnected, res.ReconnectFailed, res.FirstErr = rt.Opened, rt.Failed, rt.FirstErr
	res.StormSeconds = float64(rt.ElapsedNS) / 1e9
	if rt.Failed > 0 {
		r.progressf("recovery: %d reconnects failed; the first: %s", rt.Failed, rt.FirstErr)
	}
	if rt.Join != nil {
		res.ReconnectP50Ms = float64(rt.Join.Quantile(0.50)) / 1e3
		res.ReconnectP99Ms = float64(rt.Join.Quantile(0.99)) / 1e3
		res.ReconnectMaxMs = float64(rt.Join.Max) / 1e3
	}
	if _, err := r.waitDeliveries(ctx, g, res.Expected, "recovery"); err != nil {
		return res, err
	}
	cpu1, err := sumCPU(ctx, hubs)
	if err != nil {
		return res, err
	}
	m1, err := recoveryMetrics(ctx, h, p.nc)
	if err != nil {
		return res, err
	}
	as, err = g.all(ctx, func(int) command { return command{Op: opReport, Expect: res.Messages} })
	if err != nil {
		return res, err
	}
	st := sum(as)
	res.Received, res.Replayed = st.Received, st.Replayed
	res.Recovered, res.NotRecovered = st.Recovered, st.NotRecovered
	res.Gaps, res.Dups, res.Missing, res.Resyncs = st.Gaps, st.Dups, st.Missing, st.Resyncs
	res.ConnsClosed = st.Closed
	res.CPUSeconds = cpu1 - cpu0
	res.ClientCPUSeconds = st.CPUSeconds - cc0
	if res.Replayed > 0 {
		res.CPUPerReplayUs = res.CPUSeconds / float64(res.Replayed) * 1e6
	}
	if res.StormSeconds > 0 {
		res.ReplayPerSec = float64(res.Replayed) / res.StormSeconds
	}
	res.Reads = m1.reads - m0.reads
	res.FromStore = m1.store - m0.store
	res.FromCache = m1.cache - m0.cache
	res.Trimmed = m1.trimmed - m0.trimmed
	res.ReadErrors = m1.errors - m0.errors
	res.JSRequests = m1.js - m0.js - 1 // less the statistics request itself
	r.progressf("recovery: %d/%d reconnected in %.2fs, %d recovered, %d not; %d/%d messages (%d replayed), %d gaps, %d duplicates, %d missing; reconnect to ack p50 %.0f / p99 %.0f ms",
		res.Reconnected, res.Dropped, res.StormSeconds, res.Recovered, res.NotRecovered, res.Received, res.Expected, res.Replayed,
		res.Gaps, res.Dups, res.Missing, res.ReconnectP50Ms, res.ReconnectP99Ms)
	return res, nil
}

// reconnect opens every dropped member of g's children again, each joining
// with since, and waits until all are acknowledged or failed. The answer's
// Join histogram is each member's reconnect (dial) to its ack.
func (r *runner) reconnect(ctx context.Context, g *group, wsURL, room string) (answer, error) {
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				var opened, failed int
				for _, c := range g.children {
					p := c.lastProgress()
					opened += p.Opened
					failed += p.Failed
				}
				r.progressf("recovery: reconnected %d (%d failed)", opened, failed)
			}
		}
	}()
	local := r.localFor(wsURL)
	as, err := g.all(ctx, func(int) command {
		// Every member reconnects at once, as after a cut: no bound on
		// the handshakes in flight but the members themselves.
		return command{Op: opOpen, URL: wsURL, Local: local, Rooms: []string{room}, Reconnect: true, History: true,
			Concurrency: max(r.cfg.Concurrency, r.cfg.Members), Rate: r.cfg.ConnectRate, Browser: r.cfg.BrowserHeaders}
	})
	close(done)
	if err != nil {
		return answer{}, err
	}
	return sum(as), nil
}

type recoveryCounts struct{ reads, store, cache, trimmed, errors, js float64 }

// recoveryMetrics reads the hub's recoveries by outcome and the account's
// JetStream API request count.
func recoveryMetrics(ctx context.Context, h *hub, nc *nats.Conn) (recoveryCounts, error) {
	const name = "hub_history_recoveries_total"
	key := func(o string) string { return name + `{outcome="` + o + `"}` }
	const reads = "hub_history_reads_total"
	m, err := h.scrape(ctx, reads, key("store"), key("cache"), key("trimmed"), key("error"))
	if err != nil {
		return recoveryCounts{}, err
	}
	c := recoveryCounts{reads: m[reads], store: m[key("store")], cache: m[key("cache")], trimmed: m[key("trimmed")], errors: m[key("error")]}
	js, err := jetstream.New(nc)
	if err != nil {
		return c, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := js.AccountInfo(rctx)
	if err != nil {
		return c, fmt.Errorf("JetStream account info: %w", err)
	}
	c.js = float64(info.API.Total)
	return c, nil
}

// waitMetric waits until ok holds for the hub's unlabelled metric name.
func waitMetric(ctx context.Context, h *hub, name string, ok func(float64) bool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		v, err := h.metric(ctx, name)
		if err == nil && ok(v) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is %v after %s", name, v, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storedPublisher publishes to a history room as a backend should: a
// JetStream publish whose acknowledgement says the message is stored.
// publish returns once the message is sent with at most 1,024
// acknowledgements outstanding; flush waits for them all and reports any
// message that was not stored.
type storedPublisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	errs    atomic.Int64
	mu      sync.Mutex
	lastErr error
}

func newStoredPublisher(url, subject string) (*storedPublisher, error) {
	nc, err := nats.Connect(url, nats.Name("hub bench"))
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", url, err)
	}
	sp := &storedPublisher{nc: nc, subject: subject}
	sp.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024), jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { sp.failed(err) }))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return sp, nil
}

func (sp *storedPublisher) failed(err error) {
	sp.errs.Add(1)
	sp.mu.Lock()
	sp.lastErr = err
	sp.mu.Unlock()
}

func (sp *storedPublisher) publish(b []byte) error {
	_, err := sp.js.PublishAsync(sp.subject, b, jetstream.WithStallWait(10*time.Second))
	return err
}

func (sp *storedPublisher) flush() error {
	select {
	case <-sp.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%d stored publishes not acknowledged within 30s", sp.js.PublishAsyncPending())
	}
	if n := sp.errs.Swap(0); n > 0 {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		return fmt.Errorf("%d publishes not stored: %v", n, sp.lastErr)
	}
	return nil
}

// historyFigures are the history cases' lines of the table.
func (rep *Report) historyFigures() []Figure {
	var fs []Figure
	add := func(f ...Figure) { fs = append(fs, f...) }
	countShown := func(b *FanoutResult) string {
		return fmt.Sprintf("%d / %d / %d (resync %d)", b.Gaps, b.Dups, b.Missing, b.Resyncs)
	}
	for _, b := range rep.HistoryBurst {
		if !strings.HasPrefix(b.Name, "history-") {
			continue
		}
		c, via := "history-burst", strings.TrimPrefix(b.Name, "history-burst-")
		var plain *FanoutResult
		for _, x := range rep.HistoryBurst {
			if x.Name == "no-history-burst-"+via {
				plain = x
			}
		}
		add(Figure{Case: c, Name: fmt.Sprintf("loss via %s (%d members × %d msgs of %d B, R1)", via, b.Members, b.Messages, b.Size),
			Value: float64(b.Lost), Shown: lossShown(b), Target: "0", Result: judge(b.Lost == 0 && b.ConnsClosed == 0)})
		add(Figure{Case: c, Name: fmt.Sprintf("via %s: gaps / duplicates / missing per member", via), Value: float64(b.Gaps + b.Dups + b.Missing),
			Shown: countShown(b), Target: "0", Result: judge(b.Gaps+b.Dups+b.Missing == 0 && b.Resyncs == 0)})
		dl := Figure{Case: c, Name: fmt.Sprintf("via %s: deliveries/s with history", via), Value: b.DeliveriesPerSec,
			Shown:  fmt.Sprintf("%s (%.2f s)", thousands(b.DeliveriesPerSec), b.Seconds),
			Target: "≥ 2M", Result: judge(b.DeliveriesPerSec >= 2e6)}
		cpu := Figure{Case: c, Name: fmt.Sprintf("via %s: hub CPU per delivery with history", via), Value: b.CPUPerDelivUs, Unit: "µs",
			Shown:  fmt.Sprintf("%.2f µs (hub %.2f s, clients %.2f s)", b.CPUPerDelivUs, b.CPUSeconds, b.ClientCPUSeconds),
			Target: "≤ 0.6 µs", Result: judge(b.CPUPerDelivUs <= 0.6)}
		if plain != nil {
			dl.Shown += fmt.Sprintf("; without: %s (%.2f×)", thousands(plain.DeliveriesPerSec), ratio(b.DeliveriesPerSec, plain.DeliveriesPerSec))
			cpu.Shown += fmt.Sprintf("; without: %.2f µs (%.2f×)", plain.CPUPerDelivUs, ratio(b.CPUPerDelivUs, plain.CPUPerDelivUs))
		}
		add(dl, cpu)
		lat := Figure{Case: c, Name: fmt.Sprintf("via %s: latency p50 / p99 with history", via), Value: b.P99Ms, Unit: "ms",
			Shown: fmt.Sprintf("%.0f / %.0f ms", b.P50Ms, b.P99Ms)}
		if plain != nil {
			lat.Shown += fmt.Sprintf("; without: %.0f / %.0f ms (loss %d)", plain.P50Ms, plain.P99Ms, plain.Lost)
		}
		add(lat)
	}
	if x := rep.HistorySustained; x != nil && x.History != nil {
		c, b := "history-sustained", x.History
		add(Figure{Case: c, Name: fmt.Sprintf("loss (%d members over %d nodes, R%d, %g msgs/s × %d)", b.Members, x.Nodes, x.Nodes, b.Rate, b.Messages),
			Value: float64(b.Lost), Shown: lossShown(b), Target: "0", Result: judge(b.Lost == 0 && b.ConnsClosed == 0)})
		add(Figure{Case: c, Name: "gaps / duplicates / missing per member", Value: float64(b.Gaps + b.Dups + b.Missing),
			Shown: countShown(b), Target: "0", Result: judge(b.Gaps+b.Dups+b.Missing == 0 && b.Resyncs == 0)})
		add(Figure{Case: c, Name: "latency p50 / p99 with history", Value: b.P99Ms, Unit: "ms",
			Shown:  fmt.Sprintf("%.0f / %.0f ms (p90 %.0f, max %.0f)", b.P50Ms, b.P99Ms, b.P90Ms, b.MaxMs),
			Target: "p99 ≤ 100 ms", Result: judge(b.P99Ms <= 100)})
		cpu := Figure{Case: c, Name: "hub CPU per delivery with history (all nodes)", Value: b.CPUPerDelivUs, Unit: "µs",
			Shown: fmt.Sprintf("%.2f µs (hub %.2f s, clients %.2f s)", b.CPUPerDelivUs, b.CPUSeconds, b.ClientCPUSeconds)}
		if p := x.Plain; p != nil {
			add(Figure{Case: c, Name: "latency p50 / p99, same nodes without history", Value: p.P99Ms, Unit: "ms",
				Shown: fmt.Sprintf("%.0f / %.0f ms (p90 %.0f, max %.0f; loss %d)", p.P50Ms, p.P99Ms, p.P90Ms, p.MaxMs, p.Lost)})
			cpu.Shown += fmt.Sprintf("; without: %.2f µs (%.2f×)", p.CPUPerDelivUs, ratio(b.CPUPerDelivUs, p.CPUPerDelivUs))
		}
		add(cpu)
	}
	if x := rep.Recovery; x != nil {
		c := "recovery"
		add(Figure{Case: c, Name: fmt.Sprintf("members recovered (of %d dropped, %d msgs missed each)", x.Dropped, x.Messages),
			Value:  float64(x.Recovered),
			Shown:  fmt.Sprintf("%d (recovered:false %d, reconnect failed %d, closed %d)", x.Recovered, x.NotRecovered, x.ReconnectFailed, x.ConnsClosed),
			Target: "all", Result: judge(x.Dropped > 0 && x.Recovered == x.Dropped && x.NotRecovered == 0 && x.ConnsClosed == 0)})
		if x.FirstErr != "" {
			fs[len(fs)-1].Shown += "; first failure: " + x.FirstErr
		}
		add(Figure{Case: c, Name: "messages: gaps / duplicates / missing", Value: float64(x.Gaps + x.Dups + x.Missing),
			Shown:  fmt.Sprintf("%d / %d / %d (%d/%d had, %d replayed; resync %d)", x.Gaps, x.Dups, x.Missing, x.Received, x.Expected, x.Replayed, x.Resyncs),
			Target: "0", Result: judge(x.Gaps+x.Dups+x.Missing == 0 && x.Received == x.Expected && x.Resyncs == 0)})
		add(Figure{Case: c, Name: "reconnect to recovered ack p50 / p99 / max", Value: x.ReconnectP99Ms, Unit: "ms",
			Shown:  fmt.Sprintf("%.0f / %.0f / %.0f ms (all in %.2f s)", x.ReconnectP50Ms, x.ReconnectP99Ms, x.ReconnectMaxMs, x.StormSeconds),
			Target: "p99 ≤ 1 s", Result: judge(x.ReconnectP99Ms > 0 && x.ReconnectP99Ms <= 1000)})
		add(Figure{Case: c, Name: "replay: deliveries/s, hub CPU per replayed message", Value: x.CPUPerReplayUs, Unit: "µs",
			Shown: fmt.Sprintf("%s/s, %.2f µs (hub %.2f s, clients %.2f s)", thousands(x.ReplayPerSec), x.CPUPerReplayUs, x.CPUSeconds, x.ClientCPUSeconds)})
		add(Figure{Case: c, Name: "store reads (joins answered from the store / the cache)", Value: x.Reads,
			Shown: fmt.Sprintf("%.0f (%.0f / %.0f; trimmed %.0f, errors %.0f); JetStream API requests %.0f", x.Reads, x.FromStore, x.FromCache, x.Trimmed, x.ReadErrors, x.JSRequests)})
	}
	return fs
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
