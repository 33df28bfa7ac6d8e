package bench

import (
	"context"
	"fmt"
	"slices"
)

// CompressionCase is the compression case of PERF.md: the idle and burst
// cases against a hub with compression on, every client offering
// permessage-deflate, judged against the same cases without it in the
// same run. The idle hub runs the default threshold (what an operator
// runs: a join's ack is too short to compress); the burst hub compresses
// every message (compression_min_bytes 0: the 128-byte payloads would
// otherwise go as they are).
type CompressionCase struct {
	Idle  *IdleResult   `json:"idle,omitempty"`
	Burst *FanoutResult `json:"burst,omitempty"`
}

// The spawned hubs' compression flags: the idle one's, the burst one's.
var (
	compressionIdleArgs  = []string{"-compression"}
	compressionBurstArgs = []string{"-compression", "-compression-min-bytes", "0"}
)

func (r *runner) compression(ctx context.Context) (*CompressionCase, error) {
	res := &CompressionCase{}
	with := func(args []string) *runner {
		cfg := *r.cfg
		if cfg.Spawn {
			cfg.HubArgs = append(slices.Clone(cfg.HubArgs), args...)
		}
		return &runner{cfg: &cfg, deflate: true}
	}
	sub := with(compressionIdleArgs)
	defer sub.cleanup()
	h, stopHub, err := sub.single(ctx, "bench-compression")
	if err != nil {
		return res, err
	}
	if res.Idle, err = sub.idleOn(ctx, h, "idle-deflate", true, false); err != nil {
		stopHub()
		return res, fmt.Errorf("idle: %w", err)
	}
	stopHub()

	sub = with(compressionBurstArgs)
	defer sub.cleanup()
	cfg := *sub.cfg
	h, stopHub, err = sub.single(ctx, "bench-compression")
	if err != nil {
		return res, err
	}
	defer stopHub()
	g, stopClients, err := sub.children(ctx, cfg.Members)
	if err != nil {
		return res, err
	}
	defer stopClients()
	t, err := sub.open(ctx, g, h.ws, cfg.Members, []string{"bench"}, "burst-deflate", nil)
	if err != nil {
		return res, err
	}
	if t.Opened == 0 {
		return res, fmt.Errorf("no connection opened: %s", t.FirstErr)
	}
	pub := h
	if !cfg.Spawn && len(cfg.NATSURLs) > 0 {
		pub.nats = cfg.NATSURLs[0]
	}
	res.Burst, err = sub.fanout(ctx, g, []*hub{h}, pub, run{
		name: "burst-deflate", via: "nats", room: "bench", members: t.Opened, messages: cfg.Messages,
	})
	if err != nil {
		return res, fmt.Errorf("burst: %w", err)
	}
	return res, nil
}
