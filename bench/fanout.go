package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"
)

// FanoutResult is one delivery run: burst (as fast as accepted) or paced.
type FanoutResult struct {
	Name     string  `json:"name"` // burst-nats, burst-http, paced, cluster-1, cluster-3
	Via      string  `json:"via"`  // nats or http
	Nodes    int     `json:"nodes"`
	Members  int     `json:"members"`
	Messages int     `json:"messages"`
	Size     int     `json:"size"`
	Rate     float64 `json:"rate,omitempty"` // paced: messages per second

	Expected         uint64  `json:"expected"`
	Received         uint64  `json:"received"`
	Lost             int64   `json:"lost"`
	MinPerConn       uint64  `json:"min_per_conn"`
	ConnsClosed      int     `json:"conns_closed"`
	ErrFrames        int     `json:"err_frames"`
	PublishSeconds   float64 `json:"publish_seconds"` // first to last publish
	Seconds          float64 `json:"seconds"`         // first publish to last delivery read
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	CPUSeconds       float64 `json:"cpu_seconds"` // hub CPU (all nodes) over the run
	CPUPerDelivUs    float64 `json:"cpu_per_delivery_us"`
	ClientCPUSeconds float64 `json:"client_cpu_seconds"` // client processes over the run
	P50Ms            float64 `json:"p50_ms"`
	P90Ms            float64 `json:"p90_ms"`
	P99Ms            float64 `json:"p99_ms"`
	MaxMs            float64 `json:"max_ms"`
	MeanMs           float64 `json:"mean_ms"`
	RSSMaxMiB        float64 `json:"rss_max_mib"` // largest hub RSS seen (the largest node's)
	LastErr          string  `json:"last_err,omitempty"`

	// History rooms: each member's messages counted by the publisher's
	// number and the offset (history_count.go).
	Gaps    uint64 `json:"gaps,omitempty"`
	Dups    uint64 `json:"dups,omitempty"`
	Missing uint64 `json:"missing,omitempty"`
	Resyncs int    `json:"resyncs,omitempty"`
}

// fanoutCases runs burst (each publish path) and paced against one hub
// whose one room has cfg.Members members.
func (r *runner) fanoutCases(ctx context.Context, rep *Report, burst, paced, sustained bool) error {
	if r.cfg.Spawn && !r.cfg.NoFloor {
		if err := r.floorFanout(ctx, rep, burst, paced, sustained); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	h, stopHub, err := r.single(ctx, "bench-fanout")
	if err != nil {
		return err
	}
	defer stopHub()
	g, stopClients, err := r.children(ctx, r.cfg.Members)
	if err != nil {
		return err
	}
	defer stopClients()
	t, err := r.open(ctx, g, h.ws, r.cfg.Members, []string{"bench"}, "burst", nil)
	if err != nil {
		return err
	}
	if t.Opened == 0 {
		return fmt.Errorf("no connection opened: %s", t.FirstErr)
	}
	pubHub := h
	if !r.cfg.Spawn && len(r.cfg.NATSURLs) > 0 {
		pubHub.nats = r.cfg.NATSURLs[0]
	}
	if burst {
		for _, via := range r.cfg.Publish {
			res, err := r.fanout(ctx, g, []*hub{h}, pubHub, run{
				name: "burst-" + via, via: via, room: "bench", members: t.Opened, messages: r.cfg.Messages,
			})
			if res != nil {
				rep.Burst = append(rep.Burst, res)
			}
			if err != nil {
				return fmt.Errorf("burst via %s: %w", via, err)
			}
		}
	}
	if paced {
		n := max(1, int(r.cfg.Rate*r.cfg.Duration.Seconds()+0.5))
		res, err := r.fanout(ctx, g, []*hub{h}, pubHub, run{
			name: "paced", via: "nats", room: "bench", members: t.Opened, messages: n, rate: r.cfg.Rate,
		})
		rep.Paced = res
		if err != nil {
			return fmt.Errorf("paced: %w", err)
		}
	}
	if sustained {
		rate := r.cfg.SustainedRate
		n := max(1, int(rate*r.cfg.Duration.Seconds()+0.5))
		res, err := r.fanout(ctx, g, []*hub{h}, pubHub, run{
			name: "sustained", via: "nats", room: "bench", members: t.Opened, messages: n, rate: rate,
		})
		rep.Sustained = res
		if err != nil {
			return fmt.Errorf("sustained: %w", err)
		}
	}
	return nil
}

// floorFanout runs the same deliveries against the floor server, in the
// same run as the hub's: its input is a member of the room sending room
// messages over its WebSocket (it has no NATS and no API), which it writes
// to every other member.
func (r *runner) floorFanout(ctx context.Context, rep *Report, burst, paced, sustained bool) error {
	f, err := spawnFloor(ctx, r.cfg)
	if err != nil {
		return err
	}
	r.hubs = append(r.hubs, f)
	defer r.drop(f)
	g, stopClients, err := r.children(ctx, r.cfg.Members)
	if err != nil {
		return err
	}
	defer stopClients()
	t, err := r.open(ctx, g, f.ws, r.cfg.Members, []string{"bench"}, "floor", nil)
	if err != nil {
		return err
	}
	if t.Opened == 0 {
		return fmt.Errorf("no connection opened: %s", t.FirstErr)
	}
	var runs []run
	if burst {
		runs = append(runs, run{name: "burst-floor", messages: r.cfg.Messages})
	}
	if paced {
		runs = append(runs, run{name: "paced-floor", messages: max(1, int(r.cfg.Rate*r.cfg.Duration.Seconds()+0.5)), rate: r.cfg.Rate})
	}
	if sustained {
		rate := r.cfg.SustainedRate
		runs = append(runs, run{name: "sustained-floor", messages: max(1, int(rate*r.cfg.Duration.Seconds()+0.5)), rate: rate})
	}
	for _, rn := range runs {
		rn.via, rn.room, rn.members = "ws", "bench", t.Opened
		res, err := r.fanout(ctx, g, []*hub{f}, f, rn)
		if res != nil {
			rep.FloorFanout = append(rep.FloorFanout, res)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", rn.name, err)
		}
	}
	return nil
}

type run struct {
	name, via, room string
	members         int     // joined members of room, over all nodes
	messages        int     // to publish
	rate            float64 // per second; 0 for as fast as accepted
}

// publisher sends one payload to a room.
type publisher struct {
	nc      *nats.Conn
	js      *storedPublisher // via "jetstream": acknowledged stored publishes (history.go)
	subject string
	url     string
	apiKey  string
	client  *http.Client
	ws      net.Conn // "ws": a member of the room sending room messages (the floor server's only input)
	room    string
}

func (r *runner) newPublisher(h *hub, via, room string) (*publisher, error) {
	p := &publisher{}
	switch via {
	case "nats":
		if h.nats == "" {
			return nil, errors.New("no NATS URL for " + h.name)
		}
		nc, err := nats.Connect(h.nats, nats.Name("hub bench"))
		if err != nil {
			return nil, fmt.Errorf("nats connect %s: %w", h.nats, err)
		}
		p.nc, p.subject = nc, r.cfg.SubjectPrefix+".room."+room
	case "jetstream":
		if h.nats == "" {
			return nil, errors.New("no NATS URL for " + h.name)
		}
		sp, err := newStoredPublisher(h.nats, r.cfg.SubjectPrefix+".room."+room)
		if err != nil {
			return nil, err
		}
		p.js, p.nc = sp, sp.nc
	case "http":
		p.url, p.apiKey = h.http+"/api/rooms/"+room+"/messages", r.cfg.APIKey
		p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	case "ws":
		c, err := dialMember(h.ws, room)
		if err != nil {
			return nil, err
		}
		p.ws, p.room = c, room
	}
	return p, nil
}

func (p *publisher) publish(ctx context.Context, b []byte) error {
	if p.js != nil {
		return p.js.publish(b)
	}
	if p.nc != nil {
		return p.nc.Publish(p.subject, b)
	}
	if p.ws != nil {
		msg := make([]byte, 0, len(b)+64)
		msg = append(append(append(append(msg, `{"type":"message","room":"`...), p.room...), `","data":`...), b...)
		return wsutil.WriteClientText(p.ws, append(msg, '}'))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.apiKey)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", p.url, resp.Status)
	}
	return nil
}

func (p *publisher) flush() error {
	if p.js != nil {
		return p.js.flush()
	}
	if p.nc != nil {
		return p.nc.FlushTimeout(10 * time.Second)
	}
	return nil
}

func (p *publisher) close() {
	if p.nc != nil {
		p.nc.Close()
	}
	if p.client != nil {
		p.client.CloseIdleConnections()
	}
	if p.ws != nil {
		p.ws.Close()
	}
}

// dialMember opens a WebSocket to wsURL and joins room, waiting for the ack.
func dialMember(wsURL, room string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, _, err := ws.Dial(ctx, wsURL)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientText(c, []byte(`{"type":"join_room","room":"`+room+`","id":1}`)); err != nil {
		c.Close()
		return nil, err
	}
	for {
		b, err := wsutil.ReadServerText(c)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("join %s: %w", room, err)
		}
		if bytes.Contains(b, []byte(`"type":"ack"`)) {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// fanout publishes rn.messages to rn.room through pub and measures the
// deliveries the group's clients read and the CPU the hubs spent.
func (r *runner) fanout(ctx context.Context, g *group, hubs []*hub, pub *hub, rn run) (*FanoutResult, error) {
	res := &FanoutResult{
		Name: rn.name, Via: rn.via, Nodes: len(hubs), Members: rn.members, Messages: rn.messages,
		Size: r.cfg.Size, Rate: rn.rate,
	}
	p, err := r.newPublisher(pub, rn.via, rn.room)
	if err != nil {
		return nil, err
	}
	defer p.close()

	// Warm up: one message must reach every member (subscriptions
	// propagated, connections set), then the counters start from zero.
	if err := r.warmup(ctx, g, p, rn); err != nil {
		return nil, err
	}
	if _, err := g.all(ctx, func(int) command { return command{Op: opReset} }); err != nil {
		return nil, err
	}

	cc0, err := r.clientCPU(ctx, g)
	if err != nil {
		return nil, err
	}
	cpu0, err := sumCPU(ctx, hubs)
	if err != nil {
		return nil, err
	}
	rss := startRSSSampler(ctx, hubs)
	res.Expected = uint64(rn.members) * uint64(rn.messages)
	start := time.Now()
	var interval time.Duration
	if rn.rate > 0 {
		interval = time.Duration(float64(time.Second) / rn.rate)
	}
	for i := range rn.messages {
		if interval > 0 {
			next := start.Add(time.Duration(i) * interval)
			select {
			case <-ctx.Done():
				rss.stop()
				return res, ctx.Err()
			case <-time.After(time.Until(next)):
			}
		}
		if err := p.publish(ctx, payload(i, r.cfg.Size, time.Now())); err != nil {
			rss.stop()
			return res, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	if err := p.flush(); err != nil {
		rss.stop()
		return res, fmt.Errorf("publish flush: %w", err)
	}
	res.PublishSeconds = time.Since(start).Seconds()
	r.progressf("%s: published %d messages of %d bytes via %s in %.3fs", rn.name, rn.messages, r.cfg.Size, rn.via, res.PublishSeconds)

	st, err := r.waitDeliveries(ctx, g, res.Expected, rn.name)
	cpu1, cerr := sumCPU(ctx, hubs)
	res.RSSMaxMiB = rss.stop() / (1 << 20)
	if err != nil {
		return res, err
	}
	if cerr != nil {
		return res, cerr
	}
	as, err := g.all(ctx, func(int) command { return command{Op: opReport, Expect: rn.messages} })
	if err != nil {
		return res, err
	}
	t := sum(as)
	_ = st
	res.Gaps, res.Dups, res.Missing, res.Resyncs = t.Gaps, t.Dups, t.Missing, t.Resyncs
	res.Received = t.Received
	res.Lost = int64(res.Expected) - int64(t.Received)
	res.MinPerConn = t.MinPerConn
	res.ConnsClosed = t.Closed
	res.ErrFrames = t.ErrFrames
	res.LastErr = t.LastErr
	if t.LastRecv > 0 {
		res.Seconds = float64(t.LastRecv-start.UnixNano()) / 1e9
	}
	if res.Seconds > 0 {
		res.DeliveriesPerSec = float64(t.Received) / res.Seconds
	}
	res.CPUSeconds = cpu1 - cpu0
	res.ClientCPUSeconds = t.CPUSeconds - cc0
	if t.Received > 0 {
		res.CPUPerDelivUs = res.CPUSeconds / float64(t.Received) * 1e6
	}
	res.P50Ms = float64(t.Latency.Quantile(0.50)) / 1e3
	res.P90Ms = float64(t.Latency.Quantile(0.90)) / 1e3
	res.P99Ms = float64(t.Latency.Quantile(0.99)) / 1e3
	res.MaxMs = float64(t.Latency.Max) / 1e3
	res.MeanMs = t.Latency.Mean() / 1e3
	r.progressf("%s: %d/%d delivered, %.0f/s, p50 %.1f ms, p99 %.1f ms, CPU %.2f µs/delivery",
		rn.name, res.Received, res.Expected, res.DeliveriesPerSec, res.P50Ms, res.P99Ms, res.CPUPerDelivUs)
	return res, nil
}

// warmup publishes probes until every member has read one (up to 20 s).
func (r *runner) warmup(ctx context.Context, g *group, p *publisher, rn run) error {
	if _, err := g.all(ctx, func(int) command { return command{Op: opReset} }); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := p.publish(ctx, payload(-1, r.cfg.Size, time.Now())); err != nil {
			return fmt.Errorf("warm-up publish: %w", err)
		}
		if err := p.flush(); err != nil {
			return fmt.Errorf("warm-up publish: %w", err)
		}
		for range 25 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			as, err := g.all(ctx, func(int) command { return command{Op: opReport} })
			if err != nil {
				return err
			}
			if t := sum(as); t.Conns > 0 && t.MinPerConn > 0 && t.Conns >= rn.members {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: not every member got a probe within 20s")
		}
	}
}

// waitDeliveries polls the children until expected deliveries arrived or
// none arrived for cfg.Quiet.
func (r *runner) waitDeliveries(ctx context.Context, g *group, expected uint64, what string) (answer, error) {
	var last uint64
	lastChange, lastPrint := time.Now(), time.Now()
	for {
		as, err := g.all(ctx, func(int) command { return command{Op: opStatus} })
		if err != nil {
			return answer{}, err
		}
		t := sum(as)
		if t.Received >= expected {
			return t, nil
		}
		if t.Received != last {
			last, lastChange = t.Received, time.Now()
		} else if time.Since(lastChange) > r.cfg.Quiet {
			r.progressf("%s: no delivery for %s; %d of %d missing", what, r.cfg.Quiet, expected-t.Received, expected)
			return t, nil
		}
		if time.Since(lastPrint) >= time.Second {
			lastPrint = time.Now()
			r.progressf("%s: %d/%d deliveries", what, t.Received, expected)
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func sumCPU(ctx context.Context, hubs []*hub) (float64, error) {
	var s float64
	for _, h := range hubs {
		v, err := h.cpuSeconds(ctx)
		if err != nil {
			return 0, fmt.Errorf("hub %s CPU: %w", h.name, err)
		}
		s += v
	}
	return s, nil
}

type rssSampler struct {
	mu   sync.Mutex
	max  float64
	quit chan struct{}
	done chan struct{}
}

// startRSSSampler reads every hub's RSS every 100 ms (500 ms through
// /metrics, which costs the hub CPU) and keeps the largest.
func startRSSSampler(ctx context.Context, hubs []*hub) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan struct{})}
	every := 100 * time.Millisecond
	for _, h := range hubs {
		if h.pid == 0 {
			every = 500 * time.Millisecond
		}
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for _, h := range hubs {
				if v, err := h.rssBytes(ctx); err == nil {
					s.mu.Lock()
					s.max = max(s.max, v)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the largest RSS seen.
func (s *rssSampler) stop() float64 {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}
