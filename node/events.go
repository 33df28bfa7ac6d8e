package node

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubrt/hub/protocol"
)

// eventWants is the actors' Options.Wanted: an event is encoded and
// published on NATS only when a subscription matches its subject, and
// handed to onEvent only when a flow has it as its ws source or a backend
// takes it (HTTP message flows, webhooks).
//
// The interest is the embedded server's, asked for every event (a lookup
// in the account's subject cache under a read lock, tens of nanoseconds),
// so a backend that subscribes gets every event published after its
// subscription; subscriptions on other servers of the NATS cluster are in
// the same account's list (routes register them there). With an external
// NATS, or when the node's account is not found, every event is published.
func (n *Node) eventWants(event string) (bus, local bool) {
	// Keep in step with onEvent: what it hands events to.
	local = n.flows != nil && len(n.flows.outs[event]) > 0 ||
		n.backends != nil && (len(n.backends.messages[event]) > 0 || len(n.backends.hooks[event]) > 0)
	acc := n.eventAcc
	if acc == nil {
		return true, local
	}
	var subj string
	switch event {
	case protocol.EventMessage:
		subj = n.eventSubjects[0]
	case protocol.EventConnect:
		subj = n.eventSubjects[1]
	case protocol.EventDisconnect:
		subj = n.eventSubjects[2]
	default:
		subj = n.cfg.NATS.SubjectPrefix + ".events." + event
	}
	return acc.SubscriptionInterest(subj), local
}

// findEventAccount finds the embedded server's account of the node's own
// connection, where the interest in its events is kept.
func (n *Node) findEventAccount() {
	p := n.cfg.NATS.SubjectPrefix + ".events."
	n.eventSubjects = [3]string{p + protocol.EventMessage, p + protocol.EventConnect, p + protocol.EventDisconnect}
	if n.ns == nil || n.nc == nil {
		return
	}
	cid, err := n.nc.GetClientID()
	if err != nil {
		return
	}
	cz, err := n.ns.Connz(&server.ConnzOptions{CID: cid, Username: true})
	if err != nil || len(cz.Conns) != 1 {
		return
	}
	name := cz.Conns[0].Account
	if name == "" {
		name = server.DEFAULT_GLOBAL_ACCOUNT
	}
	acc, err := n.ns.LookupAccount(name)
	if err != nil {
		return
	}
	n.eventAcc = acc
}
