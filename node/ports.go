package node

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// listener is one address a node binds, with what an operator changes to
// move it.
type listener struct {
	addr string // host:port; port 0 is never checked
	what string
	how  string
}

// listeners lists the addresses Start binds, in the order it binds them.
func (n *Node) listeners() []listener {
	cfg := n.cfg
	var ls []listener
	if cfg.NATS.URL == "" {
		ls = append(ls, listener{cfg.NATS.Listen, "embedded NATS client port",
			"set -nats-listen (HUB_NATS_LISTEN) to another address, or -nats-url for an external NATS"})
		if route := n.routeListen(); route != "" {
			ls = append(ls, listener{route, "embedded NATS route port",
				"set -nats-cluster-listen (HUB_NATS_CLUSTER_LISTEN)"})
		}
	}
	if n.clustered() {
		ls = append(ls, listener{cfg.Cluster.Bind, "gossip port", "set -gossip-bind (HUB_GOSSIP_BIND)"})
	}
	ls = append(ls, listener{cfg.WSAddr(), "WebSocket port", "set -port (HUB_PORT) or -host (HUB_HOST)"})
	if cfg.Metrics.Listen != "" {
		ls = append(ls, listener{cfg.Metrics.Listen, "metrics port", "set -metrics-listen (HUB_METRICS_LISTEN)"})
	}
	return ls
}

// routeListen is the embedded NATS server's route listener: the configured
// one, or 0.0.0.0:6222, when the node gossips; "" for a single node.
func (n *Node) routeListen() string {
	if !n.clustered() {
		return ""
	}
	if l := n.cfg.NATS.ClusterListen; l != "" {
		return l
	}
	return "0.0.0.0:6222"
}

// checkListeners fails at once, naming the port and the setting that moves
// it, when an address the node is about to bind is taken. Without it a
// taken NATS port is only noticed when the embedded server gives up on
// listening, seconds later, with a message that names neither.
func (n *Node) checkListeners() error {
	var errs []error
	for _, l := range n.listeners() {
		_, port, err := net.SplitHostPort(l.addr)
		if err != nil || port == "0" {
			continue // malformed addresses are reported by whoever binds them
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
				errs = append(errs, fmt.Errorf("%s %s is already in use: %s", l.what, l.addr, l.how))
			} else {
				errs = append(errs, fmt.Errorf("%s %s: %w (%s)", l.what, l.addr, err, l.how))
			}
			continue
		}
		ln.Close()
	}
	return errors.Join(errs...)
}
