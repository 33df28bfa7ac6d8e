package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configure the NATS server a node runs when no external
// NATS URL is configured.
type EmbeddedOptions struct {
	Name          string   // server name: the node's name
	Listen        string   // client listener for publishers, "127.0.0.1:4222"; port 0 picks one
	ClusterListen string   // route listener; "" = no NATS clustering
	Routes        []string // "host:port" of other nodes' route listeners
	// RoutePasswords, when set, close the route listener to servers that do
	// not present RouteUser with one of them, and the first one is what
	// this server presents on the routes it opens.
	RoutePasswords []string
	// Clients, when non-nil, are the only identities the client listener
	// accepts (the node's own connection included); nil leaves it open.
	Clients []ClientUser
	// JetStream turns on JetStream (history), storing under StoreDir. With
	// a ClusterListen it runs clustered, which needs Routes from the start.
	JetStream bool
	StoreDir  string
	Logger    *slog.Logger
}

// Embedded is a running in-process NATS server.
type Embedded struct {
	*server.Server
	routeUser *url.Userinfo // presented on the routes this server opens; nil without a secret

	mu          sync.Mutex
	opts        *server.Options
	sysPassword string // SystemUser's; "" without clustered JetStream
}

// StartEmbedded starts an in-process NATS server and waits until it takes
// connections.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	opts, err := o.serverOptions()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	if o.Logger != nil {
		ns.SetLoggerV2(&natsLogger{o.Logger.With("component", "nats")}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server did not start listening on %s", o.Listen)
	}
	e := &Embedded{Server: ns, opts: opts, routeUser: routeUser(o.RoutePasswords)}
	if o.JetStream && o.ClusterListen != "" {
		// Clustered JetStream: the system account's user, for the meta
		// group's state and peer removal (peers.go).
		if err := e.addSystemUser(); err != nil {
			ns.Shutdown()
			return nil, err
		}
	}
	return e, nil
}

func routeUser(passwords []string) *url.Userinfo {
	if len(passwords) == 0 {
		return nil
	}
	return url.UserPassword(RouteUser, passwords[0])
}

// serverOptions turns o into the server's options: the one place that
// decides how the embedded server is set up.
func (o EmbeddedOptions) serverOptions() (*server.Options, error) {
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: %w", o.Listen, err)
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
		// Subjects of rooms and users come and go with their members; the
		// server's default is fine for millions of subscriptions.
	}
	if o.JetStream {
		opts.JetStream = true
		opts.StoreDir = o.StoreDir
	}
	if o.ClusterListen != "" {
		ch, cp, err := splitHostPort(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("nats cluster listen %q: %w", o.ClusterListen, err)
		}
		opts.Cluster = server.ClusterOpts{Name: "hub", Host: ch, Port: cp, PoolSize: -1}
		if len(o.RoutePasswords) > 0 {
			// The custom check accepts every key's password; the user and
			// password here are what the server presents on routes it
			// learns of from other servers (implicit routes).
			opts.CustomRouterAuthentication = &RouteAuth{Passwords: o.RoutePasswords}
			opts.Cluster.Username, opts.Cluster.Password = RouteUser, o.RoutePasswords[0]
		}
		if opts.Routes, err = routeURLs(o.Routes, routeUser(o.RoutePasswords)); err != nil {
			return nil, err
		}
	}
	for _, u := range o.Clients {
		opts.Users = append(opts.Users, u.serverUser())
	}
	if o.JetStream && o.ClusterListen != "" && len(opts.Users) == 0 {
		// The system user (peers.go) will turn authentication on; a
		// no-auth user keeps the open port open. It must be there from
		// the start: the server cannot take one in a reload.
		opts.Users = []*server.User{{Username: openUser, Password: randomPassword()}}
		opts.NoAuthUser = openUser
	}
	return opts, nil
}

func routeURLs(routes []string, user *url.Userinfo) ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range routes {
		u, err := url.Parse("nats://" + r)
		if err != nil {
			return nil, fmt.Errorf("nats route %q: %w", r, err)
		}
		u.User = user
		out = append(out, u)
	}
	return out, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// natsLogger routes the embedded server's log lines to slog.
type natsLogger struct{ l *slog.Logger }

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, "Plaintext passwords detected") {
		return // the passwords are derived or configured in memory; nothing to hash
	}
	n.l.Warn(fmt.Sprintf(format, v...))
}
func (n *natsLogger) Fatalf(format string, v ...any) { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Errorf(format string, v ...any) { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Debugf(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Tracef(format string, v ...any) {}

// RoutedPeers is the number of distinct servers this one has a route to.
// NumRoutes counts connections: while two servers that dialled each other
// settle on one route it counts the pair twice, which could make a
// cluster look formed while a third server is still unreached.
func (e *Embedded) RoutedPeers() int {
	rz, err := e.Routez(nil)
	if err != nil {
		return 0
	}
	ids := make(map[string]bool, len(rz.Routes))
	for _, r := range rz.Routes {
		ids[r.RemoteID] = true
	}
	return len(ids)
}

// SetRoutes points the embedded server's routes at the given route
// listeners (host:port), keeping its other options.
func (e *Embedded) SetRoutes(routes []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	opts := e.opts.Clone()
	var err error
	if opts.Routes, err = routeURLs(routes, e.routeUser); err != nil {
		return err
	}
	if err := e.ReloadOptions(opts); err != nil {
		return err
	}
	e.opts = opts
	return nil
}

// HasRouteTo reports whether the server has a route to the server named
// name (a node's embedded server is named after the node).
func (e *Embedded) HasRouteTo(name string) bool {
	rz, err := e.Routez(nil)
	if err != nil {
		return false
	}
	for _, r := range rz.Routes {
		if r.RemoteName == name {
			return true
		}
	}
	return false
}
