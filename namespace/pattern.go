package namespace

import (
	"fmt"
	"strings"

	"github.com/hubrt/hub/protocol"
)

// Match reports whether room matches pattern, with NATS token wildcards:
// the room and the pattern are split at dots into tokens; "*" matches
// exactly one token, ">" as the last token matches one or more tokens, and
// every other token matches itself only. A wildcard never crosses a dot:
// "orders.*" matches "orders.eu" but not "orders.eu.1" (use "orders.>").
// A partial wildcard such as "chat*" is a literal token, which no valid
// room name equals. Match does not allocate.
func Match(pattern, room string) bool {
	for {
		pt, prest, pmore := cut(pattern)
		if pt == ">" && !pmore {
			return room != ""
		}
		rt, rrest, rmore := cut(room)
		if room == "" {
			return false
		}
		if pt != "*" && pt != rt {
			return false
		}
		if !pmore || !rmore {
			return pmore == rmore
		}
		pattern, room = prest, rrest
	}
}

// cut splits s at its first dot: the first token, the rest, and whether
// there was a dot.
func cut(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// ValidPattern checks a room pattern: dot-separated tokens, each "*", ">"
// (last token only) or a literal of room-name characters (letters, digits
// and "_-:@"); no empty token, no partial wildcard ("chat*"), at most
// protocol.MaxNameLen bytes.
func ValidPattern(p string) error {
	if p == "" {
		return fmt.Errorf("pattern is empty")
	}
	if len(p) > protocol.MaxNameLen {
		return fmt.Errorf("pattern %q is longer than %d bytes", p, protocol.MaxNameLen)
	}
	toks := strings.Split(p, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("pattern %q has an empty token", p)
		case t == ">":
			if i != len(toks)-1 {
				return fmt.Errorf("pattern %q: \">\" may only be the last token", p)
			}
		case t == "*":
		case strings.ContainsAny(t, "*>"):
			return fmt.Errorf("pattern %q: token %q mixes a wildcard with other characters; a wildcard is a whole token", p, t)
		case !protocol.ValidToken(t):
			return fmt.Errorf("pattern %q: token %q may hold only letters, digits and \"_-:@\"", p, t)
		}
	}
	return nil
}

// Overlap reports whether two valid patterns can match a common room name,
// that is, whether some room (ignoring the length limit on names) matches
// both. Token by token from the left: two literals must be equal, "*"
// agrees with any one token, and ">" agrees with whatever non-empty rest
// the other pattern has. "chat.*" and "chat.>" overlap ("chat.x"); "chat.>"
// and "chat" do not (">" needs at least one token); "a.*.c" and "a.b.*"
// overlap ("a.b.c"); "a.*" and "a.*.*" do not.
func Overlap(a, b string) bool {
	for {
		at, arest, amore := cut(a)
		bt, brest, bmore := cut(b)
		if (at == ">" && !amore) || (bt == ">" && !bmore) {
			return true
		}
		if at != "*" && bt != "*" && at != bt {
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}
