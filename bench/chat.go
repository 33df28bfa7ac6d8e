package bench

import (
	"context"
	"fmt"
	"time"
)

// ChatResult is the chat case against one server: connections in rooms of
// RoomSize, each sending Rate room messages a second, every message
// delivered to the other members of its room.
type ChatResult struct {
	Server   string  `json:"server"` // "hub" or "floor"
	Conns    int     `json:"conns"`
	Rooms    int     `json:"rooms"`
	RoomSize int     `json:"room_size"`
	Rate     float64 `json:"rate"`    // messages per second per connection
	Seconds  float64 `json:"seconds"` // sending time

	Sent        uint64  `json:"sent"`
	SendErrs    uint64  `json:"send_errs"`
	Expected    uint64  `json:"expected"` // Sent × (RoomSize-1)
	Received    uint64  `json:"received"`
	Lost        int64   `json:"lost"`
	ConnsClosed int     `json:"conns_closed"`
	ErrFrames   int     `json:"err_frames"`
	LastErr     string  `json:"last_err,omitempty"`
	CPUSeconds  float64 `json:"cpu_seconds"`    // the server's, first send to last delivery
	CPUPerMsgUs float64 `json:"cpu_per_msg_us"` // per inbound message, its deliveries included
	ClientCPU   float64 `json:"client_cpu_seconds"`
	P50Ms       float64 `json:"p50_ms"`
	P90Ms       float64 `json:"p90_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	RSSMaxMiB   float64 `json:"rss_max_mib"`
}

// ChatCase is the chat case: the floor server's run (spawned runs only)
// and the hub's, one after the other in the same run, and the ratio of
// their CPU per inbound message.
type ChatCase struct {
	Floor *ChatResult `json:"floor,omitempty"`
	Hub   *ChatResult `json:"hub"`
	Ratio float64     `json:"ratio,omitempty"` // Hub.CPUPerMsgUs / Floor.CPUPerMsgUs
}

func (r *runner) chatCase(ctx context.Context) (*ChatCase, error) {
	res := &ChatCase{}
	if r.cfg.Spawn && !r.cfg.NoFloor {
		f, err := spawnFloor(ctx, r.cfg)
		if err != nil {
			return res, err
		}
		r.hubs = append(r.hubs, f)
		res.Floor, err = r.chat(ctx, f, "floor")
		r.drop(f)
		if err != nil {
			return res, fmt.Errorf("floor: %w", err)
		}
	}
	h, stopHub, err := r.single(ctx, "bench-chat")
	if err != nil {
		return res, err
	}
	defer stopHub()
	if res.Hub, err = r.chat(ctx, h, "hub"); err != nil {
		return res, err
	}
	if res.Floor != nil && res.Floor.CPUPerMsgUs > 0 {
		res.Ratio = res.Hub.CPUPerMsgUs / res.Floor.CPUPerMsgUs
	}
	return res, nil
}

// drop stops a spawned server and forgets it.
func (r *runner) drop(h *hub) {
	h.stop()
	for i, x := range r.hubs {
		if x == h {
			r.hubs = append(r.hubs[:i], r.hubs[i+1:]...)
			break
		}
	}
}

func (r *runner) chat(ctx context.Context, h *hub, server string) (*ChatResult, error) {
	cfg := r.cfg
	n, size := cfg.ChatConns, cfg.ChatRoomSize
	rooms := roomNames("chat", max(1, n/size))
	res := &ChatResult{Server: server, Conns: n, Rooms: len(rooms), RoomSize: size, Rate: cfg.ChatRate, Seconds: cfg.ChatDuration.Seconds()}
	// At least two client processes, so the clients' work spreads over both
	// cores as the server's does.
	g, stopClients, err := r.childrenAtLeast(ctx, n, 2)
	if err != nil {
		return nil, err
	}
	defer stopClients()
	what := "chat " + server
	t, err := r.open(ctx, g, h.ws, n, rooms, what, nil)
	if err != nil {
		return nil, err
	}
	if t.Failed > 0 || t.Opened != n {
		return res, fmt.Errorf("%s: %d of %d joined: %s", what, t.Opened, n, t.FirstErr)
	}
	if _, err := g.all(ctx, func(int) command { return command{Op: opReset} }); err != nil {
		return nil, err
	}
	cc0, err := r.clientCPU(ctx, g)
	if err != nil {
		return nil, err
	}
	cpu0, err := h.cpuSeconds(ctx)
	if err != nil {
		return nil, err
	}
	rss := startRSSSampler(ctx, []*hub{h})
	start := time.Now()
	as, err := g.all(ctx, func(int) command {
		return command{Op: opChat, Rooms: rooms, MsgRate: cfg.ChatRate, DurationMS: int(cfg.ChatDuration / time.Millisecond), Size: cfg.Size}
	})
	if err != nil {
		rss.stop()
		return res, err
	}
	for _, a := range as {
		res.Sent += a.Sent
		res.SendErrs += a.SendErrs
	}
	res.Expected = res.Sent * uint64(size-1)
	r.progressf("%s: sent %d messages in %.1fs (%d not sent)", what, res.Sent, time.Since(start).Seconds(), res.SendErrs)
	_, err = r.waitDeliveries(ctx, g, res.Expected, what)
	cpu1, cerr := h.cpuSeconds(ctx)
	res.RSSMaxMiB = rss.stop() / (1 << 20)
	if err != nil {
		return res, err
	}
	if cerr != nil {
		return res, cerr
	}
	reps, err := g.all(ctx, func(int) command { return command{Op: opReport} })
	if err != nil {
		return res, err
	}
	tot := sum(reps)
	res.Received = tot.Received
	res.Lost = int64(res.Expected) - int64(tot.Received)
	res.ConnsClosed, res.ErrFrames, res.LastErr = tot.Closed, tot.ErrFrames, tot.LastErr
	res.CPUSeconds = cpu1 - cpu0
	res.ClientCPU = tot.CPUSeconds - cc0
	if res.Sent > 0 {
		res.CPUPerMsgUs = res.CPUSeconds / float64(res.Sent) * 1e6
	}
	res.P50Ms = float64(tot.Latency.Quantile(0.50)) / 1e3
	res.P90Ms = float64(tot.Latency.Quantile(0.90)) / 1e3
	res.P99Ms = float64(tot.Latency.Quantile(0.99)) / 1e3
	res.MaxMs = float64(tot.Latency.Max) / 1e3
	r.progressf("%s: %d/%d delivered, CPU %.1f µs per inbound message, p50 %.1f ms, p99 %.1f ms",
		what, res.Received, res.Expected, res.CPUPerMsgUs, res.P50Ms, res.P99Ms)
	return res, nil
}
