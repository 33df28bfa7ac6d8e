package node

import (
	"context"
	"time"
)

// Crash stops the node's embedded NATS server at once (no leadership hand
// over, no drain), as a kill -9 would, then closes what is left.
func (n *Node) Crash() {
	if n.ns != nil {
		n.ns.Shutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
}

// StreamLeader is the node leading a history namespace's stream, "" when none.
func (n *Node) StreamLeader(ns string) string {
	if n.hist == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return n.hist.Leader(ctx, ns)
}

// StreamReplicas is the replica count of a history namespace's stream.
func (n *Node) StreamReplicas(ns string) int {
	if n.hist == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return n.hist.Replicas(ctx, ns)
}

// CutNATS closes the node's NATS connection for good while it stays a
// gossip member: the rest of the cluster still expects its answers, and
// gets none (a node cut off from NATS, or killed and not yet noticed).
func (n *Node) CutNATS() { n.nc.Close() }

// NATSOut is the number of messages the node has published on its NATS
// connection.
func (n *Node) NATSOut() uint64 { return n.nc.Stats().OutMsgs }
