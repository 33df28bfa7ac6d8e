package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// option is one setting reachable from the command line and the environment.
// The environment variable is "HUB_" + the flag name in upper snake case.
type option struct {
	flag  string
	key   string // origin key, matching the HCL attribute ("ws.port")
	usage string
	field func(c *Config) any // pointer to the field: *string, *int, *bool, *float64, *time.Duration or *[]string
}

// configFlag names the config file; it is not a Config field.
const configFlag = "config"

var options = []option{
	{"dev", "node.dev", "development mode: take the user from the ?user= query parameter (never use in production)", func(c *Config) any { return &c.Node.Dev }},
	{"demo", "node.demo", "serve the demo page at /", func(c *Config) any { return &c.Node.Demo }},
	{"node-name", "node.name", "node id in the cluster (letters, digits, _-:@); default is the host name", func(c *Config) any { return &c.Node.Name }},
	{"log-level", "node.log_level", "log level: debug, info, warn or error", func(c *Config) any { return &c.Node.LogLevel }},
	{"log-format", "node.log_format", "log format: auto (text on a terminal, JSON otherwise), text or json", func(c *Config) any { return &c.Node.LogFormat }},
	{"client-publish", "node.client_publish", "let clients send messages to rooms they joined", func(c *Config) any { return &c.Node.ClientPublish }},
	{"client-direct", "node.client_direct", "let clients send messages to users", func(c *Config) any { return &c.Node.ClientDirect }},
	{"shutdown-timeout", "node.shutdown_timeout", "how long a graceful shutdown may take", func(c *Config) any { return &c.Node.ShutdownTimeout }},
	{"data-dir", "node.data_dir", "where the embedded JetStream keeps history (default: a directory named after the node in the temp dir)", func(c *Config) any { return &c.Node.DataDir }},

	{"host", "ws.host", "WebSocket listen host", func(c *Config) any { return &c.WebSocket.Host }},
	{"port", "ws.port", "WebSocket listen port (0 picks a free port)", func(c *Config) any { return &c.WebSocket.Port }},
	{"path", "ws.path", "WebSocket upgrade path; may hold route params like /ws/{tenant}", func(c *Config) any { return &c.WebSocket.Path }},
	{"ping-interval", "ws.ping_interval", "how often the server pings each client", func(c *Config) any { return &c.WebSocket.PingInterval }},
	{"pong-timeout", "ws.pong_timeout", "how long to wait for a pong before closing the connection", func(c *Config) any { return &c.WebSocket.PongTimeout }},
	{"allowed-origins", "ws.allowed_origins", "comma-separated Origin values accepted at the upgrade, \"*\" for any; empty accepts any", func(c *Config) any { return &c.WebSocket.AllowedOrigins }},
	{"max-frame-bytes", "ws.max_frame_bytes", "largest inbound frame in bytes", func(c *Config) any { return &c.WebSocket.MaxFrameBytes }},
	{"max-rooms-per-connection", "ws.max_rooms_per_connection", "rooms one connection may join (0 = unlimited)", func(c *Config) any { return &c.WebSocket.MaxRoomsPerConnection }},
	{"max-messages-per-second", "ws.max_messages_per_second", "inbound frames per second per connection (0 = unlimited)", func(c *Config) any { return &c.WebSocket.MaxMessagesPerSecond }},
	{"message-burst", "ws.message_burst", "inbound frames allowed in a burst above the rate", func(c *Config) any { return &c.WebSocket.MessageBurst }},
	{"max-connections", "ws.max_connections", "connections on this node (0 = unlimited)", func(c *Config) any { return &c.WebSocket.MaxConnections }},
	{"max-connections-per-user", "ws.max_connections_per_user", "connections of one user across the cluster (0 = unlimited)", func(c *Config) any { return &c.WebSocket.MaxConnectionsPerUser }},
	{"user-limit-policy", "ws.user_limit_policy", "over max-connections-per-user: refuse_new (the newest closes with 4501) or close_oldest", func(c *Config) any { return &c.WebSocket.UserLimitPolicy }},
	{"max-connection-age", "ws.max_connection_age", "close each connection with 4003 after this long, less up to 10% at random (0 = never)", func(c *Config) any { return &c.WebSocket.MaxConnectionAge }},
	{"max-connections-per-ip", "ws.max_connections_per_ip", "connections from one client IP on this node (0 = unlimited)", func(c *Config) any { return &c.WebSocket.MaxConnectionsPerIP }},
	{"compression", "ws.compression", "accept permessage-deflate offers (compressed once per message per node)", func(c *Config) any { return &c.WebSocket.Compression }},
	{"compression-level", "ws.compression_level", "deflate level of outbound messages, 1 (fast) to 9", func(c *Config) any { return &c.WebSocket.CompressionLevel }},
	{"compression-min-bytes", "ws.compression_min_bytes", "smallest outbound message compressed (0 = every one)", func(c *Config) any { return &c.WebSocket.CompressionMinBytes }},
	{"gateway", "ws.gateway", "WebSocket gateway: epoll (Linux) or portable (every platform); empty picks epoll on Linux", func(c *Config) any { return &c.WebSocket.Gateway }},
	{"max-inflated-bytes", "ws.max_inflated_bytes", "largest inbound compressed message once inflated (0 = max-frame-bytes)", func(c *Config) any { return &c.WebSocket.MaxInflatedBytes }},

	{"nats-url", "nats.url", "external NATS server URL(s), comma-separated; empty runs an embedded server", func(c *Config) any { return &c.NATS.URL }},
	{"nats-credentials", "nats.credentials", "credentials file for the external NATS server", func(c *Config) any { return &c.NATS.Credentials }},
	{"nats-listen", "nats.listen", "embedded NATS client listener host:port", func(c *Config) any { return &c.NATS.Listen }},
	{"nats-cluster-listen", "nats.cluster_listen", "embedded NATS route listener host:port for clustering (empty: 0.0.0.0:6222 when clustering)", func(c *Config) any { return &c.NATS.ClusterListen }},
	{"nats-users", "nats.users", "comma-separated name:password backend users of the embedded NATS client port (prefer the environment variable)", func(c *Config) any { return &c.NATS.Users }},
	{"subject-prefix", "nats.subject_prefix", "first token(s) of every hub NATS subject", func(c *Config) any { return &c.NATS.SubjectPrefix }},

	{"jwt-secret", "auth.jwt_secret", "HS256 secret for client JWTs (prefer the environment variable)", func(c *Config) any { return &c.Auth.JWTSecret }},
	{"jwt-public-key", "auth.jwt_public_key", "PEM public key for RS256/ES256 client JWTs", func(c *Config) any { return &c.Auth.JWTPublicKey }},
	{"jwt-public-key-file", "auth.jwt_public_key_file", "file holding the PEM public key for RS256/ES256 client JWTs", func(c *Config) any { return &c.Auth.JWTPublicKeyFile }},
	{"token-grace", "auth.token_grace", "how long a connection outlives its token's exp without a refresh", func(c *Config) any { return &c.Auth.TokenGrace }},
	{"jwt-leeway", "auth.jwt_leeway", "clock skew tolerated when checking JWT exp and nbf", func(c *Config) any { return &c.Auth.JWTLeeway }},
	{"api-key", "auth.api_key", "bearer key required by the HTTP API; empty leaves it open (prefer the environment variable)", func(c *Config) any { return &c.Auth.APIKey }},
	{"admin-token", "auth.admin_token", "bearer token for the admin page /admin and the HTTP API; without it or an API key /admin is off outside -dev (prefer the environment variable)", func(c *Config) any { return &c.Auth.AdminToken }},

	{"join", "cluster.join", "comma-separated peers to join: host:port, host, or a DNS name (headless service)", func(c *Config) any { return &c.Cluster.Join }},
	{"gossip-bind", "cluster.bind", "memberlist gossip bind host:port", func(c *Config) any { return &c.Cluster.Bind }},
	{"gossip-advertise", "cluster.advertise", "address announced to peers, host or host:port; empty picks one", func(c *Config) any { return &c.Cluster.Advertise }},
	{"rejoin-interval", "cluster.rejoin_interval", "how often to retry joining while alone", func(c *Config) any { return &c.Cluster.RejoinInterval }},
	{"bootstrap-expect", "cluster.bootstrap_expect", "with history: nodes to wait for before the first start of the embedded JetStream (0 = do not wait)", func(c *Config) any { return &c.Cluster.BootstrapExpect }},
	{"failure-grace", "cluster.failure_grace", "how long a member declared dead keeps its NATS route before node_down is published", func(c *Config) any { return &c.Cluster.FailureGrace }},
	{"cluster-secret", "cluster.secret", "cluster secret: comma-separated keys, the first in use (prefer the environment variable or a file)", func(c *Config) any { return &c.Cluster.Secret }},
	{"cluster-secret-file", "cluster.secret_file", "file holding the cluster secret, one key a line, the first in use", func(c *Config) any { return &c.Cluster.SecretFile }},
	{"cluster-insecure", "cluster.insecure", "allow a cluster without a secret: gossip in clear text, NATS routes open (trusted networks only)", func(c *Config) any { return &c.Cluster.Insecure }},

	{"metrics-listen", "metrics.listen", "separate host:port for /metrics; empty serves it on the WebSocket port", func(c *Config) any { return &c.Metrics.Listen }},
}

// EnvName returns the environment variable for a flag name: "node-name" →
// "HUB_NODE_NAME".
func EnvName(flagName string) string {
	return "HUB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagValue is a flag.Value that only records the text; Load applies it
// after the file and the environment so flags win.
type flagValue struct {
	opt  *option // nil for -config
	def  string
	text string
	set  bool
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	if v.set {
		return v.text
	}
	return v.def
}

func (v *flagValue) Set(s string) error {
	if v.opt != nil {
		// Check the syntax now so the flag package names the flag.
		if err := setField(v.opt.field(Default()), s); err != nil {
			return err
		}
	}
	v.text, v.set = s, true
	return nil
}

func (v *flagValue) IsBoolFlag() bool {
	if v.opt == nil {
		return false
	}
	_, ok := v.opt.field(&Config{}).(*bool)
	return ok
}

// NewFlagSet returns the hub's flag set, named name, with ContinueOnError
// and fs.Usage printing Usage(fs). Load uses it; it is exported so a
// subcommand can register the same flags.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	def := Default()
	fs.Var(&flagValue{}, configFlag, "HCL config file (connector, flow, node, auth, cluster and metrics blocks)")
	for i := range options {
		o := &options[i]
		fs.Var(&flagValue{opt: o, def: formatField(o.field(def))}, o.flag, o.usage)
	}
	fs.Usage = func() { _, _ = io.WriteString(fs.Output(), Usage(fs)) }
	return fs
}

// Load builds the configuration with the precedence defaults < config file <
// HUB_* environment variables < command-line flags, then validates it.
// args excludes the program name; environ is os.Environ()-style "KEY=value".
// The file comes from -config, else HUB_CONFIG; none is fine. Only flags
// actually given and variables actually present (and non-empty) override.
//
// Load writes nothing: for "-h" it returns flag.ErrHelp (print Usage(fs) and
// exit 0); for a bad flag it returns the flag package's error. After Load,
// fs.Usage prints to standard error. fs is returned in every case that got
// as far as parsing flags, so the caller can read fs.Args().
func Load(args []string, environ []string) (*Config, *flag.FlagSet, error) {
	fs := NewFlagSet("hub")
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(nil)
	if err != nil {
		return nil, fs, err
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "HUB_") {
			env[k] = v
		}
	}

	path := env[EnvName(configFlag)]
	if v := fs.Lookup(configFlag).Value.(*flagValue); v.set {
		path = v.text
	}
	var c *Config
	if path != "" {
		src, err := readFile(path)
		if err != nil {
			return nil, fs, err
		}
		if c, err = parse(src, path); err != nil {
			return nil, fs, err
		}
	} else {
		c = Default()
		c.origins = map[string]origin{}
	}

	var errs []error
	for i := range options {
		o := &options[i]
		name := EnvName(o.flag)
		s, ok := env[name]
		if !ok || s == "" {
			continue
		}
		if err := setField(o.field(c), s); err != nil {
			errs = append(errs, fmt.Errorf("env %s=%q: %w", name, s, err))
			continue
		}
		c.origins[o.key] = origin{from: "env " + name}
	}
	if len(errs) > 0 {
		return nil, fs, errors.Join(errs...)
	}
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.(*flagValue)
		if v.opt == nil {
			return
		}
		// Set already checked the syntax.
		_ = setField(v.opt.field(c), v.text)
		c.origins[v.opt.key] = origin{from: "flag -" + f.Name}
	})
	if err := c.Validate(); err != nil {
		return nil, fs, err
	}
	return c, fs, nil
}

// setField parses s into the field ptr points to.
func setField(ptr any, s string) error {
	switch p := ptr.(type) {
	case *string:
		*p = s
	case *bool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		*p = v
	case *int:
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*p = v
	case *float64:
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration like 30s, 500ms or 1m30s", s)
		}
		*p = v
	case *[]string:
		var l []string
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				l = append(l, part)
			}
		}
		*p = l
	default:
		panic(fmt.Sprintf("config: unsupported field type %T", ptr))
	}
	return nil
}

// formatField renders a field value the way setField reads it.
func formatField(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	case *time.Duration:
		return p.String()
	case *[]string:
		return strings.Join(*p, ",")
	}
	panic(fmt.Sprintf("config: unsupported field type %T", ptr))
}

// typeName is the placeholder shown in Usage for a field's value.
func typeName(ptr any) string {
	switch ptr.(type) {
	case *bool:
		return ""
	case *int:
		return "int"
	case *float64:
		return "number"
	case *time.Duration:
		return "duration"
	case *[]string:
		return "list"
	}
	return "string"
}

// Usage returns the help text for `hub -h`: a synopsis, then every flag
// registered on fs with its value type, meaning, environment variable and
// default. Flags a caller added to fs appear too.
func Usage(fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags] [command]\n\n", fs.Name())
	b.WriteString("Settings come from, lowest to highest precedence: built-in defaults, the\n")
	b.WriteString("HCL file given by -config (or HUB_CONFIG), HUB_* environment variables, flags.\n")
	b.WriteString("Each flag's environment variable is HUB_ plus its name in upper snake case.\n\n")
	b.WriteString("Flags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, def := "string", f.DefValue
		if v, ok := f.Value.(*flagValue); ok && v.opt != nil {
			typ = typeName(v.opt.field(&Config{}))
		} else if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			typ = ""
		}
		fmt.Fprintf(&b, "  -%s", f.Name)
		if typ != "" {
			fmt.Fprintf(&b, " %s", typ)
		}
		fmt.Fprintf(&b, "\n      %s\n      env %s", f.Usage, EnvName(f.Name))
		if def != "" {
			fmt.Fprintf(&b, ", default %q", def)
		}
		b.WriteString("\n")
	})
	return b.String()
}
