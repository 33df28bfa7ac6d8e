package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ClusterResult compares the CPU per delivery of one room spread over
// several nodes with the same room on one node.
type ClusterResult struct {
	Nodes          int           `json:"nodes"`
	MembersPerNode int           `json:"members_per_node"`
	Single         *FanoutResult `json:"single"`  // every member on one node
	Cluster        *FanoutResult `json:"cluster"` // members spread, published to the first node
	Ratio          float64       `json:"ratio"`   // Cluster.CPUPerDelivUs / Single.CPUPerDelivUs
}

func (r *runner) cluster(ctx context.Context) (*ClusterResult, error) {
	nodes, per := r.cfg.ClusterNodes, r.cfg.ClusterConns
	if !r.cfg.Spawn {
		nodes = len(r.cfg.URLs)
	}
	total := nodes * per
	res := &ClusterResult{Nodes: nodes, MembersPerNode: per}

	// One node holding every member.
	single, err := r.clusterRun(ctx, 1, total, "cluster-1")
	if err != nil {
		return res, fmt.Errorf("one node: %w", err)
	}
	res.Single = single
	multi, err := r.clusterRun(ctx, nodes, per, fmt.Sprintf("cluster-%d", nodes))
	if err != nil {
		return res, fmt.Errorf("%d nodes: %w", nodes, err)
	}
	res.Cluster = multi
	if single.CPUPerDelivUs > 0 {
		res.Ratio = multi.CPUPerDelivUs / single.CPUPerDelivUs
	}
	return res, nil
}

// clusterRun opens per members on each of n nodes and publishes
// cfg.Messages through NATS to the first node. It measures the CPU of
// every node in play.
func (r *runner) clusterRun(ctx context.Context, n, per int, name string) (*FanoutResult, error) {
	var hubs []*hub
	if r.cfg.Spawn {
		for i := range n {
			join := ""
			if i > 0 {
				join = hubs[0].gossip
			}
			h, err := spawnHub(ctx, r.cfg, fmt.Sprintf("bench-c%d-%d", n, i+1), join)
			if err != nil {
				return nil, err
			}
			r.hubs = append(r.hubs, h)
			hubs = append(hubs, h)
		}
		defer func() {
			for _, h := range hubs {
				h.stop()
			}
			r.hubs = slices.DeleteFunc(r.hubs, func(x *hub) bool { return slices.Contains(hubs, x) })
		}()
	} else {
		all, err := targetHubs(r.cfg)
		if err != nil {
			return nil, err
		}
		hubs = all[:n]
	}
	if n > 1 {
		if err := waitMembers(ctx, hubs, n); err != nil {
			return nil, err
		}
	}
	g, stopClients, err := r.children(ctx, n*per)
	if err != nil {
		return nil, err
	}
	defer stopClients()
	joined := 0
	for i, h := range hubs {
		t, err := r.open(ctx, g, h.ws, per, []string{"cluster"}, fmt.Sprintf("%s node %d", name, i+1), nil)
		if err != nil {
			return nil, err
		}
		joined += t.Opened
	}
	pub := hubs[0]
	if !r.cfg.Spawn && len(r.cfg.NATSURLs) > 0 {
		pub.nats = r.cfg.NATSURLs[0]
	}
	// CPU is summed over every node, also with one node: a real
	// deployment pays for all of them.
	measured := hubs
	return r.fanout(ctx, g, measured, pub, run{
		name: name, via: "nats", room: "cluster", members: joined, messages: r.cfg.Messages,
	})
}

// waitMembers waits until every hub counts n cluster members.
func waitMembers(ctx context.Context, hubs []*hub, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, h := range hubs {
			v, err := h.metric(ctx, "hub_cluster_members")
			if err != nil || int(v) < n {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster did not form: not every node sees %d members after 30s", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
