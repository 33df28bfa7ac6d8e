// Package node assembles one hub node: the embedded or external NATS, the
// routing bus, the actors, the WebSocket gateway, the HTTP API, the flows
// and the cluster membership. cmd/hub runs it; tests start several in one
// process.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/cluster"
	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/gateway"
	"github.com/hubrt/hub/history"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/presence"
	"github.com/hubrt/hub/protocol"
)

// Version is the hub's version, set at build time by cmd/hub.
var Version = "dev"

// Node is one running hub.
type Node struct {
	cfg  *config.Config
	log  *slog.Logger
	auth *authenticator

	ns       *cluster.Embedded // embedded NATS; nil with an external one
	secret   *cluster.Secret   // nil without one
	natsUser *url.Userinfo     // the node's own sign-in on the embedded server; nil when it is open
	nc       *nats.Conn
	bus      *cluster.Bus
	sys      *actors.System
	gw       *gateway.Server

	namespaces *namespace.Set // options per group of rooms; never nil after Start

	hist      *history.Store // nil without history namespaces
	histA     *histAdapter
	histReady atomic.Bool
	natsReady atomic.Bool // n.ns and n.nc are set (gossip may start before NATS)
	routeAddr string      // the embedded server's route listener, chosen before gossip starts

	flows    *flows
	backends *backends
	queries  *queries
	presence *presence.Tracker
	// presenceLive is presence for the gossip callbacks, which can run
	// before Start has set presence.
	presenceLive atomic.Pointer[presence.Tracker]
	gossip       atomic.Pointer[cluster.Members] // members, for goroutines that start before it is set
	members      *cluster.Members                // nil without gossip
	peers        peers

	// The embedded server's account of the node's connection, nil with an
	// external NATS, and the subjects of the connection events (events.go).
	eventAcc      *server.Account
	eventSubjects [3]string

	bg       sync.WaitGroup // goroutines of the cluster membership; stopped by quit
	quit     chan struct{}
	quitOnce sync.Once

	metricsSrv *http.Server
	metricsLn  net.Listener

	barrierQ atomic.Pointer[queries]
	draining atomic.Bool
	streams  chan struct{} // closed when Shutdown starts: ends the /api/events streams
	started  time.Time
	stopOnce sync.Once
	stopErr  error
}

// New validates cfg and prepares a node; Start runs it.
func New(cfg *config.Config, logger *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	a, err := newAuthenticator(cfg)
	if err != nil {
		return nil, err
	}
	secret, err := LoadSecret(cfg)
	if err != nil {
		return nil, err
	}
	if cl := cfg.Cluster; len(cl.Join) > 0 && cl.Bind != "" && secret == nil && !cl.Insecure {
		return nil, errors.New("cluster: join is set but there is no cluster secret, so anyone who reaches the gossip port " +
			"could join and read every event; give every node the same secret (cluster { secret_file = ... }, " +
			"HUB_CLUSTER_SECRET or -cluster-secret-file; make one with: openssl rand -base64 32), " +
			"or set cluster { insecure = true } (HUB_CLUSTER_INSECURE=true) on a network you trust")
	}
	return &Node{cfg: cfg, log: logger.With("node", cfg.Node.Name), auth: a, secret: secret, quit: make(chan struct{}), streams: make(chan struct{})}, nil
}

// LoadSecret reads the cluster secret from cfg (secret, else secret_file);
// nil when none is configured.
func LoadSecret(cfg *config.Config) (*cluster.Secret, error) {
	text := cfg.Cluster.Secret
	if text == "" && cfg.Cluster.SecretFile != "" {
		b, err := os.ReadFile(cfg.Cluster.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("cluster secret_file: %w", err)
		}
		text = string(b)
		if strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("cluster secret_file %s holds no key", cfg.Cluster.SecretFile)
		}
	}
	return cluster.ParseSecret(text)
}

// Start brings the node up: NATS, bus, actors, flows, cluster, then the
// listener. It returns once clients can connect.
func (n *Node) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			n.teardown()
		}
	}()
	cfg := n.cfg
	n.started = time.Now()
	metrics.BuildInfo.WithLabelValues(Version, cfg.Node.Name).Set(1)
	if cfg.Node.Dev {
		n.log.Warn("DEVELOPMENT MODE: clients name themselves with ?user=; never run this in production")
	}
	if n.clustered() && n.secret == nil {
		n.log.Warn("INSECURE CLUSTER: no cluster secret; gossip is in clear text and anyone who reaches the gossip and route ports joins and reads every event; never run this on a network you do not trust")
	}

	if err := n.checkListeners(); err != nil {
		return err
	}
	nss, err := cfg.NamespaceSet()
	if err != nil {
		return err
	}
	if cfg.Node.Demo && len(cfg.Namespaces) == 0 {
		// The demo shows history and recovery at once: every room keeps
		// its last 100 messages, in memory.
		nss, _ = namespace.New([]namespace.Namespace{{
			Name: "demo", Rooms: []string{">"}, Anonymous: true,
			History: &namespace.History{Size: 100, MaxBytes: 64 << 20, Storage: namespace.StorageMemory},
		}})
		n.log.Info("demo: every room keeps its last 100 messages in memory (history); a namespace in the config replaces this")
	}
	n.namespaces = nss
	if n.jsClustered() {
		// Clustered JetStream must start with its routes: gossip first.
		if err := n.startGossip(ctx); err != nil {
			return err
		}
	}
	if err := n.startNATS(); err != nil {
		return err
	}
	n.natsReady.Store(true)
	if n.jsClustered() && n.ns != nil {
		// Members gossip reported while the embedded server started
		// (their callbacks run on gossip's goroutine, and may come after
		// the server read its routes) get their routes now: JetStream
		// needs them before the streams can be created, which
		// startHistory waits for.
		n.peers.mu.Lock()
		n.applyRoutes("adding nats routes", "")
		n.peers.mu.Unlock()
	}
	if err := n.startHistory(ctx); err != nil {
		return err
	}
	var hist actors.History
	var stored func(string) bool
	if n.histA != nil {
		hist, stored = n.histA, n.hist.Has
	}
	if err := n.startPresence(); err != nil {
		return err
	}
	if n.backends, err = startBackends(n); err != nil {
		return err
	}
	var authorizeJoin func(string, []byte, func(*protocol.Error)) bool
	if n.backends.decidesJoins() {
		authorizeJoin = n.backends.authorizeJoin
	}
	n.findEventAccount()
	n.sys = actors.New(actors.Options{
		AuthorizeJoin:     authorizeJoin,
		History:           hist,
		MaxReplay:         cfg.WebSocket.WriteQueueFrames / 2,
		Node:              cfg.Node.Name,
		Bus:               n,
		MaxRoomsPerConn:   cfg.WebSocket.MaxRoomsPerConnection,
		MessagesPerSecond: cfg.WebSocket.MaxMessagesPerSecond,
		MessageBurst:      cfg.WebSocket.MessageBurst,
		ClientPublish:     cfg.Node.ClientPublish,
		Namespaces:        nss,
		ClientDirect:      cfg.Node.ClientDirect,
		OnEvent:           n.onEvent,
		TokenGrace:        cfg.Auth.TokenGrace,
		MaxConnectionAge:  cfg.WebSocket.MaxConnectionAge,
		Refresh:           n.auth.refresh,
		Connected:         n.connected,
		Wanted:            n.eventWants,
		Presence:          n.presence,
	})
	var interest func(string) int
	if n.eventAcc != nil {
		interest = n.eventAcc.Interest
	}
	n.bus, err = cluster.NewBus(cluster.BusOptions{
		Conn: n.nc, Prefix: cfg.NATS.SubjectPrefix, Node: cfg.Node.Name, Logger: n.log,
		Stored: stored, Interest: interest,
		Barrier: func() {
			if q := n.barrierQ.Load(); q != nil {
				q.interestBarrier()
			}
		},
	}, n.sys)
	if err != nil {
		return err
	}
	if n.flows, err = startFlows(n); err != nil {
		return err
	}
	if n.queries, err = startQueries(n); err != nil {
		return err
	}
	n.barrierQ.Store(n.queries)
	if err := n.startCluster(); err != nil {
		return err
	}

	n.gw, err = gateway.New(gateway.Config{
		Addr:             cfg.WSAddr(),
		Path:             cfg.WebSocket.Path,
		PingInterval:     cfg.WebSocket.PingInterval,
		PongTimeout:      cfg.WebSocket.PongTimeout,
		WriteTimeout:     cfg.WebSocket.WriteTimeout,
		HandshakeTimeout: cfg.WebSocket.HandshakeTimeout,
		MaxFrameBytes:    cfg.WebSocket.MaxFrameBytes,
		WriteQueueBytes:  cfg.WebSocket.WriteQueueBytes,
		WriteQueueFrames: cfg.WebSocket.WriteQueueFrames,
		AllowedOrigins:   cfg.WebSocket.AllowedOrigins,
		MaxConns:         cfg.WebSocket.MaxConnections,
		MaxConnsPerIP:    cfg.WebSocket.MaxConnectionsPerIP,

		Compression:      cfg.WebSocket.Compression,
		CompressionLevel: cfg.WebSocket.CompressionLevel,
		// 0 compresses every message; the gateway reads 0 as its default.
		CompressionMinBytes: max(1, cfg.WebSocket.CompressionMinBytes),
		MaxInflatedBytes:    cfg.WebSocket.MaxInflatedBytes,
		Gateway:             cfg.WebSocket.Gateway,
	}, handler{n}, n.routes(), n.log)
	if err != nil {
		return err
	}
	if err := n.gw.Start(ctx); err != nil {
		return err
	}
	metrics.AddGateway(n.gw)
	if cfg.Metrics.Listen != "" {
		if err := n.startMetrics(); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) startNATS() error {
	cfg := n.cfg
	opts := []nats.Option{
		nats.Name("hub " + cfg.Node.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			metrics.NATSConnected.Set(0)
			if err != nil {
				metrics.NATSErrors.Inc()
				n.log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			metrics.NATSConnected.Set(1)
			n.log.Info("connected to nats", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			metrics.NATSConnected.Set(1)
			n.log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				metrics.NATSDropped.Inc()
				return
			}
			metrics.NATSErrors.Inc()
			n.log.Warn("nats error", "err", err)
		}),
	}
	natsURL := cfg.NATS.URL
	if natsURL == "" {
		clusterListen := n.routeListen()
		clients, err := n.natsClients()
		if err != nil {
			return err
		}
		eo := cluster.EmbeddedOptions{
			Name: cfg.Node.Name, Listen: cfg.NATS.Listen, ClusterListen: clusterListen,
			RoutePasswords: n.secret.RoutePasswords(), Clients: clients, Logger: n.log,
		}
		if n.historyEnabled() {
			eo.JetStream, eo.StoreDir = true, n.dataDir()
			if n.jsClustered() {
				// Routes configured from the start, to every member gossip
				// found; a first member names its own listener, which the
				// server ignores, so that it still starts clustered.
				eo.ClusterListen = n.routeAddr
				n.peers.mu.Lock()
				eo.Routes = n.peers.routes()
				n.peers.mu.Unlock()
				if len(eo.Routes) == 0 {
					eo.Routes = []string{n.routeAddr}
				}
			} else {
				// A single node: JetStream standalone, no routes.
				eo.ClusterListen = ""
				n.log.Info("history on a single node: JetStream runs standalone and the embedded NATS takes no routes (set cluster.join to cluster)")
			}
		}
		clusterListen = eo.ClusterListen
		ns, err := cluster.StartEmbedded(eo)
		if err != nil {
			return err
		}
		n.ns = ns
		opts = append(opts, nats.InProcessServer(ns.Server))
		if n.natsUser != nil {
			pw, _ := n.natsUser.Password()
			opts = append(opts, nats.UserInfo(n.natsUser.Username(), pw))
		}
		natsURL = ns.ClientURL()
		n.log.Info("embedded nats listening for publishers", "url", natsURL, "auth", n.natsUser != nil)
		if clusterListen != "" {
			n.log.Info("embedded nats listening for routes", "addr", ns.ClusterAddr().String())
		}
	} else {
		// An external NATS that is not up yet is waited for: the node
		// starts, is not ready, and connects when NATS comes.
		opts = append(opts, nats.RetryOnFailedConnect(true))
		if cfg.NATS.Credentials != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATS.Credentials))
		}
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		return fmt.Errorf("nats connect %s: %w", redactURL(natsURL), err)
	}
	n.nc = nc
	if !nc.IsConnected() {
		n.log.Warn("nats not reachable yet; retrying, not ready until connected", "url", redactURL(natsURL))
		return nil
	}
	metrics.NATSConnected.Set(1)
	if cfg.NATS.URL != "" {
		n.log.Info("connected to nats", "url", nc.ConnectedUrlRedacted())
	}
	return nil
}

func (n *Node) startMetrics() error {
	ln, err := net.Listen("tcp", n.cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	n.metricsLn = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	n.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = n.metricsSrv.Serve(ln) }()
	n.log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Node.Name }

// Addr is the address of the WebSocket and HTTP listener.
func (n *Node) Addr() net.Addr { return n.gw.Addr() }

// WSURL is the WebSocket URL of the node, with the path as configured.
func (n *Node) WSURL() string { return "ws://" + n.gw.Addr().String() + n.cfg.WebSocket.Path }

// HTTPURL is the base URL of the HTTP API.
func (n *Node) HTTPURL() string { return "http://" + n.gw.Addr().String() }

// NATSURL is the client URL of the embedded NATS, "" with an external one.
// When the server requires credentials the URL carries the node's own:
// hand it only to what may act as the hub (tests, tools on the same host).
func (n *Node) NATSURL() string {
	if n.ns == nil {
		return ""
	}
	if n.natsUser == nil {
		return n.ns.ClientURL()
	}
	u, err := url.Parse(n.ns.ClientURL())
	if err != nil {
		return n.ns.ClientURL()
	}
	u.User = n.natsUser
	return u.String()
}

// NATSRouteAddr is the embedded server's route listener, "" when none.
func (n *Node) NATSRouteAddr() string {
	if n.ns == nil || n.ns.ClusterAddr() == nil {
		return ""
	}
	return n.ns.ClusterAddr().String()
}

// NumConns is the number of open connections on this node.
func (n *Node) NumConns() int { return n.sys.NumConns() }

// Ready reports whether the node takes traffic: NATS connected, not
// draining, and joined to the cluster when one is configured.
func (n *Node) Ready() (bool, map[string]bool) {
	checks := map[string]bool{
		"nats":         n.nc != nil && n.nc.IsConnected(),
		"not_draining": !n.draining.Load(),
	}
	if n.historyEnabled() {
		// Every history stream answers (has a leader): stored publishes work.
		checks["jetstream"] = n.histReady.Load()
	}
	if n.members != nil {
		// Every member gossip lists has answered a ping through NATS
		// since it joined (see prove): a message published anywhere now
		// reaches this node's subscribers.
		proven := n.peersProven()
		checks["cluster"] = n.members.Joined()
		if n.ns != nil {
			checks["nats_routes"] = proven && n.ns.RoutedPeers() >= n.members.Count()-1
		} else {
			checks["cluster"] = checks["cluster"] && proven
		}
	}
	ok := true
	for _, v := range checks {
		ok = ok && v
	}
	return ok, checks
}

// Shutdown drains the node: it stops accepting, closes every client with
// 1001 so it reconnects elsewhere, publishes their disconnect events,
// leaves the cluster and stops NATS. It is bounded by ctx.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.draining.Store(true)
		close(n.streams)
		start := time.Now()
		conns := 0
		if n.sys != nil {
			conns = n.sys.NumConns()
		}
		n.log.Info("shutting down", "connections", conns)
		if n.hist != nil && n.ns != nil && n.jsClustered() {
			// Hand stream leadership to another replica first: stored
			// publishes then stall for a moment, not for an election.
			n.hist.StepDown(ctx, n.Name())
		}
		var errs []error
		if n.gw != nil {
			if err := n.gw.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if n.sys != nil {
			if err := n.sys.Wait(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if n.presence != nil {
			// The closed connections' leaves reach the other nodes.
			if err := n.presence.Flush(ctx); err != nil {
				errs = append(errs, fmt.Errorf("presence flush: %w", err))
			}
		}
		if n.backends != nil {
			// The disconnect events of the closed connections are queued:
			// post what is left within the shutdown's time.
			if err := n.backends.shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if n.nc != nil && !n.nc.IsConnected() {
			n.log.Warn("nats is down: events of the closed connections may be lost")
		} else if n.nc != nil {
			// FlushWithContext needs a deadline; Shutdown takes any ctx.
			fctx, cancel := ctx, context.CancelFunc(func() {})
			if _, ok := ctx.Deadline(); !ok {
				fctx, cancel = context.WithTimeout(ctx, 10*time.Second)
			}
			if err := n.nc.FlushWithContext(fctx); err != nil {
				errs = append(errs, fmt.Errorf("nats flush: %w", err))
			}
			cancel()
		}
		n.teardown()
		if n.gw != nil {
			metrics.RemoveGateway(n.gw)
		}
		n.stopErr = errors.Join(errs...)
		n.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String(), "err", n.stopErr)
	})
	return n.stopErr
}

// teardown releases everything Start acquired, in reverse order.
func (n *Node) teardown() {
	if n.members != nil {
		n.leaveCluster()
	}
	n.quitOnce.Do(func() { close(n.quit) })
	n.bg.Wait()
	n.stopHistory()
	if n.backends != nil {
		// Drained already on a graceful Shutdown; after a failed Start,
		// this stops the webhook lanes at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = n.backends.shutdown(ctx)
	}
	if n.metricsSrv != nil {
		_ = n.metricsSrv.Close()
	}
	if n.queries != nil {
		n.queries.close()
	}
	if n.flows != nil {
		n.flows.close()
	}
	if n.presence != nil {
		n.presence.Close()
	}
	if n.bus != nil {
		n.bus.Close()
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.sys != nil {
		n.sys.Shutdown()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}

// The node is the actors' Bus: it forwards to the NATS bus, which exists
// before the first connection opens.

func (n *Node) Interest(kind actors.Kind, name string, on bool, done func()) {
	n.bus.Interest(kind, name, on, done)
}

func (n *Node) Route(kind actors.Kind, name, from, exclude string, data []byte) {
	n.bus.Route(kind, name, from, exclude, data)
}

func (n *Node) Event(event string, payload []byte, reply string) { n.bus.Event(event, payload, reply) }

func (n *Node) ReplySubject(connID string) string { return n.bus.ReplySubject(connID) }

// onEvent hands an event to the flows and backends that take it; what it
// hands events to, eventWants must know (events.go).
func (n *Node) onEvent(event string, payload []byte, reply string) {
	if n.flows != nil {
		n.flows.onEvent(event, payload, reply)
	}
	if n.backends != nil {
		n.backends.onEvent(event, payload, reply)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// NATSRoutes is the number of other nodes' servers the embedded NATS server
// has a route to.
func (n *Node) NATSRoutes() int {
	if n.ns == nil {
		return 0
	}
	return n.ns.RoutedPeers()
}
