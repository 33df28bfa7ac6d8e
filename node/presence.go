package node

import (
	"context"
	"net/http"
	"time"

	"github.com/hubrt/hub/presence"
)

// startPresence starts the presence tracker (SPEC §11): before the actors,
// which tell it of joins and leaves of presence rooms.
func (n *Node) startPresence() error {
	t, err := presence.New(presence.Config{
		Node:   n.Name(),
		Prefix: n.cfg.NATS.SubjectPrefix,
		Conn:   n.nc,
		Policy: n.presencePolicy,
		Deliver: func(room string, frame []byte) {
			if n.sys != nil {
				n.sys.DeliverRoom(room, frame, "")
			}
		},
		Event: func(event string, payload []byte) {
			if n.bus != nil {
				n.bus.Event(event, payload, "")
			}
			n.onEvent(event, payload, "")
		},
		Nodes:  n.aliveNodes,
		Logger: n.log,
	})
	if err != nil {
		return err
	}
	n.presence = t
	n.presenceLive.Store(t)
	return nil
}

// aliveNodes lists the members gossip holds alive, this node included.
// Presence follows gossip, not the routes' failure grace: a node gossip
// declares dead has its members dropped at once (SPEC §11: leaves within
// 5 s), and fetched again if it comes back.
func (n *Node) aliveNodes() []string {
	m := n.gossip.Load()
	if m == nil {
		return []string{n.Name()}
	}
	return m.Names()
}

// membersChanged tells presence that gossip's members changed.
// Gossip may start before presence (history's start order), so it reads
// the tracker through presenceLive.
func (n *Node) membersChanged() {
	if t := n.presenceLive.Load(); t != nil {
		t.MembershipChanged()
	}
}

// presencePolicy says whether a room has presence: its namespace has a
// presence block.
func (n *Node) presencePolicy(room string) (presence.Room, bool) {
	ns, ok := n.namespaces.Lookup(room)
	if !ok || ns.Presence == nil {
		return presence.Room{}, false
	}
	leave := ns.Presence.LeaveDelay
	if leave == 0 {
		leave = -1 // at once: the tracker's 0 is its default
	}
	return presence.Room{JoinLeave: ns.Presence.JoinLeave, MaxList: ns.Presence.MaxList, LeaveDelay: leave}, true
}

func (n *Node) getPresence(w http.ResponseWriter, r *http.Request) int {
	room, ok := nameParam(w, r, "room")
	if !ok {
		return http.StatusBadRequest
	}
	if _, on := n.presencePolicy(room); !on {
		writeError(w, http.StatusNotFound, "presence is not enabled for this room")
		return http.StatusNotFound
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	s, err := n.presence.Snapshot(ctx, room)
	if err != nil {
		return n.queryFailed(w, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.AppendJSON(nil))
	return http.StatusOK
}
