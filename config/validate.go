package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hubrt/hub/protocol"
)

// Validate checks c and returns every problem at once (errors.Join), or nil.
// Each problem names where the bad value was set: "file:line,col-col: ..."
// for the config file (an *hcl.Diagnostic), "flag -port: ..." or
// "env HUB_PORT: ..." for overrides. Validate does no I/O.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.node()
	v.websocket()
	v.nats()
	v.auth()
	v.cluster()
	v.httpConnectors()
	v.proxies()
	v.flows()
	v.namespaces()
	// Report in file order; problems from flags and env come last.
	slices.SortStableFunc(v.errs, func(a, b error) int {
		pa, pb := errPos(a), errPos(b)
		switch {
		case pa == nil && pb == nil:
			return 0
		case pa == nil:
			return 1
		case pb == nil:
			return -1
		}
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column))
	})
	return errors.Join(v.errs...)
}

func errPos(err error) *hcl.Pos {
	if d, ok := err.(*hcl.Diagnostic); ok && d.Subject != nil {
		return &d.Subject.Start
	}
	return nil
}

type validator struct {
	c    *Config
	errs []error
}

// add records a problem, placed at the origin of the first key that has one.
func (v *validator) add(summary, detail string, keys ...string) {
	for _, k := range keys {
		o, ok := v.c.origins[k]
		if !ok {
			continue
		}
		if o.rng != nil {
			r := *o.rng
			v.errs = append(v.errs, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r})
			return
		}
		v.errs = append(v.errs, fmt.Errorf("%s: %s; %s", o.from, summary, detail))
		return
	}
	src := "config"
	if v.c.Source != "" {
		src = v.c.Source
	}
	v.errs = append(v.errs, fmt.Errorf("%s: %s; %s", src, summary, detail))
}

func (v *validator) node() {
	n := &v.c.Node
	if !protocol.ValidToken(n.Name) {
		v.add("Invalid node name", fmt.Sprintf("name %q must be 1 to %d letters, digits or \"_-:@\" (no dots).", n.Name, protocol.MaxNameLen), "node.name", "node")
	}
	switch n.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.add("Invalid log level", fmt.Sprintf("log_level %q must be debug, info, warn or error.", n.LogLevel), "node.log_level", "node")
	}
	switch n.LogFormat {
	case "auto", "text", "json":
	default:
		v.add("Invalid log format", fmt.Sprintf("log_format %q must be auto, text or json.", n.LogFormat), "node.log_format", "node")
	}
	if n.ShutdownTimeout < 0 {
		v.add("Invalid shutdown timeout", fmt.Sprintf("shutdown_timeout %s must not be negative.", n.ShutdownTimeout), "node.shutdown_timeout", "node")
	}
}

func (v *validator) websocket() {
	w := &v.c.WebSocket
	if w.Port < 0 || w.Port > 65535 {
		v.add("Invalid port", fmt.Sprintf("port %d is out of range 0..65535.", w.Port), "ws.port", "ws")
	}
	if !strings.HasPrefix(w.Path, "/") || strings.ContainsAny(w.Path, " \t\r\n?#") {
		v.add("Invalid path", fmt.Sprintf("path %q must start with \"/\" and hold no spaces, \"?\" or \"#\".", w.Path), "ws.path", "ws")
	} else if err := checkRoute(w.Path); err != nil {
		v.add("Invalid path", fmt.Sprintf("path %q: %v.", w.Path, err), "ws.path", "ws")
	}
	if strings.ContainsAny(w.Host, " \t\r\n/") {
		v.add("Invalid host", fmt.Sprintf("host %q is not a host name or IP address.", w.Host), "ws.host", "ws")
	}
	positive := []struct {
		name string
		d    int64
		zero bool // zero allowed
	}{
		{"ping_interval", int64(w.PingInterval), false},
		{"pong_timeout", int64(w.PongTimeout), false},
		{"handshake_timeout", int64(w.HandshakeTimeout), true},
		{"write_timeout", int64(w.WriteTimeout), true},
		{"max_connection_age", int64(w.MaxConnectionAge), true},
	}
	for _, p := range positive {
		if p.d < 0 || (p.d == 0 && !p.zero) {
			want := "greater than zero"
			if p.zero {
				want = "zero (none) or more"
			}
			v.add("Invalid "+strings.ReplaceAll(p.name, "_", " "), fmt.Sprintf("%s must be %s.", p.name, want), "ws."+p.name, "ws")
		}
	}
	limits := []struct {
		name string
		n    int
		min  int
	}{
		{"max_frame_bytes", w.MaxFrameBytes, 1},
		{"max_rooms_per_connection", w.MaxRoomsPerConnection, 0},
		{"message_burst", w.MessageBurst, 0},
		{"max_connections", w.MaxConnections, 0},
		{"max_connections_per_ip", w.MaxConnectionsPerIP, 0},
		{"max_connections_per_user", w.MaxConnectionsPerUser, 0},
		{"write_queue_bytes", w.WriteQueueBytes, 1},
		{"write_queue_frames", w.WriteQueueFrames, 1},
		{"compression_min_bytes", w.CompressionMinBytes, 0},
		{"max_inflated_bytes", w.MaxInflatedBytes, 0},
	}
	for _, l := range limits {
		if l.n < l.min {
			v.add("Invalid "+strings.ReplaceAll(l.name, "_", " "), fmt.Sprintf("%s is %d; it must be at least %d.", l.name, l.n, l.min), "ws."+l.name, "ws")
		}
	}
	if w.MaxMessagesPerSecond < 0 || w.MaxMessagesPerSecond != w.MaxMessagesPerSecond {
		v.add("Invalid max messages per second", fmt.Sprintf("max_messages_per_second %v must be zero (unlimited) or more.", w.MaxMessagesPerSecond), "ws.max_messages_per_second", "ws")
	}
	if w.UserLimitPolicy != PolicyRefuseNew && w.UserLimitPolicy != PolicyCloseOldest {
		v.add("Invalid user limit policy", fmt.Sprintf("user_limit_policy %q must be %q or %q.", w.UserLimitPolicy, PolicyRefuseNew, PolicyCloseOldest), "ws.user_limit_policy", "ws")
	}
	if w.CompressionLevel < 1 || w.CompressionLevel > 9 {
		v.add("Invalid compression level", fmt.Sprintf("compression_level %d must be 1 (fastest) to 9 (smallest).", w.CompressionLevel), "ws.compression_level", "ws")
	}
	switch w.Gateway {
	case "", "portable":
	case "epoll":
		if runtime.GOOS != "linux" {
			v.add("Invalid gateway", fmt.Sprintf("gateway %q runs on Linux only; this is %s: leave it out or use \"portable\".", w.Gateway, runtime.GOOS), "ws.gateway", "ws")
		}
	default:
		v.add("Invalid gateway", fmt.Sprintf("gateway %q must be \"epoll\" (Linux) or \"portable\".", w.Gateway), "ws.gateway", "ws")
	}
	for _, o := range w.AllowedOrigins {
		if o == "" || strings.ContainsAny(o, " \t\r\n") {
			v.add("Invalid allowed origin", fmt.Sprintf("allowed_origins entry %q must be an origin like \"https://example.com\" or \"*\".", o), "ws.allowed_origins", "ws")
		}
	}
}

// checkRoute checks the {param} segments of a WebSocket path.
func checkRoute(path string) error {
	for seg := range strings.SplitSeq(path[1:], "/") {
		opens, closes := strings.Count(seg, "{"), strings.Count(seg, "}")
		if opens == 0 && closes == 0 {
			continue
		}
		if opens != 1 || closes != 1 || seg[0] != '{' || seg[len(seg)-1] != '}' || len(seg) == 2 {
			return fmt.Errorf("segment %q: a route parameter is a whole segment like {tenant}", seg)
		}
	}
	return nil
}

func (v *validator) nats() {
	n := &v.c.NATS
	for u := range strings.SplitSeq(n.URL, ",") {
		if n.URL == "" {
			break
		}
		u = strings.TrimSpace(u)
		if u == "" || strings.ContainsAny(u, " \t\r\n") {
			v.add("Invalid NATS URL", fmt.Sprintf("url %q must be a comma-separated list like \"nats://host:4222\".", n.URL), "nats.url", "nats")
			break
		}
	}
	if !validSubject(n.SubjectPrefix, false) {
		v.add("Invalid subject prefix", fmt.Sprintf("subject_prefix %q must be one or more dot-separated NATS subject tokens without wildcards.", n.SubjectPrefix), "nats.subject_prefix", "nats")
	}
	v.hostPort("nats.listen", n.Listen, false, "nats")
	v.hostPort("nats.cluster_listen", n.ClusterListen, true, "nats")
	for _, u := range n.Users {
		if name, pw, ok := strings.Cut(u, ":"); !ok || name == "" || pw == "" || strings.ContainsAny(name, " \t") {
			v.add("Invalid NATS user", "each entry of users must be \"name:password\" (the password is not shown here).", "nats.users", "nats")
			break
		}
	}
	if len(n.Users) > 0 && n.URL != "" {
		v.add("Backend users with an external NATS", "users configure the embedded server; an external NATS has its own accounts.", "nats.users", "nats")
	}
	if n.Credentials != "" && n.URL == "" {
		v.add("Credentials without URL", "credentials apply only to an external NATS server; set url too, or leave credentials out for the embedded server.", "nats.credentials", "nats")
	}
}

// hostPort checks that s is host:port with a numeric port (or empty when
// allowed); key is the origin key, whose last part names the attribute.
func (v *validator) hostPort(key, s string, empty bool, keys ...string) {
	if s == "" && empty {
		return
	}
	name := key[strings.LastIndexByte(key, '.')+1:]
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		var p int
		p, err = strconv.Atoi(port)
		if err == nil && (p < 0 || p > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		v.add("Invalid address", fmt.Sprintf("%s %q must be host:port, like \"0.0.0.0:7946\".", name, s), append([]string{key}, keys...)...)
	}
}

func (v *validator) auth() {
	a := &v.c.Auth
	if a.JWTSecret != "" && (a.JWTPublicKey != "" || a.JWTPublicKeyFile != "") {
		v.add("Conflicting JWT keys", "set either jwt_secret (HS256) or a public key (RS256/ES256), not both.", "auth.jwt_secret", "auth.jwt_public_key", "auth.jwt_public_key_file", "auth")
	}
	if a.JWTPublicKey != "" && a.JWTPublicKeyFile != "" {
		v.add("Conflicting JWT keys", "set either jwt_public_key or jwt_public_key_file, not both.", "auth.jwt_public_key", "auth.jwt_public_key_file", "auth")
	}
	if a.TokenGrace <= 0 {
		v.add("Invalid token grace", fmt.Sprintf("token_grace %s must be greater than zero.", a.TokenGrace), "auth.token_grace", "auth")
	}
	if a.JWTLeeway < 0 {
		v.add("Invalid JWT leeway", fmt.Sprintf("jwt_leeway %s must not be negative.", a.JWTLeeway), "auth.jwt_leeway", "auth")
	}
}

func (v *validator) cluster() {
	cl := &v.c.Cluster
	v.hostPort("cluster.bind", cl.Bind, false, "cluster")
	if cl.Advertise != "" && strings.ContainsAny(cl.Advertise, " \t\r\n/") {
		v.add("Invalid address", fmt.Sprintf("advertise %q must be a host or host:port.", cl.Advertise), "cluster.advertise", "cluster")
	}
	for _, j := range cl.Join {
		if j == "" || strings.ContainsAny(j, " \t\r\n/") {
			v.add("Invalid join address", fmt.Sprintf("join entry %q must be host, host:port or a DNS name.", j), "cluster.join", "cluster")
		}
	}
	if cl.BootstrapExpect < 0 {
		v.add("Invalid bootstrap_expect", "bootstrap_expect must be 0 (do not wait) or more.", "cluster.bootstrap_expect", "cluster")
	}
	if cl.RejoinInterval <= 0 {
		v.add("Invalid rejoin interval", "rejoin_interval must be greater than zero.", "cluster.rejoin_interval", "cluster")
	}
	if cl.Secret != "" && cl.SecretFile != "" {
		v.add("Two cluster secrets", "set secret or secret_file, not both.", "cluster.secret", "cluster.secret_file", "cluster")
	}
	if cl.FailureGrace <= 0 {
		v.add("Invalid failure grace", "failure_grace must be greater than zero.", "cluster.failure_grace", "cluster")
	}
	v.hostPort("metrics.listen", v.c.Metrics.Listen, true, "metrics")
}

func (v *validator) flows() {
	c := v.c
	if c.WebSocket.Name == c.NATS.Name {
		v.add("Duplicate connector name", fmt.Sprintf("the websocket and nats connectors are both called %q.", c.WebSocket.Name), "ws", "nats")
	}
	names := map[string]string{}
	for i, f := range c.Flows {
		key := fmt.Sprintf("flow.%d", i)
		where := f.Pos
		if where == "" {
			where = "flow " + strconv.Itoa(i+1)
		}
		if f.Name == "" {
			v.add("Missing flow name", "a flow needs a name: flow \"name\" { ... }.", key+".name", key)
		} else if !protocol.ValidName(f.Name) {
			v.add("Invalid flow name", fmt.Sprintf("flow name %q must be 1 to %d letters, digits or \"_-:@.\".", f.Name, protocol.MaxNameLen), key+".name", key)
		} else if first, ok := names[f.Name]; ok {
			v.add("Duplicate flow name", fmt.Sprintf("a flow named %q is already defined at %s.", f.Name, first), key+".name", key)
		} else {
			names[f.Name] = where
		}
		from, to := c.kindOf(f.From.Connector), c.kindOf(f.To.Connector)
		for _, e := range []struct {
			side, kind string
			ep         Endpoint
		}{{"from", from, f.From}, {"to", to, f.To}} {
			if e.kind == "" {
				v.add("Unknown connector", fmt.Sprintf("flow %q: %s connector %q is not declared; the connectors are %q (websocket), %q (nats) and any of type http.",
					f.Name, e.side, e.ep.Connector, c.WebSocket.Name, c.NATS.Name), key+"."+e.side+".connector", key+"."+e.side, key)
			}
		}
		if from == "" || to == "" {
			continue
		}
		if from == KindWebSocket && to == KindHTTP {
			v.wsSource(f, key+".from")
			v.httpTarget(f, key+".to")
			continue
		}
		if from == KindHTTP || to == KindHTTP {
			v.add("Invalid flow direction", fmt.Sprintf("flow %q goes from %s to %s; an http connector only takes flows from websocket.", f.Name, from, to),
				key+".to.connector", key+".to", key)
			continue
		}
		if from == to {
			v.add("Invalid flow direction", fmt.Sprintf("flow %q goes from %s to %s; a flow goes from websocket to nats or from nats to websocket.", f.Name, from, to),
				key+".to.connector", key+".to", key)
			continue
		}
		if from == KindWebSocket {
			v.wsSource(f, key+".from")
			v.natsTarget(f, key+".to")
		} else {
			v.natsSource(f, key+".from")
			v.wsTarget(f, key+".to")
		}
	}
}

func (v *validator) wsSource(f Flow, key string) {
	if !validWSSource(f.From.Operation) {
		v.add("Invalid operation", fmt.Sprintf("flow %q: websocket source operation %q must be connect, message, disconnect, join, leave, room_occupied or room_vacated.", f.Name, f.From.Operation),
			key+".operation", key)
	}
	if f.From.Target != "" {
		v.add("Unexpected target", fmt.Sprintf("flow %q: a websocket source takes no target.", f.Name), key+".target", key)
	}
}

func (v *validator) natsTarget(f Flow, key string) {
	if f.To.Operation != "" && f.To.Operation != OpPublish {
		v.add("Invalid operation", fmt.Sprintf("flow %q: a nats target publishes to its target subject; operation %q must be left out or be \"publish\".", f.Name, f.To.Operation),
			key+".operation", key)
	}
	if f.To.Target == "" {
		v.add("Missing target", fmt.Sprintf("flow %q: a nats target needs target = \"<subject>\" to publish to.", f.Name), key+".target", key)
	} else if !validSubject(f.To.Target, false) {
		v.add("Invalid target", fmt.Sprintf("flow %q: target %q must be a NATS subject without wildcards, like \"chat.messages\".", f.Name, f.To.Target), key+".target", key)
	}
}

func (v *validator) natsSource(f Flow, key string) {
	if f.From.Operation == "" {
		v.add("Missing operation", fmt.Sprintf("flow %q: a nats source needs operation = \"<subject>\" to subscribe to.", f.Name), key+".operation", key)
	} else if !validSubject(f.From.Operation, true) {
		v.add("Invalid operation", fmt.Sprintf("flow %q: operation %q must be a NATS subject like \"orders.*\" or \"orders.>\".", f.Name, f.From.Operation), key+".operation", key)
	}
	if f.From.Target != "" {
		v.add("Unexpected target", fmt.Sprintf("flow %q: a nats source takes no target; its operation is the subject.", f.Name), key+".target", key)
	}
}

func (v *validator) wsTarget(f Flow, key string) {
	to := f.To
	switch to.Operation {
	case OpBroadcast:
		if to.Target != "" {
			v.add("Unexpected target", fmt.Sprintf("flow %q: broadcast goes to everyone and takes no target.", f.Name), key+".target", key)
		}
		return
	case OpSendToRoom, OpSendToUser, OpSendToConnection:
	default:
		v.add("Invalid operation", fmt.Sprintf("flow %q: websocket target operation %q must be broadcast, send_to_room, send_to_user or send_to_connection.", f.Name, to.Operation),
			key+".operation", key)
		return
	}
	what := strings.TrimPrefix(to.Operation, "send_to_")
	switch {
	case to.Target == "":
		v.add("Missing target", fmt.Sprintf("flow %q: %s needs target = \"input.<field>\" (the %s id from the incoming JSON) or a literal %s name.", f.Name, to.Operation, what, what),
			key+".target", key)
	case strings.HasPrefix(to.Target, "input."):
		for _, p := range to.TargetPath {
			if p == "" || strings.ContainsAny(p, " \t\r\n") {
				v.add("Invalid target", fmt.Sprintf("flow %q: target %q must be input.<field>[.<field>...] with non-empty field names.", f.Name, to.Target), key+".target", key)
				break
			}
		}
	case !protocol.ValidName(to.Target):
		v.add("Invalid target", fmt.Sprintf("flow %q: target %q is neither input.<field> nor a valid %s name (1 to %d letters, digits or \"_-:@.\").", f.Name, to.Target, what, protocol.MaxNameLen),
			key+".target", key)
	}
}

// validSubject reports whether s is a NATS subject: non-empty dot-separated
// tokens without whitespace; with wildcards, a token may be "*" and the last
// may be ">".
func validSubject(s string, wildcards bool) bool {
	if s == "" {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		if t == "" || strings.ContainsAny(t, " \t\r\n") {
			return false
		}
		if t == "*" || (t == ">" && i == len(toks)-1) {
			if !wildcards {
				return false
			}
			continue
		}
		if strings.ContainsAny(t, "*>") {
			return false
		}
	}
	return true
}
