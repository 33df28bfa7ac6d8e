package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hubrt/hub/namespace"
)

// Connector types as written in `connector "name" { type = ... }`, and the
// values of Endpoint.Kind.
const (
	KindWebSocket = "websocket"
	KindNATS      = "nats"
)

// Default connector names, used when the file declares no connector of that
// type. Flows may refer to these names without declaring the connector.
const (
	DefaultWebSocketName = "ws"
	DefaultNATSName      = "bus"
)

// Config is the whole configuration of one hub node, fully resolved: every
// field holds the value to use (defaults are already applied). Build one with
// Default, Parse, LoadFile or Load. A Config is plain data and is safe to read
// from many goroutines once nobody changes it.
type Config struct {
	Node      Node
	WebSocket WebSocket // the connector of type "websocket"
	NATS      NATS      // the connector of type "nats"
	Auth      Auth
	Cluster   Cluster
	Metrics   Metrics
	Flows     []Flow // in file order
	// Namespaces are the option groups of rooms (SPEC §9), in file order;
	// a room belongs to the first whose pattern matches (NamespaceSet).
	Namespaces []namespace.Namespace
	HTTP       []HTTPConnector // connectors of type "http", in file order
	Proxies    []Proxy         // at most one of each kind
	Source     string          // the config file read; "" when none

	// origins records where each value came from (file position, flag or
	// environment variable), keyed like "ws.port", so Validate can say
	// where a bad value was written. Nil for a Config built by hand.
	origins map[string]origin
}

// Node holds settings of the node as a whole (HCL block `node`).
type Node struct {
	Name            string        // node id in the cluster; default: the host name made token-safe ("hub" if unknown); letters, digits and "_-:@", at most 128
	Dev             bool          // development mode: the user comes from the ?user= query parameter; default false
	LogLevel        string        // debug, info, warn or error; default info
	LogFormat       string        // auto, text or json; default auto: text on a terminal, JSON otherwise (containers)
	Demo            bool          // serve the demo page at "/"; default false
	ClientPublish   bool          // clients may send messages to rooms; default true
	ClientDirect    bool          // clients may send messages to users; default true
	ShutdownTimeout time.Duration // how long a graceful shutdown may take; default 10s; >= 0
	DataDir         string        // the embedded JetStream's store (history); default "" = <temp dir>/hub-<name>; keep it stable across restarts
}

// WebSocket configures the WebSocket connector (`connector "ws" { type = "websocket" }`).
type WebSocket struct {
	Name                  string        // connector name flows refer to; default "ws"
	Host                  string        // listen host; default "0.0.0.0"
	Port                  int           // listen port; default 8080; 0..65535 (0 picks a free port)
	Path                  string        // upgrade path, may hold route params like "/ws/{tenant}"; default "/ws"; starts with "/"
	PingInterval          time.Duration // how often the server pings each client; default 30s; > 0
	PongTimeout           time.Duration // how long to wait for the pong before closing; default 10s; > 0
	HandshakeTimeout      time.Duration // limit on the HTTP upgrade; default 10s; 0 = none
	WriteTimeout          time.Duration // limit on writing one frame; default 10s; 0 = none
	AllowedOrigins        []string      // Origin values accepted at the upgrade ("*" = any, "https://*.example.com" patterns); default none = any origin
	MaxFrameBytes         int           // largest inbound frame in bytes; default 65536; > 0
	MaxRoomsPerConnection int           // rooms one connection may join; default 100; 0 = unlimited
	MaxMessagesPerSecond  float64       // sustained inbound frames per second per connection; default 50; 0 = unlimited
	MessageBurst          int           // inbound frames allowed in a burst above the rate; default 100; >= 0
	MaxConnections        int           // connections on this node; default 0 = unlimited
	MaxConnectionsPerIP   int           // connections from one client IP on this node; default 0 = unlimited
	MaxConnectionsPerUser int           // connections of one user across the cluster; default 0 = unlimited
	UserLimitPolicy       string        // what goes when a user passes MaxConnectionsPerUser: "refuse_new" (default: the newest closes with 4501) or "close_oldest"
	MaxConnectionAge      time.Duration // close each connection with 4003 after this long, less up to 10% at random; default 0 = never
	WriteQueueBytes       int           // per-connection outbound backlog in bytes before closing as slow consumer; default 1 MiB; > 0
	WriteQueueFrames      int           // per-connection outbound backlog in frames; default 1024; > 0
	Compression           bool          // accept permessage-deflate offers (no context takeover); default false
	CompressionLevel      int           // deflate level of outbound messages; default 1; 1..9
	CompressionMinBytes   int           // smallest outbound message compressed; default 256; >= 0
	MaxInflatedBytes      int           // largest inbound compressed message once inflated; default 0 = max_frame_bytes; >= 0
	Gateway               string        // "epoll" (Linux only) or "portable"; default "" = epoll on Linux, portable elsewhere
}

// NATS configures the NATS connector (`connector "bus" { type = "nats" }`).
type NATS struct {
	Name          string // connector name flows refer to; default "bus"
	URL           string // external server(s), comma-separated; default "" = run an embedded server
	SubjectPrefix string // first token(s) of every hub subject; default "hub"; no wildcards
	Listen        string // embedded server's client listener host:port; default "127.0.0.1:4222"
	ClusterListen string // embedded server's route listener host:port; default "" (the cluster package picks 0.0.0.0:6222 when clustering)
	Credentials   string // credentials file for the external server; default none
	// Backends' sign-in on the embedded server's client port. It turns
	// authentication on (which is on anyway with a cluster secret or a
	// listener beyond loopback). They may publish to the hub's room, user,
	// broadcast and conn subjects and the subjects flows read, answer the
	// events they get, and subscribe to the hub's events and the subjects
	// flows write; nothing else.
	Users []string // "name:password" pairs for backends; default none; secret
}

// Auth configures client authentication (HCL block `auth`).
type Auth struct {
	JWTSecret        string        // HS256 shared secret; secret
	JWTPublicKey     string        // PEM public key for RS256/ES256
	JWTPublicKeyFile string        // file holding the PEM public key
	JWTLeeway        time.Duration // clock skew tolerated on exp/nbf; default 5s; >= 0
	TokenGrace       time.Duration // how long a connection outlives its token's exp without a refresh; default 10s; > 0
	APIKey           string        // bearer key for the HTTP API; default none = open; secret
	AdminToken       string        // bearer token for the admin page (/admin) and the whole HTTP API besides APIKey; default none; secret
}

// Cluster configures gossip membership (HCL block `cluster`).
type Cluster struct {
	Bind           string        // memberlist bind host:port; default "0.0.0.0:7946"
	Advertise      string        // address announced to peers, host or host:port; default "" = automatic
	Join           []string      // peers to join: host:port, host, or a DNS name resolving to many; default none
	RejoinInterval time.Duration // how often to retry joining while alone; default 10s; > 0
	// BootstrapExpect, with history on the embedded NATS, is how many
	// members (this one included) gossip must list before the embedded
	// JetStream starts for the first time (an empty data directory); default
	// 0 = do not wait; >= 0.
	BootstrapExpect int
	FailureGrace    time.Duration // how long a member gossip declared dead keeps its NATS route and goes unreported (node_down); default 30s; > 0
	Secret          string        // cluster secret: keys separated by commas or newlines, the first one in use, each at least 16 characters; default none; secret
	SecretFile      string        // file holding the cluster secret, one key a line ("#" comments); default none
	Insecure        bool          // allow a cluster without a secret (gossip in clear, routes and client port open); default false
}

// Metrics configures the Prometheus endpoint (HCL block `metrics`).
type Metrics struct {
	Listen string // separate host:port for /metrics; default "" = served on the WebSocket port at /metrics
}

// Flow maps events from one connector onto an operation of the other
// (HCL block `flow "name" { from {...} to {...} }`).
type Flow struct {
	Name string
	From Endpoint
	To   Endpoint
	Pos  string // "file:line" of the flow block, for messages
}

// Endpoint is one side of a flow.
//
// For an http target (a connector of type "http"), Target is the path the
// event is POSTed to and Operation is "" or "post".
//
// For a websocket source, Operation is connect, message or disconnect. For a
// websocket target, Operation is broadcast, send_to_room, send_to_user or
// send_to_connection; the last three need Target. For a nats source,
// Operation is the subject to subscribe (wildcards allowed). For a nats
// target, Target is the subject to publish to and Operation is "" or
// "publish". Flow subjects are used as written, without SubjectPrefix.
type Endpoint struct {
	Connector  string   // connector name as written
	Kind       string   // KindWebSocket, KindNATS or KindHTTP, resolved from the connector's type
	Operation  string   // as written
	Target     string   // as written, e.g. "input.room" or "chat.messages"
	TargetPath []string // for "input.a.b", ["a", "b"]: the field of the incoming JSON holding the id; nil otherwise
}

// Values of WebSocket.UserLimitPolicy.
const (
	PolicyRefuseNew   = "refuse_new"
	PolicyCloseOldest = "close_oldest"
)

// Websocket flow operations.
const (
	OpConnect          = "connect"
	OpMessage          = "message"
	OpDisconnect       = "disconnect"
	OpBroadcast        = "broadcast"
	OpSendToRoom       = "send_to_room"
	OpSendToUser       = "send_to_user"
	OpSendToConnection = "send_to_connection"
	OpPublish          = "publish" // nats target; may be left out
)

// Default returns the built-in configuration: one node with the WebSocket on
// 0.0.0.0:8080/ws, an embedded NATS on 127.0.0.1:4222, no JWT and no flows.
// It reads the host name for Node.Name.
func Default() *Config {
	return &Config{
		Node: Node{
			Name:            defaultNodeName(),
			LogLevel:        "info",
			LogFormat:       "auto",
			ClientPublish:   true,
			ClientDirect:    true,
			ShutdownTimeout: 10 * time.Second,
		},
		WebSocket: WebSocket{
			Name:                  DefaultWebSocketName,
			Host:                  "0.0.0.0",
			Port:                  8080,
			Path:                  "/ws",
			PingInterval:          30 * time.Second,
			PongTimeout:           10 * time.Second,
			HandshakeTimeout:      10 * time.Second,
			WriteTimeout:          10 * time.Second,
			MaxFrameBytes:         64 << 10,
			MaxRoomsPerConnection: 100,
			MaxMessagesPerSecond:  50,
			MessageBurst:          100,
			WriteQueueBytes:       1 << 20,
			WriteQueueFrames:      1024,
			CompressionLevel:      1,
			CompressionMinBytes:   256,
			UserLimitPolicy:       PolicyRefuseNew,
		},
		NATS: NATS{
			Name:          DefaultNATSName,
			SubjectPrefix: "hub",
			Listen:        "127.0.0.1:4222",
		},
		Auth: Auth{
			JWTLeeway:  5 * time.Second,
			TokenGrace: 10 * time.Second,
		},
		Cluster: Cluster{
			Bind:           "0.0.0.0:7946",
			RejoinInterval: 10 * time.Second,
			FailureGrace:   30 * time.Second,
		},
	}
}

// defaultNodeName turns the host name into a node id: characters other than
// letters, digits and "_-:@" (dots included, since the id is one NATS subject
// token) become "-".
func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		h = ""
	}
	return nodeName(h)
}

// nodeName makes a host name token-safe for defaultNodeName.
func nodeName(h string) string {
	if h == "" {
		return "hub"
	}
	b := []byte(h)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == ':', c == '@':
		default:
			b[i] = '-'
		}
	}
	if len(b) > 128 {
		b = b[:128]
	}
	return string(b)
}

// WSAddr returns the WebSocket listen address, host:port.
func (c *Config) WSAddr() string {
	return net.JoinHostPort(c.WebSocket.Host, strconv.Itoa(c.WebSocket.Port))
}

// Redacted returns a deep copy of c with secrets (JWT secret, API key, a
// password in the NATS URL) replaced by "***", for logging.
func (c *Config) Redacted() *Config {
	r := c.clone()
	if r.Auth.JWTSecret != "" {
		r.Auth.JWTSecret = "***"
	}
	if r.Auth.APIKey != "" {
		r.Auth.APIKey = "***"
	}
	if r.Auth.AdminToken != "" {
		r.Auth.AdminToken = "***"
	}
	r.NATS.Users = append([]string(nil), c.NATS.Users...)
	for i, u := range r.NATS.Users {
		if name, _, ok := strings.Cut(u, ":"); ok {
			r.NATS.Users[i] = name + ":***"
		}
	}
	if r.Cluster.Secret != "" {
		r.Cluster.Secret = "***"
	}
	r.NATS.URL = redactURLs(r.NATS.URL)
	return r
}

// clone returns a deep copy of c.
func (c *Config) clone() *Config {
	r := *c
	r.WebSocket.AllowedOrigins = append([]string(nil), c.WebSocket.AllowedOrigins...)
	r.Cluster.Join = append([]string(nil), c.Cluster.Join...)
	r.NATS.Users = append([]string(nil), c.NATS.Users...)
	r.Flows = make([]Flow, len(c.Flows))
	for i, f := range c.Flows {
		f.From.TargetPath = append([]string(nil), f.From.TargetPath...)
		f.To.TargetPath = append([]string(nil), f.To.TargetPath...)
		if len(f.From.TargetPath) == 0 {
			f.From.TargetPath = nil
		}
		if len(f.To.TargetPath) == 0 {
			f.To.TargetPath = nil
		}
		r.Flows[i] = f
	}
	if c.Flows == nil {
		r.Flows = nil
	}
	if c.Namespaces != nil {
		r.Namespaces = make([]namespace.Namespace, len(c.Namespaces))
		for i, ns := range c.Namespaces {
			ns.Rooms = append([]string(nil), ns.Rooms...)
			if ns.ClientPublish != nil {
				v := *ns.ClientPublish
				ns.ClientPublish = &v
			}
			if ns.History != nil {
				h := *ns.History
				ns.History = &h
			}
			if ns.Presence != nil {
				p := *ns.Presence
				ns.Presence = &p
			}
			r.Namespaces[i] = ns
		}
	}
	r.HTTP = append([]HTTPConnector(nil), c.HTTP...)
	r.Proxies = make([]Proxy, len(c.Proxies))
	for i, p := range c.Proxies {
		p.Rooms = append([]string(nil), p.Rooms...)
		r.Proxies[i] = p
	}
	if c.Proxies == nil {
		r.Proxies = nil
	}
	if c.origins != nil {
		r.origins = make(map[string]origin, len(c.origins))
		for k, v := range c.origins {
			r.origins[k] = v
		}
	}
	return &r
}

// redactURLs hides the password of each URL in a comma-separated list.
func redactURLs(s string) string {
	if s == "" {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		// url escapes "*" in user info, so put a placeholder and swap it.
		const mark = "REDACTEDMARK"
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), mark)
		} else if u.User.Username() != "" {
			u.User = url.User(mark) // a bare token
		}
		parts[i] = strings.Replace(u.String(), mark, "***", 1)
	}
	return strings.Join(parts, ",")
}

// Origins says where each setting that is not a default came from, keyed
// like "ws.port": "hub.hcl:3" for the file, "env HUB_PORT" or "flag -port".
// A key set in the file and overridden later names the override.
func (c *Config) Origins() map[string]string {
	out := make(map[string]string, len(c.origins))
	for k, o := range c.origins {
		switch {
		case o.from != "":
			out[k] = o.from
		case o.rng != nil:
			out[k] = fmt.Sprintf("%s:%d", o.rng.Filename, o.rng.Start.Line)
		}
	}
	return out
}
