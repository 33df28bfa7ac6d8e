package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// Parse reads an HCL configuration (SPEC §2) on top of Default and validates
// the result. filename is used in messages and stored in Config.Source.
// Every error names the file, line and column: the error is an errors.Join
// of *hcl.Diagnostic values, one per problem, each formatted
// "file:line,col-col: summary; detail".
func Parse(src []byte, filename string) (*Config, error) {
	c, err := parse(src, filename)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadFile reads and parses the HCL file at path, like Parse.
func LoadFile(path string) (*Config, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(src, path)
}

func readFile(path string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return src, nil
}

// parse is Parse without validation: Load validates once the environment and
// flags are applied.
func parse(src []byte, filename string) (*Config, error) {
	c := Default()
	c.Source = filename
	c.origins = map[string]origin{}
	d := &decoder{c: c}
	d.decode(src, filename)
	if d.diags.HasErrors() {
		errs := make([]error, 0, len(d.diags))
		for _, dg := range d.diags {
			if dg.Severity == hcl.DiagError {
				errs = append(errs, dg)
			}
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// origin says where a value was set: a range in the config file, or a flag
// or environment variable ("flag -port", "env HUB_PORT").
type origin struct {
	rng  *hcl.Range
	from string
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "node"},
		{Type: "connector", LabelNames: []string{"name"}},
		{Type: "auth"},
		{Type: "cluster"},
		{Type: "metrics"},
		{Type: "flow", LabelNames: []string{"name"}},
		{Type: "namespace", LabelNames: []string{"name"}},
		{Type: "proxy", LabelNames: []string{"kind"}},
	},
}

// decoder fills a Config from one file, collecting every problem.
type decoder struct {
	c     *Config
	m     *srcMap
	diags hcl.Diagnostics
	seen  map[string]hcl.Range // singleton blocks and connector types/names already defined
}

// field binds an HCL attribute name to a Config field. ptr is one of
// *string, *int, *bool, *float64, *time.Duration or *[]string.
type field struct {
	name string
	ptr  any
}

func (d *decoder) decode(src []byte, filename string) {
	d.seen = map[string]hcl.Range{}
	rewritten, m := splitSingleLine(src, filename)
	d.m = m
	defer func() { m.diags(d.diags) }()

	f, diags := hclparse.NewParser().ParseHCL(rewritten, filename)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || f == nil {
		return
	}
	content, diags := f.Body.Content(rootSchema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return
	}
	c := d.c
	for _, b := range content.Blocks {
		switch b.Type {
		case "node":
			if d.once(b, "node") {
				n := &c.Node
				d.body(b.Body, "node", []field{
					{"name", &n.Name},
					{"dev", &n.Dev},
					{"log_level", &n.LogLevel},
					{"log_format", &n.LogFormat},
					{"demo", &n.Demo},
					{"client_publish", &n.ClientPublish},
					{"client_direct", &n.ClientDirect},
					{"shutdown_timeout", &n.ShutdownTimeout},
					{"data_dir", &n.DataDir},
				})
			}
		case "connector":
			d.connector(b)
		case "auth":
			if d.once(b, "auth") {
				a := &c.Auth
				d.body(b.Body, "auth", []field{
					{"jwt_secret", &a.JWTSecret},
					{"jwt_public_key", &a.JWTPublicKey},
					{"jwt_public_key_file", &a.JWTPublicKeyFile},
					{"jwt_leeway", &a.JWTLeeway},
					{"token_grace", &a.TokenGrace},
					{"api_key", &a.APIKey},
					{"admin_token", &a.AdminToken},
				})
			}
		case "cluster":
			if d.once(b, "cluster") {
				cl := &c.Cluster
				d.body(b.Body, "cluster", []field{
					{"bind", &cl.Bind},
					{"advertise", &cl.Advertise},
					{"join", &cl.Join},
					{"rejoin_interval", &cl.RejoinInterval},
					{"bootstrap_expect", &cl.BootstrapExpect},
					{"failure_grace", &cl.FailureGrace},
					{"secret", &cl.Secret},
					{"secret_file", &cl.SecretFile},
					{"insecure", &cl.Insecure},
				})
			}
		case "metrics":
			if d.once(b, "metrics") {
				d.body(b.Body, "metrics", []field{{"listen", &c.Metrics.Listen}})
			}
		case "flow":
			d.flow(b)
		case "namespace":
			d.namespace(b)
		case "proxy":
			d.proxy(b)
		}
	}
	// Resolve endpoint kinds now that every connector is known; flows may
	// come before the connectors in the file.
	for i := range c.Flows {
		c.Flows[i].From.Kind = c.kindOf(c.Flows[i].From.Connector)
		c.Flows[i].To.Kind = c.kindOf(c.Flows[i].To.Connector)
	}
}

// kindOf returns the type of the connector called name, or "" when there is none.
func (c *Config) kindOf(name string) string {
	switch name {
	case c.WebSocket.Name:
		return KindWebSocket
	case c.NATS.Name:
		return KindNATS
	}
	if c.HTTPConnector(name) != nil {
		return KindHTTP
	}
	return ""
}

// once records a block that may appear only once and reports whether this is
// its first appearance.
func (d *decoder) once(b *hcl.Block, key string) bool {
	if first, ok := d.seen[key]; ok {
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
			Detail:   fmt.Sprintf("Only one %s block is allowed; the first is at %s.", b.Type, d.line(first)),
			Subject:  b.DefRange.Ptr(),
		})
		return false
	}
	d.seen[key] = b.DefRange
	d.c.origins[key] = origin{rng: d.rng(b.DefRange)}
	return true
}

// rng maps a range of the rewritten source back to the file as written.
func (d *decoder) rng(r hcl.Range) *hcl.Range {
	m := d.m.rng(r)
	return &m
}

// line formats r as "file:line" in the file as written.
func (d *decoder) line(r hcl.Range) string {
	m := d.m.rng(r)
	return fmt.Sprintf("%s:%d", m.Filename, m.Start.Line)
}

var connectorTypeSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "type"}}}

func (d *decoder) connector(b *hcl.Block) {
	name := b.Labels[0]
	content, _, diags := b.Body.PartialContent(connectorTypeSchema)
	d.diags = append(d.diags, diags...)
	attr, ok := content.Attributes["type"]
	if !ok {
		d.errorf(b.DefRange.Ptr(), "Missing connector type",
			"Connector %q needs type = %q, %q or %q.", name, KindWebSocket, KindNATS, KindHTTP)
		return
	}
	var typ string
	if diags := decodeExpr(attr.Expr, &typ); diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return
	}
	if typ != KindWebSocket && typ != KindNATS && typ != KindHTTP {
		d.errorf(attr.Expr.Range().Ptr(), "Unknown connector type",
			"Connector %q has type %q; the type must be %q, %q or %q.", name, typ, KindWebSocket, KindNATS, KindHTTP)
		return
	}
	if first, ok := d.seen["connector "+name]; ok {
		d.errorf(b.LabelRanges[0].Ptr(), "Duplicate connector name",
			"A connector named %q is already defined at %s.", name, d.line(first))
		return
	}
	if typ == KindHTTP {
		d.seen["connector "+name] = b.DefRange
		d.httpConnector(b, name)
		return
	}
	if first, ok := d.seen["type "+typ]; ok {
		d.errorf(attr.Expr.Range().Ptr(), "Duplicate "+typ+" connector",
			"A hub has at most one connector of each type; the %s connector is already defined at %s.", typ, d.line(first))
		return
	}
	d.seen["connector "+name] = b.DefRange
	d.seen["type "+typ] = b.DefRange

	if typ == KindWebSocket {
		w := &d.c.WebSocket
		w.Name = name
		d.c.origins["ws"] = origin{rng: d.rng(b.DefRange)}
		d.body(b.Body, "ws", []field{
			{"type", new(string)},
			{"host", &w.Host},
			{"port", &w.Port},
			{"path", &w.Path},
			{"ping_interval", &w.PingInterval},
			{"pong_timeout", &w.PongTimeout},
			{"handshake_timeout", &w.HandshakeTimeout},
			{"write_timeout", &w.WriteTimeout},
			{"allowed_origins", &w.AllowedOrigins},
			{"max_frame_bytes", &w.MaxFrameBytes},
			{"max_rooms_per_connection", &w.MaxRoomsPerConnection},
			{"max_messages_per_second", &w.MaxMessagesPerSecond},
			{"message_burst", &w.MessageBurst},
			{"max_connections", &w.MaxConnections},
			{"max_connections_per_ip", &w.MaxConnectionsPerIP},
			{"max_connections_per_user", &w.MaxConnectionsPerUser},
			{"user_limit_policy", &w.UserLimitPolicy},
			{"max_connection_age", &w.MaxConnectionAge},
			{"write_queue_bytes", &w.WriteQueueBytes},
			{"write_queue_frames", &w.WriteQueueFrames},
			{"compression", &w.Compression},
			{"compression_level", &w.CompressionLevel},
			{"compression_min_bytes", &w.CompressionMinBytes},
			{"max_inflated_bytes", &w.MaxInflatedBytes},
			{"gateway", &w.Gateway},
		})
		return
	}
	n := &d.c.NATS
	n.Name = name
	d.c.origins["nats"] = origin{rng: d.rng(b.DefRange)}
	d.body(b.Body, "nats", []field{
		{"type", new(string)},
		{"url", &n.URL},
		{"subject_prefix", &n.SubjectPrefix},
		{"listen", &n.Listen},
		{"cluster_listen", &n.ClusterListen},
		{"credentials", &n.Credentials},
		{"users", &n.Users},
	})
}

var (
	flowSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "from"}, {Type: "to"}}}
)

func (d *decoder) flow(b *hcl.Block) {
	i := len(d.c.Flows)
	key := fmt.Sprintf("flow.%d", i)
	f := Flow{Name: b.Labels[0], Pos: d.line(b.DefRange)}
	d.c.origins[key] = origin{rng: d.rng(b.DefRange)}
	d.c.origins[key+".name"] = origin{rng: d.rng(b.LabelRanges[0])}
	content, diags := b.Body.Content(flowSchema)
	d.diags = append(d.diags, diags...)
	var from, to *hcl.Block
	for _, e := range content.Blocks {
		p := &from
		if e.Type == "to" {
			p = &to
		}
		if *p != nil {
			d.errorf(e.DefRange.Ptr(), "Duplicate "+e.Type+" block",
				"Flow %q already has a %s block at %s.", f.Name, e.Type, d.line((*p).DefRange))
			continue
		}
		*p = e
	}
	for _, side := range []struct {
		name string
		blk  *hcl.Block
		ep   *Endpoint
	}{{"from", from, &f.From}, {"to", to, &f.To}} {
		if side.blk == nil {
			d.errorf(b.DefRange.Ptr(), "Missing "+side.name+" block",
				"Flow %q needs a %s { connector = ... } block.", f.Name, side.name)
			continue
		}
		k := key + "." + side.name
		d.c.origins[k] = origin{rng: d.rng(side.blk.DefRange)}
		d.body(side.blk.Body, k, []field{
			{"connector", &side.ep.Connector},
			{"operation", &side.ep.Operation},
			{"target", &side.ep.Target},
		})
		if _, ok := d.c.origins[k+".connector"]; !ok {
			d.errorf(side.blk.DefRange.Ptr(), "Missing connector",
				"The %s block of flow %q needs connector = \"<name>\".", side.name, f.Name)
		}
		if p, ok := strings.CutPrefix(side.ep.Target, "input."); ok {
			side.ep.TargetPath = strings.Split(p, ".")
		}
	}
	d.c.Flows = append(d.c.Flows, f)
}

// body decodes the attributes of a block into fields; any other attribute
// or a nested block is an error. prefix keys the origins ("ws" → "ws.port").
func (d *decoder) body(body hcl.Body, prefix string, fields []field) {
	schema := &hcl.BodySchema{}
	for _, f := range fields {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: f.name})
	}
	content, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	for _, f := range fields {
		a, ok := content.Attributes[f.name]
		if !ok {
			continue
		}
		if d.value(a, f.ptr) {
			d.c.origins[prefix+"."+f.name] = origin{rng: d.rng(a.Expr.Range())}
		}
	}
}

// value decodes one attribute into ptr and reports whether it succeeded.
func (d *decoder) value(a *hcl.Attribute, ptr any) bool {
	var diags hcl.Diagnostics
	switch p := ptr.(type) {
	case *time.Duration:
		var s string
		diags = decodeExpr(a.Expr, &s)
		if !diags.HasErrors() {
			v, err := time.ParseDuration(s)
			if err != nil {
				d.errorf(a.Expr.Range().Ptr(), "Invalid duration",
					"%s = %q is not a duration; write a string like \"30s\", \"500ms\" or \"1m30s\".", a.Name, s)
				return false
			}
			*p = v
		}
	case *[]string:
		var v []string
		diags = decodeExpr(a.Expr, &v)
		if !diags.HasErrors() {
			*p = v
		}
	default:
		diags = decodeExpr(a.Expr, ptr)
	}
	for _, dg := range diags {
		if dg.Subject == nil {
			dg.Subject = a.Expr.Range().Ptr()
		}
		if dg.Detail != "" && !strings.Contains(dg.Detail, a.Name) {
			dg.Detail = fmt.Sprintf("%s: %s", a.Name, dg.Detail)
		}
	}
	d.diags = append(d.diags, diags...)
	return !diags.HasErrors()
}

func (d *decoder) errorf(subject *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject,
	})
}

// decodeExpr evaluates expr without variables or functions and stores the
// result in ptr (a *string, *int, *bool, *float64 or *[]string).
func decodeExpr(expr hcl.Expression, ptr any) hcl.Diagnostics {
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	fail := func(detail string) hcl.Diagnostics {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsuitable value type",
			Detail:   detail,
			Subject:  expr.Range().Ptr(),
		})
	}
	if val.IsNull() {
		return fail("Unsuitable value: the value must not be null.")
	}
	if !val.IsWhollyKnown() {
		return fail("Unsuitable value: the value must be known.")
	}
	ty, err := gocty.ImpliedType(ptr)
	if err != nil {
		panic(fmt.Sprintf("config: unsuitable decode target %T: %v", ptr, err))
	}
	if val, err = convert.Convert(val, ty); err != nil {
		return fail(fmt.Sprintf("Unsuitable value: %s.", err))
	}
	if ty.IsListType() && val.LengthInt() > 0 {
		for it := val.ElementIterator(); it.Next(); {
			if _, e := it.Element(); e.IsNull() {
				return fail("Unsuitable value: list elements must not be null.")
			}
		}
	}
	if err := gocty.FromCtyValue(val, ptr); err != nil {
		return fail(fmt.Sprintf("Unsuitable value: %s.", err))
	}
	return diags
}
