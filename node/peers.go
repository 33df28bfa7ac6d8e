package node

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hubrt/hub/cluster"
	"github.com/hubrt/hub/history"
	"github.com/hubrt/hub/protocol"
)

// JetStream peers (history on the embedded NATS, clustered): what an
// operator needs to scale a cluster down for good. JetStream counts every
// server that ever joined its meta group in its quorums until the server
// is removed explicitly; a node that is gone for good (a StatefulSet
// scaled down, a machine retired) must be removed, or the next failure
// costs the quorum. Both calls are admin calls (admin token or API key):
//
//	GET    /api/history/cluster           the meta group, each peer's state, where each stream is kept
//	DELETE /api/history/peers/{node}      remove a peer that is gone; ?force=true removes a live one
//
// `hub peer list` and `hub peer remove` call them.

// peerLiveWithin: a peer JetStream heard from this recently is live, even
// when gossip has already lost it.
const peerLiveWithin = 5 * time.Second

// PeerState is a JetStream peer in GET /api/history/cluster.
type PeerState struct {
	Name    string `json:"name"`
	Leader  bool   `json:"leader,omitempty"` // of the meta group
	Current bool   `json:"current"`          // caught up and seen recently
	Offline bool   `json:"offline,omitempty"`
	SeenAgo string `json:"seen_ago"` // since the meta leader last heard from it
	Gossip  bool   `json:"gossip"`   // gossip lists it as a live member
	Lag     uint64 `json:"lag,omitempty"`
}

// HistoryCluster is the answer of GET /api/history/cluster.
type HistoryCluster struct {
	Node string `json:"node"` // the node that answered
	// JetStream is "clustered", "standalone" (history on a single node),
	// "external" (an external NATS) or "off" (no namespace has history).
	JetStream  string              `json:"jetstream"`
	MetaLeader string              `json:"meta_leader,omitempty"`
	Peers      []PeerState         `json:"peers,omitempty"`
	Streams    []history.Placement `json:"streams,omitempty"`
	Error      string              `json:"error,omitempty"` // the meta group could not be read
}

// jetStreamMode says how this node's history runs (HistoryCluster.JetStream).
func (n *Node) jetStreamMode() string {
	switch {
	case !n.historyEnabled():
		return "off"
	case n.cfg.NATS.URL != "":
		return "external"
	case n.ns != nil && n.jsClustered():
		return "clustered"
	}
	return "standalone"
}

// jetStreamPeers reads the meta group and marks each peer gossip lists.
func (n *Node) jetStreamPeers(ctx context.Context) (*cluster.JSMeta, []PeerState, error) {
	meta, err := n.ns.JetStreamMeta(ctx)
	if err != nil {
		return nil, nil, err
	}
	var alive map[string]cluster.NodeMeta
	if n.members != nil {
		alive = n.members.Nodes()
	}
	out := make([]PeerState, 0, len(meta.Peers))
	for _, p := range meta.Peers {
		_, g := alive[p.Name]
		out = append(out, PeerState{Name: p.Name, Leader: p.Leader, Current: p.Current, Offline: p.Offline,
			SeenAgo: p.Active.Round(time.Millisecond).String(), Gossip: g, Lag: p.Lag})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return meta, out, nil
}

// getHistoryCluster answers GET /api/history/cluster.
func (n *Node) getHistoryCluster(w http.ResponseWriter, r *http.Request) int {
	ctx, cancel := apiContext(r)
	defer cancel()
	hc := HistoryCluster{Node: n.Name(), JetStream: n.jetStreamMode()}
	if hc.JetStream == "clustered" {
		if meta, peers, err := n.jetStreamPeers(ctx); err != nil {
			hc.Error = err.Error()
		} else {
			hc.MetaLeader, hc.Peers = meta.Leader, peers
		}
	}
	if n.hist != nil {
		hc.Streams = n.hist.Placements(ctx)
	}
	writeJSON(w, http.StatusOK, hc)
	return http.StatusOK
}

// deletePeer answers DELETE /api/history/peers/{node}: it removes a node
// that is gone for good from the JetStream meta group. It refuses (409)
// where there is nothing this node can remove: history off, an external
// NATS, JetStream standalone, the node answering, and a node still live
// (gossip lists it, or JetStream heard from it within peerLiveWithin)
// unless force=true; 404 for a name that is no peer.
func (n *Node) deletePeer(w http.ResponseWriter, r *http.Request) int {
	name := r.PathValue("node")
	if !protocol.ValidName(name) {
		writeError(w, http.StatusBadRequest, "invalid node name")
		return http.StatusBadRequest
	}
	refuse := func(status int, msg string) int {
		writeError(w, status, msg)
		return status
	}
	switch n.jetStreamMode() {
	case "off":
		return refuse(http.StatusConflict, "history is off on this node (no namespace has a history block): there are no JetStream peers to remove")
	case "external":
		return refuse(http.StatusConflict, "this node uses an external NATS (nats.url): its JetStream peers are that cluster's servers; remove one there with `nats server raft peer-remove SERVER` (NATS CLI, system account)")
	case "standalone":
		return refuse(http.StatusConflict, "JetStream runs standalone on this node (history without cluster.join): it has no peers to remove")
	}
	if name == n.Name() {
		return refuse(http.StatusConflict, name+" is the node answering this call: stop it for good, then ask another node")
	}
	force := r.URL.Query().Get("force") == "true"
	ctx, cancel := apiContext(r)
	defer cancel()
	meta, peers, err := n.jetStreamPeers(ctx)
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "JetStream meta group unavailable: "+err.Error())
	}
	var peer *PeerState
	names := make([]string, 0, len(peers))
	for i := range peers {
		names = append(names, peers[i].Name)
		if peers[i].Name == name {
			peer = &peers[i]
		}
	}
	if peer == nil {
		return refuse(http.StatusNotFound, name+" is not a JetStream peer (peers: "+strings.Join(names, ", ")+")")
	}
	if !force {
		if peer.Gossip {
			return refuse(http.StatusConflict, name+" is still a live member of the cluster (gossip lists it): stop it for good first (scale down, wait until it is gone), or force the removal")
		}
		jp, _ := meta.Peer(name)
		// Active is 0 when the server that answered does not track the
		// peer (a follower, or a leader elected since): no sign of life.
		if jp.Leader || (!jp.Offline && jp.Active > 0 && jp.Active < peerLiveWithin) {
			return refuse(http.StatusConflict, name+" still answers JetStream (last heard "+peer.SeenAgo+" ago): wait until it is gone, or force the removal")
		}
	}
	if err := n.ns.RemovePeer(ctx, name); err != nil {
		if errors.Is(err, cluster.ErrNotPeer) {
			return refuse(http.StatusNotFound, name+" is not a JetStream peer")
		}
		return refuse(http.StatusServiceUnavailable, "removing "+name+": "+err.Error())
	}
	n.log.Info("jetstream peer removed", "peer", name, "force", force)
	writeJSON(w, http.StatusOK, map[string]any{"status": "removed", "peer": name})
	return http.StatusOK
}
