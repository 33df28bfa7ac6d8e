package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hubrt/hub/namespace"
)

var namespaceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "rooms"},
		{Name: "client_publish"},
		{Name: "anonymous"},
		{Name: "join_proxy"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "history"}, {Type: "presence"}},
}

// namespace decodes `namespace "name" { rooms = [...] ... history {...} presence {...} }`.
// Defaults: anonymous = true, client_publish inherits the node's; a history
// or presence block gets the defaults of namespace.History / Presence.
func (d *decoder) namespace(b *hcl.Block) {
	i := len(d.c.Namespaces)
	key := fmt.Sprintf("namespace.%d", i)
	ns := namespace.Namespace{Name: b.Labels[0], Anonymous: true, Pos: d.line(b.DefRange)}
	d.c.origins[key] = origin{rng: d.rng(b.DefRange)}
	d.c.origins[key+".name"] = origin{rng: d.rng(b.LabelRanges[0])}
	content, diags := b.Body.Content(namespaceSchema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return
	}
	if a, ok := content.Attributes["rooms"]; ok && d.value(a, &ns.Rooms) {
		d.c.origins[key+".rooms"] = origin{rng: d.rng(a.Expr.Range())}
	}
	if a, ok := content.Attributes["client_publish"]; ok {
		var v bool
		if d.value(a, &v) {
			ns.ClientPublish = &v
			d.c.origins[key+".client_publish"] = origin{rng: d.rng(a.Expr.Range())}
		}
	}
	if a, ok := content.Attributes["anonymous"]; ok && d.value(a, &ns.Anonymous) {
		d.c.origins[key+".anonymous"] = origin{rng: d.rng(a.Expr.Range())}
	}
	if a, ok := content.Attributes["join_proxy"]; ok && d.value(a, &ns.JoinProxy) {
		d.c.origins[key+".join_proxy"] = origin{rng: d.rng(a.Expr.Range())}
	}
	var seen [2]*hcl.Block
	for _, e := range content.Blocks {
		slot := 0
		if e.Type == "presence" {
			slot = 1
		}
		if seen[slot] != nil {
			d.errorf(e.DefRange.Ptr(), "Duplicate "+e.Type+" block",
				"Namespace %q already has a %s block at %s.", ns.Name, e.Type, d.line(seen[slot].DefRange))
			continue
		}
		seen[slot] = e
		k := key + "." + e.Type
		d.c.origins[k] = origin{rng: d.rng(e.DefRange)}
		if e.Type == "history" {
			h := &namespace.History{Size: namespace.DefaultHistorySize, MaxBytes: namespace.DefaultHistoryMaxBytes, Storage: namespace.StorageFile}
			var storage string
			d.body(e.Body, k, []field{
				{"size", &h.Size},
				{"ttl", &h.TTL},
				{"max_bytes", &h.MaxBytes},
				{"storage", &storage},
				{"replicas", &h.Replicas},
			})
			if storage != "" {
				h.Storage = namespace.Storage(storage)
			}
			ns.History = h
		} else {
			p := &namespace.Presence{MaxList: namespace.DefaultPresenceMaxList, LeaveDelay: namespace.DefaultPresenceLeaveDelay}
			d.body(e.Body, k, []field{
				{"join_leave", &p.JoinLeave},
				{"max_list", &p.MaxList},
				{"leave_delay", &p.LeaveDelay},
			})
			ns.Presence = p
		}
	}
	d.c.Namespaces = append(d.c.Namespaces, ns)
}

// validNamespaceName: letters, digits, "_" and "-" (it names a JetStream stream).
func validNamespaceName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (v *validator) namespaces() {
	c := v.c
	names := map[string]string{}
	valid := true
	for i := range c.Namespaces {
		ns := &c.Namespaces[i]
		key := fmt.Sprintf("namespace.%d", i)
		switch {
		case !validNamespaceName(ns.Name):
			v.add("Invalid namespace name", fmt.Sprintf("namespace name %q must be 1 to 64 letters, digits, \"_\" or \"-\".", ns.Name), key+".name", key)
		case names[ns.Name] != "":
			v.add("Duplicate namespace name", fmt.Sprintf("a namespace named %q is already defined at %s.", ns.Name, names[ns.Name]), key+".name", key)
		default:
			names[ns.Name] = cmpOr(ns.Pos, "namespace "+ns.Name)
		}
		if len(ns.Rooms) == 0 {
			v.add("Missing rooms", fmt.Sprintf("namespace %q needs rooms = [\"pattern\", ...], like [\"chat.>\", \"dm.*\"].", ns.Name), key+".rooms", key)
			valid = false
		}
		for _, p := range ns.Rooms {
			if err := namespace.ValidPattern(p); err != nil {
				v.add("Invalid room pattern", fmt.Sprintf("namespace %q: %v; a pattern is dot-separated tokens, \"*\" for one token and \">\" (last) for the rest.", ns.Name, err), key+".rooms", key)
				valid = false
			}
		}
		if ns.JoinProxy != "" && (ns.JoinProxy == c.WebSocket.Name || !c.hasConnector(ns.JoinProxy)) {
			v.add("Unknown connector", fmt.Sprintf("namespace %q: join_proxy %q must name a declared backend connector (not the websocket one).", ns.Name, ns.JoinProxy), key+".join_proxy", key)
		}
		if h := ns.History; h != nil {
			hk := key + ".history"
			if h.Size < 1 {
				v.add("Invalid history size", fmt.Sprintf("namespace %q: size %d must be at least 1 (messages kept per room).", ns.Name, h.Size), hk+".size", hk, key)
			}
			if h.TTL < 0 {
				v.add("Invalid history ttl", fmt.Sprintf("namespace %q: ttl %s must not be negative (0 = kept until trimmed by size).", ns.Name, h.TTL), hk+".ttl", hk, key)
			}
			if h.MaxBytes == 0 || h.MaxBytes < -1 {
				v.add("Invalid history max_bytes", fmt.Sprintf("namespace %q: max_bytes %d must be at least 1, or -1 for unlimited.", ns.Name, h.MaxBytes), hk+".max_bytes", hk, key)
			}
			if h.Storage != namespace.StorageFile && h.Storage != namespace.StorageMemory {
				v.add("Invalid history storage", fmt.Sprintf("namespace %q: storage %q must be \"file\" or \"memory\".", ns.Name, h.Storage), hk+".storage", hk, key)
			}
			if h.Replicas < 0 || h.Replicas > 5 {
				v.add("Invalid history replicas", fmt.Sprintf("namespace %q: replicas %d must be 1 to 5, or 0 for automatic (3 with 3 or more nodes).", ns.Name, h.Replicas), hk+".replicas", hk, key)
			}
		}
		if p := ns.Presence; p != nil {
			pk := key + ".presence"
			if p.MaxList < 1 {
				v.add("Invalid presence max_list", fmt.Sprintf("namespace %q: max_list %d must be at least 1.", ns.Name, p.MaxList), pk+".max_list", pk, key)
			}
			if p.LeaveDelay < 0 || p.LeaveDelay > namespace.MaxPresenceLeaveDelay {
				v.add("Invalid presence leave_delay", fmt.Sprintf("namespace %q: leave_delay %s must be from \"0s\" (leaves at once) to %q.", ns.Name, p.LeaveDelay, namespace.MaxPresenceLeaveDelay.String()), pk+".leave_delay", pk, key)
			}
		}
	}
	if !valid {
		return
	}
	for i := range c.Namespaces {
		for j := i + 1; j < len(c.Namespaces); j++ {
			a, b := &c.Namespaces[i], &c.Namespaces[j]
			if pa, pb, ok := namespace.Overlapping(a, b); ok {
				v.add("Overlapping namespaces", fmt.Sprintf("namespace %q (%q) and namespace %q at %s (%q) can both match room %q; a room must belong to one namespace.",
					b.Name, pb, a.Name, cmpOr(a.Pos, "namespace "+a.Name), pa, namespace.Witness(pa, pb)),
					fmt.Sprintf("namespace.%d.rooms", j), fmt.Sprintf("namespace.%d", j))
			}
		}
	}
}

// hasConnector reports whether a connector called name is declared (or is
// one of the defaults).
func (c *Config) hasConnector(name string) bool { return c.kindOf(name) != "" }

func cmpOr(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// NamespaceSet builds the lookup of c's namespaces. c must be valid.
func (c *Config) NamespaceSet() (*namespace.Set, error) {
	return namespace.New(c.Namespaces)
}
