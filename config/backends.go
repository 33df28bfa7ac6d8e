package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// KindHTTP is the type of an HTTP backend connector (SPEC §12).
const KindHTTP = "http"

// HTTPConnector configures one HTTP backend (`connector "app" { type = "http" }`).
// A hub may declare any number of them.
type HTTPConnector struct {
	Name        string        // connector name flows and proxies refer to
	URL         string        // base URL; a target path is appended to it; http or https
	SecretFile  string        // file holding the HMAC-SHA256 key that signs every request; required
	Timeout     time.Duration // limit on one request (connect, headers and body); default 2s; > 0
	MaxInFlight int           // requests in flight to this backend from one node; default 64; > 0
	Batch       int           // webhook events per request (a JSON array when > 1); default 1; 1..1000
	QueueSize   int           // webhook events waiting per node before new ones are dropped (counted); default 10000; > 0
	RetryFor    time.Duration // how long a webhook is retried before it is dropped (counted); default 1m; > 0
	Pos         string        // "file:line" of the block
}

// Proxy kinds, the label of a proxy block.
const (
	ProxyConnect = "connect"
	ProxyJoin    = "join"
)

// On-error policies of a proxy.
const (
	OnErrorRefuse = "refuse"
	OnErrorAllow  = "allow"
)

// Proxy configures a backend that decides (`proxy "connect" { ... }`,
// `proxy "join" { ... }`).
type Proxy struct {
	Kind      string   // ProxyConnect or ProxyJoin, the block's label
	Connector string   // an http connector, or the nats connector
	Target    string   // http: a path ("/connect"); nats: the subject requests go to
	OnError   string   // what a backend that fails or times out means: refuse (default) or allow
	Rooms     []string // join: NATS-style patterns of the rooms it decides; required for join
	Pos       string   // "file:line" of the block
}

// Events a websocket source may take besides connect, message and
// disconnect: they exist where presence publishes them.
const (
	OpJoin         = "join"
	OpLeave        = "leave"
	OpRoomOccupied = "room_occupied"
	OpRoomVacated  = "room_vacated"
)

// HTTPConnector returns the http connector called name, or nil.
func (c *Config) HTTPConnector(name string) *HTTPConnector {
	for i := range c.HTTP {
		if c.HTTP[i].Name == name {
			return &c.HTTP[i]
		}
	}
	return nil
}

// Proxy returns the proxy of kind (ProxyConnect, ProxyJoin), or nil.
func (c *Config) Proxy(kind string) *Proxy {
	for i := range c.Proxies {
		if c.Proxies[i].Kind == kind {
			return &c.Proxies[i]
		}
	}
	return nil
}

func defaultHTTPConnector(name string) HTTPConnector {
	return HTTPConnector{
		Name:        name,
		Timeout:     2 * time.Second,
		MaxInFlight: 64,
		Batch:       1,
		QueueSize:   10000,
		RetryFor:    time.Minute,
	}
}

// httpConnector decodes the body of `connector "name" { type = "http" }`.
func (d *decoder) httpConnector(b *hcl.Block, name string) {
	i := len(d.c.HTTP)
	key := fmt.Sprintf("http.%d", i)
	h := defaultHTTPConnector(name)
	h.Pos = d.line(b.DefRange)
	d.c.origins[key] = origin{rng: d.rng(b.DefRange)}
	d.body(b.Body, key, []field{
		{"type", new(string)},
		{"url", &h.URL},
		{"secret_file", &h.SecretFile},
		{"timeout", &h.Timeout},
		{"max_in_flight", &h.MaxInFlight},
		{"batch", &h.Batch},
		{"queue_size", &h.QueueSize},
		{"retry_for", &h.RetryFor},
	})
	d.c.HTTP = append(d.c.HTTP, h)
}

// proxy decodes `proxy "connect" { ... }` and `proxy "join" { ... }`.
func (d *decoder) proxy(b *hcl.Block) {
	kind := b.Labels[0]
	if kind != ProxyConnect && kind != ProxyJoin {
		d.errorf(b.LabelRanges[0].Ptr(), "Unknown proxy",
			"proxy %q: a proxy is \"connect\" or \"join\".", kind)
		return
	}
	if !d.once(b, "proxy "+kind) {
		return
	}
	i := len(d.c.Proxies)
	key := fmt.Sprintf("proxy.%d", i)
	p := Proxy{Kind: kind, OnError: OnErrorRefuse, Pos: d.line(b.DefRange)}
	d.c.origins[key] = origin{rng: d.rng(b.DefRange)}
	fields := []field{
		{"connector", &p.Connector},
		{"target", &p.Target},
		{"on_error", &p.OnError},
	}
	if kind == ProxyJoin {
		fields = append(fields, field{"rooms", &p.Rooms})
	}
	d.body(b.Body, key, fields)
	d.c.Proxies = append(d.c.Proxies, p)
}

// httpConnectors checks the http connectors.
func (v *validator) httpConnectors() {
	names := map[string]bool{v.c.WebSocket.Name: true, v.c.NATS.Name: true}
	for i, h := range v.c.HTTP {
		key := fmt.Sprintf("http.%d", i)
		if names[h.Name] {
			v.add("Duplicate connector name", fmt.Sprintf("a connector named %q is already defined.", h.Name), key)
		}
		names[h.Name] = true
		u, err := url.Parse(h.URL)
		switch {
		case h.URL == "":
			v.add("Missing URL", fmt.Sprintf("connector %q: an http connector needs url = \"https://app.internal/hub\".", h.Name), key+".url", key)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			v.add("Invalid URL", fmt.Sprintf("connector %q: url %q must be an http:// or https:// URL without query or fragment.", h.Name, h.URL), key+".url", key)
		}
		if h.SecretFile == "" {
			v.add("Missing secret file", fmt.Sprintf("connector %q: every request to a backend is signed; set secret_file to a file holding the key.", h.Name), key+".secret_file", key)
		}
		if h.Timeout <= 0 {
			v.add("Invalid timeout", fmt.Sprintf("connector %q: timeout must be greater than zero.", h.Name), key+".timeout", key)
		}
		if h.RetryFor <= 0 {
			v.add("Invalid retry_for", fmt.Sprintf("connector %q: retry_for must be greater than zero.", h.Name), key+".retry_for", key)
		}
		for _, l := range []struct {
			name     string
			n        int
			min, max int
		}{
			{"max_in_flight", h.MaxInFlight, 1, 1 << 16},
			{"batch", h.Batch, 1, 1000},
			{"queue_size", h.QueueSize, 1, 1 << 24},
		} {
			if l.n < l.min || l.n > l.max {
				v.add("Invalid "+strings.ReplaceAll(l.name, "_", " "), fmt.Sprintf("connector %q: %s is %d; it must be %d to %d.", h.Name, l.name, l.n, l.min, l.max), key+"."+l.name, key)
			}
		}
	}
}

// proxies checks the proxy blocks.
func (v *validator) proxies() {
	c := v.c
	for i, p := range c.Proxies {
		key := fmt.Sprintf("proxy.%d", i)
		kind := c.kindOf(p.Connector)
		switch {
		case p.Connector == "":
			v.add("Missing connector", fmt.Sprintf("proxy %q needs connector = \"<http or nats connector>\".", p.Kind), key+".connector", key)
		case kind == KindHTTP:
			if !strings.HasPrefix(p.Target, "/") || strings.ContainsAny(p.Target, " \t\r\n#") {
				v.add("Invalid target", fmt.Sprintf("proxy %q: target %q must be a path like \"/%s\", appended to the connector's url.", p.Kind, p.Target, p.Kind), key+".target", key)
			}
		case kind == KindNATS:
			if !validSubject(p.Target, false) {
				v.add("Invalid target", fmt.Sprintf("proxy %q: with a nats connector the target %q must be the subject requests go to, like \"app.%s\".", p.Kind, p.Target, p.Kind), key+".target", key)
			}
		default:
			v.add("Unknown connector", fmt.Sprintf("proxy %q: connector %q is not an http connector nor the nats connector %q.", p.Kind, p.Connector, c.NATS.Name), key+".connector", key)
		}
		if p.OnError != OnErrorRefuse && p.OnError != OnErrorAllow {
			v.add("Invalid on_error", fmt.Sprintf("proxy %q: on_error %q must be \"refuse\" or \"allow\".", p.Kind, p.OnError), key+".on_error", key)
		}
		if p.Kind == ProxyJoin {
			if len(p.Rooms) == 0 {
				v.add("Missing rooms", "proxy \"join\" needs rooms = [\"private.>\", ...]: the patterns of the rooms whose joins it decides.", key+".rooms", key)
			}
			for _, r := range p.Rooms {
				if !validSubject(r, true) {
					v.add("Invalid room pattern", fmt.Sprintf("proxy \"join\": rooms entry %q must be a room name with NATS wildcards (* one part, > the rest).", r), key+".rooms", key)
				}
			}
		}
	}
}

// httpTarget checks a flow whose target is an http connector.
func (v *validator) httpTarget(f Flow, key string) {
	if f.To.Operation != "" && f.To.Operation != "post" {
		v.add("Invalid operation", fmt.Sprintf("flow %q: an http target POSTs each event to its target path; operation %q must be left out or be \"post\".", f.Name, f.To.Operation), key+".operation", key)
	}
	if !strings.HasPrefix(f.To.Target, "/") || strings.ContainsAny(f.To.Target, " \t\r\n#") {
		v.add("Invalid target", fmt.Sprintf("flow %q: an http target needs target = \"/path\", appended to the connector's url; got %q.", f.Name, f.To.Target), key+".target", key)
	}
}

// wsSourceOps are the events a websocket source may take.
var wsSourceOps = []string{OpConnect, OpMessage, OpDisconnect, OpJoin, OpLeave, OpRoomOccupied, OpRoomVacated}

func validWSSource(op string) bool { return slices.Contains(wsSourceOps, op) }
