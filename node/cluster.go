package node

import (
	"context"
	"encoding/json"
	"net"
	"os"
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
	Reason string    `json:"reason,omitempty"` // node_down: "left" or "failed"; node_up: "returned" for a node reported failed that came back
	By     string    `json:"reported_by"`
}

// peers is what this node knows of the other members: their route
// listeners, whether a round trip through NATS has proven that they
// receive this node's traffic, and since when gossip has lost them.
//
// Gossip is not the truth about the NATS routes: a member declared dead by
// one node's failure detector (a lost UDP probe, a partition elsewhere, a
// node that was cut off gossiping stale news when it comes back) can be
// back milliseconds later while its NATS route never stopped carrying
// messages. So a member gossip loses keeps its route for Cluster.FailureGrace,
// and after that for as long as the embedded server still has a live route
// to it; only then is the route removed. node_down ("failed") is published
// for a member still gone after the grace, once, and never for one that
// came back.
type peers struct {
	mu     sync.Mutex
	byNode map[string]*peer
	wake   chan struct{} // size 1: the prover has work
}

type peer struct {
	route    string    // its route listener; "" with an external NATS
	alive    bool      // gossip lists it
	gen      uint64    // bumped on every join and leave; a watcher of an older generation stops
	proven   bool      // a ping through NATS came back since it (re)joined
	goneAt   time.Time // when gossip lost it
	reported bool      // this node published node_down "failed" for it
}

func (ps *peers) get(name string) *peer {
	if ps.byNode == nil {
		ps.byNode = map[string]*peer{}
	}
	p := ps.byNode[name]
	if p == nil {
		p = &peer{}
		ps.byNode[name] = p
	}
	return p
}

// routes lists the route listeners to configure, sorted. Locked.
func (ps *peers) routes() []string {
	out := make([]string, 0, len(ps.byNode))
	for _, p := range ps.byNode {
		if p.route != "" {
			out = append(out, p.route)
		}
	}
	sort.Strings(out)
	return out
}

// startCluster joins gossip. With the embedded NATS, each member's route
// address travels in its gossip metadata and every node adds a NATS route
// to each member it learns of, so the embedded servers form one NATS
// cluster made of the gossip members.
func (n *Node) startCluster() error {
	if !n.clustered() {
		return nil
	}
	if n.members == nil {
		meta := cluster.NodeMeta{}
		if n.ns != nil && n.ns.ClusterAddr() != nil {
			meta.Route = n.ns.ClusterAddr().String()
		}
		if err := n.startMembers(meta); err != nil {
			return err
		}
	} else if n.ns != nil {
		// Gossip ran first (clustered JetStream): add the routes of
		// members that joined while the embedded server started.
		n.peers.mu.Lock()
		n.applyRoutes("adding nats routes", "")
		n.peers.mu.Unlock()
	}
	for name, meta := range n.members.Nodes() {
		if name != n.Name() {
			n.peerJoined(name, meta)
		}
	}
	n.bg.Add(2)
	go n.prove()
	go n.announce()
	return nil
}

func (n *Node) startMembers(meta cluster.NodeMeta) error {
	cfg := n.cfg
	n.peers.wake = make(chan struct{}, 1)
	m, err := cluster.StartMembers(cluster.MembersOptions{
		Name:           cfg.Node.Name,
		Bind:           cfg.Cluster.Bind,
		Advertise:      cfg.Cluster.Advertise,
		Join:           cfg.Cluster.Join,
		RejoinInterval: cfg.Cluster.RejoinInterval,
		Meta:           meta,
		Keys:           n.secret.GossipKeys(),
		Logger:         n.log,
		OnJoin:         n.peerJoined,
		OnLeave:        n.peerLeft,
	})
	if err != nil {
		return err
	}
	n.members = m
	n.gossip.Store(m)
	n.membersChanged()
	return nil
}

// startGossip joins gossip before the embedded NATS starts (clustered
// JetStream, see jsClustered): it announces the route listener the server
// will open, and on a first boot waits for bootstrap_expect members.
func (n *Node) startGossip(ctx context.Context) error {
	addr := n.cfg.NATS.ClusterListen
	if addr == "" {
		addr = "0.0.0.0:6222"
	}
	addr, err := pickRoutePort(addr)
	if err != nil {
		return err
	}
	n.routeAddr = addr
	adv := addr
	if host, port, _ := net.SplitHostPort(addr); host == "0.0.0.0" || host == "::" || host == "" {
		// Peers dial the address gossip advertises for this node.
		adv = net.JoinHostPort(gossipHost(n.cfg.Cluster.Advertise), port)
	}
	if err := n.startMembers(cluster.NodeMeta{Route: adv}); err != nil {
		return err
	}
	return n.waitBootstrap(ctx)
}

// gossipHost is the host part of the advertise setting, or this host's
// name when it is empty.
func gossipHost(advertise string) string {
	if advertise != "" {
		if h, _, err := net.SplitHostPort(advertise); err == nil {
			return h
		}
		return advertise
	}
	h, err := os.Hostname()
	if err != nil {
		return "127.0.0.1"
	}
	return h
}

// routesWanted reports whether the embedded server takes NATS routes to
// the members: not with an external NATS nor a single history node.
func (n *Node) routesWanted() bool {
	return n.cfg.NATS.URL == "" && (!n.historyEnabled() || n.jsClustered())
}

// clustered reports whether the node runs gossip: it has peers to join, or
// a cluster secret (others may join it), or insecure clustering was asked
// for. A node with none of these is a single node and opens no cluster port.
func (n *Node) clustered() bool {
	c := &n.cfg.Cluster
	return c.Bind != "" && (len(c.Join) > 0 || n.secret != nil || c.Insecure)
}

// announce publishes node_up once every member gossip found has answered
// through NATS, so the other nodes' backends can hear it.
func (n *Node) announce() {
	defer n.bg.Done()
	for !n.peersProven() {
		select {
		case <-n.quit:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !n.draining.Load() {
		n.publishNodeEvent(nodeEvent{Event: EventNodeUp, Node: n.Name()})
	}
}

// prove pings each member not yet proven until it answers. The ping goes
// out on the node's own NATS connection, behind every subscription the
// node made, and its answer comes back over the same route, behind every
// subscription the peer's server had sent when the route formed. So an
// answer proves that a message published on that peer reaches this node's
// subscribers, and one published here reaches the peer's: readiness waits
// for it (see Ready).
func (n *Node) prove() {
	defer n.bg.Done()
	ps := &n.peers
	for {
		ps.mu.Lock()
		todo := map[string]uint64{}
		for name, p := range ps.byNode {
			if p.alive && !p.proven {
				todo[name] = p.gen
			}
		}
		ps.mu.Unlock()
		if len(todo) == 0 {
			select {
			case <-n.quit:
				return
			case <-ps.wake:
				continue
			}
		}
		var wg sync.WaitGroup
		for name, gen := range todo {
			wg.Go(func() {
				if _, err := n.nc.Request(n.bus.Subject("internal.node."+name+".ping"), nil, time.Second); err != nil {
					return
				}
				ps.mu.Lock()
				if p := ps.byNode[name]; p != nil && p.gen == gen {
					p.proven = true
				}
				ps.mu.Unlock()
			})
		}
		wg.Wait()
		select {
		case <-n.quit:
			return
		case <-ps.wake:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// peersProven reports whether every member gossip lists has answered a
// ping through NATS since it joined.
func (n *Node) peersProven() bool {
	if n.members == nil {
		return true
	}
	alive := n.members.Nodes()
	ps := &n.peers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for name := range alive {
		if name == n.Name() {
			continue
		}
		if p := ps.byNode[name]; p == nil || !p.proven {
			return false
		}
	}
	return true
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
	ps := &n.peers
	ps.mu.Lock()
	p := ps.get(name)
	p.alive, p.proven, p.goneAt = true, false, time.Time{}
	p.gen++
	returned := p.reported
	p.reported = false
	// One side of each pair dials: the node with the greater name. When
	// both dial, NATS settles the duplicate on each side separately, and
	// the two sides can each close the connection the other kept, leaving
	// no route for a reconnect interval (a second) right after the cluster
	// formed.
	if n.routesWanted() && meta.Route != "" && p.route != meta.Route && name < n.Name() {
		p.route = meta.Route
		if n.natsReady.Load() && n.ns != nil {
			n.applyRoutes("adding nats route", name)
			n.log.Info("nats route added", "peer", name, "route", meta.Route)
		}
	}
	ps.mu.Unlock()
	select {
	case ps.wake <- struct{}{}:
	default:
	}
	n.membersChanged()
	if returned && !n.draining.Load() {
		n.publishNodeEvent(nodeEvent{Event: EventNodeUp, Node: name, Reason: "returned"})
	}
}

// applyRoutes gives the embedded server the routes of n.peers. Locked.
func (n *Node) applyRoutes(doing, peer string) {
	if err := n.ns.SetRoutes(n.peers.routes()); err != nil {
		n.log.Warn(doing, "peer", peer, "err", err)
	}
}

func (n *Node) peerLeft(name string, left bool) {
	ps := &n.peers
	ps.mu.Lock()
	p := ps.get(name)
	p.alive, p.proven, p.goneAt = false, false, time.Now()
	p.gen++
	gen := p.gen
	n.membersChanged()
	if left {
		// It left on purpose and reported itself; it comes back (if it
		// does) as a new member with a route of its own.
		delete(ps.byNode, name)
		if n.natsReady.Load() && n.ns != nil && p.route != "" {
			n.applyRoutes("removing nats route", name)
			n.log.Info("nats route removed", "peer", name, "reason", "left")
		}
		ps.mu.Unlock()
		return
	}
	ps.mu.Unlock()
	n.bg.Go(func() { n.watchGone(name, gen) })
}

// watchGone follows a member gossip declared dead, until it comes back (a
// newer generation) or the grace passes: then node_down is published, once,
// and the route is removed as soon as the embedded server has no live
// route to it any more.
func (n *Node) watchGone(name string, gen uint64) {
	grace := n.cfg.Cluster.FailureGrace
	tick := min(max(grace/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	ps := &n.peers
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
		ps.mu.Lock()
		p := ps.byNode[name]
		if p == nil || p.gen != gen {
			ps.mu.Unlock()
			return
		}
		if time.Since(p.goneAt) < grace {
			ps.mu.Unlock()
			continue
		}
		report := !p.reported && n.reportsFailureOf(name)
		p.reported = p.reported || report
		done := true
		if n.natsReady.Load() && n.ns != nil && p.route != "" {
			if n.ns.HasRouteTo(name) {
				// NATS still talks to it: gossip alone lost it. The
				// route stays until NATS gives up on it too.
				done = false
			} else {
				p.route = ""
				n.applyRoutes("removing nats route", name)
				n.log.Info("nats route removed", "peer", name, "reason", "failed")
			}
		}
		ps.mu.Unlock()
		if report {
			n.publishNodeEvent(nodeEvent{Event: EventNodeDown, Node: name, Reason: "failed"})
		}
		if done {
			return
		}
	}
}

// reportsFailureOf reports whether this node is the one to publish the
// failure of name: the lowest-named member alive, so it is reported once,
// and only if name did not report leaving itself (its node_down "left"
// arrived on NATS while memberlist may have seen only a failure).
func (n *Node) reportsFailureOf(name string) bool {
	if n.draining.Load() {
		return false
	}
	if q := n.barrierQ.Load(); q != nil {
		if at, ok := q.left.Load(name); ok && time.Since(at.(time.Time)) < time.Minute+n.cfg.Cluster.FailureGrace {
			return false
		}
	}
	lowest := n.Name()
	for k := range n.members.Nodes() {
		if k < lowest {
			lowest = k
		}
	}
	return lowest == n.Name()
}

func (n *Node) publishNodeEvent(e nodeEvent) {
	if !n.natsReady.Load() {
		return
	}
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
