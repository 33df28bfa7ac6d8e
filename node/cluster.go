package node

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/hubrt/hub/cluster"
	"github.com/hubrt/hub/metrics"
)

// Node events, published on <prefix>.events.node_up and .node_down.
const (
	EventNodeUp   = "node_up"
	EventNodeDown = "node_down"
)

type nodeEvent struct {
	Event  string    `json:"event"`
	Node   string    `json:"node"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"` // node_down: "left" or "failed"
	By     string    `json:"reported_by"`
}

// routes tracks the embedded NATS routes learned from gossip.
type routeSet struct {
	mu     sync.Mutex
	byNode map[string]string // node name → its route listener
}

func (r *routeSet) list() []string {
	out := make([]string, 0, len(r.byNode))
	for _, a := range r.byNode {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// startCluster joins gossip. With the embedded NATS, each member's route
// address travels in its gossip metadata and every node adds a NATS route
// to each member it learns of, so the embedded servers form one NATS
// cluster made of exactly the gossip members.
func (n *Node) startCluster() error {
	cfg := n.cfg
	if cfg.Cluster.Bind == "" {
		return nil
	}
	meta := cluster.NodeMeta{}
	if n.ns != nil && n.ns.ClusterAddr() != nil {
		meta.Route = n.ns.ClusterAddr().String()
	}
	m, err := cluster.StartMembers(cluster.MembersOptions{
		Name:           cfg.Node.Name,
		Bind:           cfg.Cluster.Bind,
		Advertise:      cfg.Cluster.Advertise,
		Join:           cfg.Cluster.Join,
		RejoinInterval: cfg.Cluster.RejoinInterval,
		Meta:           meta,
		Logger:         n.log,
		OnJoin:         n.peerJoined,
		OnLeave:        n.peerLeft,
	})
	if err != nil {
		return err
	}
	n.members = m
	for name, meta := range m.Nodes() {
		if name != n.Name() {
			n.peerJoined(name, meta)
		}
	}
	go n.announce()
	return nil
}

// announce publishes node_up once the embedded NATS has its routes to the
// members gossip found (or after a few seconds), so the other nodes'
// backends can hear it.
func (n *Node) announce() {
	if n.ns != nil {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && n.ns.RoutedPeers() < n.members.Count()-1 && !n.draining.Load() {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The peers' subscriptions reach this node's server over the new routes;
	// a round trip to each proves they have arrived.
	if q := n.barrierQ.Load(); q != nil {
		deadline := time.Now().Add(5 * time.Second)
		for !q.interestBarrier() && time.Now().Before(deadline) && !n.draining.Load() {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !n.draining.Load() {
		n.publishNodeEvent(nodeEvent{Event: EventNodeUp, Node: n.Name()})
	}
}

// GossipAddr is the address other nodes join, "" without gossip.
func (n *Node) GossipAddr() string {
	if n.members == nil {
		return ""
	}
	return n.members.Addr()
}

// ClusterSize is the number of alive members, this node included.
func (n *Node) ClusterSize() int {
	if n.members == nil {
		return 1
	}
	return n.members.Count()
}

func (n *Node) peerJoined(name string, meta cluster.NodeMeta) {
	if n.ns == nil || meta.Route == "" {
		return
	}
	rs := &n.natsRoutes
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.byNode == nil {
		rs.byNode = map[string]string{}
	}
	if rs.byNode[name] == meta.Route {
		return
	}
	rs.byNode[name] = meta.Route
	if err := n.ns.SetRoutes(rs.list()); err != nil {
		n.log.Warn("adding nats route", "peer", name, "route", meta.Route, "err", err)
		return
	}
	n.log.Info("nats route added", "peer", name, "route", meta.Route)
}

func (n *Node) peerLeft(name string) {
	if n.ns != nil {
		// Forget the route of a node that is gone: it comes back (if it
		// does) with a route address of its own.
		rs := &n.natsRoutes
		rs.mu.Lock()
		if _, ok := rs.byNode[name]; ok {
			delete(rs.byNode, name)
			if err := n.ns.SetRoutes(rs.list()); err != nil {
				n.log.Warn("removing nats route", "peer", name, "err", err)
			}
		}
		rs.mu.Unlock()
	}
	// The lowest-named node still alive reports a failure, so it is
	// reported once; a node that leaves on purpose reports itself.
	alive := n.members.Nodes()
	names := make([]string, 0, len(alive))
	for k := range alive {
		names = append(names, k)
	}
	sort.Strings(names)
	// A node that left on purpose has reported itself on NATS before
	// leaving gossip (memberlist's leave callback does not say which it
	// was), so the survivor waits a moment and reports only a failure.
	if len(names) == 0 || names[0] != n.Name() || n.draining.Load() {
		return
	}
	go func() {
		time.Sleep(time.Second)
		if q := n.barrierQ.Load(); q != nil {
			if at, ok := q.left.Load(name); ok && time.Since(at.(time.Time)) < time.Minute {
				return
			}
		}
		if !n.draining.Load() {
			n.publishNodeEvent(nodeEvent{Event: EventNodeDown, Node: name, Reason: "failed"})
		}
	}()
}

func (n *Node) publishNodeEvent(e nodeEvent) {
	e.Time = time.Now().UTC()
	e.By = n.Name()
	b, _ := json.Marshal(e)
	if err := n.nc.Publish(n.bus.Subject("events."+e.Event), b); err != nil {
		n.log.Warn("publishing node event", "err", err)
		return
	}
	metrics.Events.WithLabelValues(e.Event).Inc()
}

// leaveCluster reports this node's departure and leaves gossip.
func (n *Node) leaveCluster() {
	if n.members == nil {
		return
	}
	n.publishNodeEvent(nodeEvent{Event: EventNodeDown, Node: n.Name(), Reason: "left"})
	_ = flushIfConnected(n.nc)
	// What this node published last (its clients' disconnect events, the
	// node_down) must leave through the NATS routes before its embedded
	// server stops: a round trip to each peer, behind them on the same
	// route, proves they did.
	if q := n.barrierQ.Load(); q != nil {
		q.interestBarrier()
	}
	n.members.Leave(2 * time.Second)
}
