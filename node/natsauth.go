package node

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/url"
	"strings"

	"github.com/hubrt/hub/cluster"
	"github.com/hubrt/hub/config"
)

// natsClients decides who may use the embedded server's client port and
// sets n.natsUser. The port is open (nil) only for a node that keeps it
// on loopback, has no cluster secret and no backend credentials: a single
// node on a laptop needs nothing. Otherwise the node's own connection signs
// in as cluster.HubUser (its password derived from the cluster secret, so
// `hub publish` on the same host can derive it too, or random without
// one), and backends with the configured users, with the
// permissions of backendPermissions.
func (n *Node) natsClients() ([]cluster.ClientUser, error) {
	cfg := n.cfg
	if n.secret == nil && len(cfg.NATS.Users) == 0 && loopback(cfg.NATS.Listen) {
		return nil, nil
	}
	pw := ""
	if n.secret != nil {
		pw = n.secret.HubPassword()
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		pw = base64.RawURLEncoding.EncodeToString(b)
	}
	n.natsUser = url.UserPassword(cluster.HubUser, pw)
	users := []cluster.ClientUser{{Name: cluster.HubUser, Password: pw}}
	pub, sub := backendPermissions(cfg)
	for _, u := range cfg.NATS.Users {
		name, pass, _ := strings.Cut(u, ":")
		if name == cluster.HubUser || name == cluster.RouteUser {
			continue // reserved; config check does not know them
		}
		users = append(users, cluster.ClientUser{Name: name, Password: pass, Publish: pub, Subscribe: sub, Replies: true})
	}
	if len(cfg.NATS.Users) == 0 {
		n.log.Info("embedded nats requires credentials and none are configured for backends; only this node connects (set nats users)",
			"listen", cfg.NATS.Listen)
	}
	return users, nil
}

// backendPermissions are what a backend may do on the embedded server:
// publish to clients (rooms, users, everyone, one connection) and to the
// subjects flows read, and subscribe to the hub's events and the subjects
// flows write. Answers to the events it receives are allowed separately
// (ClientUser.Replies).
func backendPermissions(cfg *config.Config) (pub, sub []string) {
	p := cfg.NATS.SubjectPrefix + "."
	pub = []string{p + "room.>", p + "user.>", p + "broadcast", p + "conn.>"}
	sub = []string{p + "events.>"}
	for _, f := range cfg.Flows {
		if f.From.Kind == config.KindNATS && f.From.Operation != "" {
			pub = append(pub, f.From.Operation)
		}
		if f.To.Kind == config.KindNATS && f.To.Target != "" {
			sub = append(sub, f.To.Target)
		}
	}
	return pub, sub
}

// loopback reports whether the host of hostPort is a loopback address.
func loopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
