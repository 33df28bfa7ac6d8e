package bench

import (
	"context"
	"fmt"
	"slices"
)

// CompressionCase is the compression case of PERF.md: the idle and burst
// cases against a hub with compression on (every outbound message
// compressed: compression_min_bytes 0), every client offering
// permessage-deflate, judged against the same cases without it in the
// same run.
type CompressionCase struct {
	Idle  *IdleResult   `json:"idle,omitempty"`
	Burst *FanoutResult `json:"burst,omitempty"`
}

// compressionArgs turn compression on in a spawned hub, for every message.
var compressionArgs = []string{"-compression", "-compression-min-bytes", "0"}

func (r *runner) compression(ctx context.Context) (*CompressionCase, error) {
	res := &CompressionCase{}
	cfg := *r.cfg
	if cfg.Spawn {
		cfg.HubArgs = append(slices.Clone(cfg.HubArgs), compressionArgs...)
	}
	sub := &runner{cfg: &cfg, deflate: true}
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
