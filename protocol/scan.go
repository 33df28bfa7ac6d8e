package protocol

// The fast path of Decode: a single pass over a client frame that handles
// what clients send (an object of plain ASCII keys, the names as plain
// ASCII strings, any JSON value as id and data) without encoding/json's
// reflection, which cost 13 allocations and about 1.3 µs per message frame.
// Whatever it does not handle exactly as encoding/json would (escapes or
// non-ASCII bytes in keys and names, a name that is not a string, nesting
// deeper than encoding/json allows, anything malformed) it leaves to the
// encoding/json path, which then also produces the error. FuzzDecodeFast
// holds the two paths to the same result on every input.

// scanned is what the fast path found: the same fields as rawFrame, as
// slices of the input.
type scanned struct {
	typ, room, user []byte // contents of the strings; nil when absent or null
	id, data        []byte // raw JSON values; nil when absent
	hasType         bool
	hasRoom         bool
	hasUser         bool
}

// maxScanDepth is encoding/json's nesting limit; deeper input goes to it.
const maxScanDepth = 10000

// scanFrame scans b; ok is false when the encoding/json path must decide.
func scanFrame(b []byte) (s scanned, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return s, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			// key: a plain ASCII string
			if i >= len(b) || b[i] != '"' {
				return s, false
			}
			ks := i + 1
			ke := ks
			for ke < len(b) && b[ke] != '"' {
				if c := b[ke]; c == '\\' || c < 0x20 || c >= 0x80 {
					return s, false
				}
				ke++
			}
			if ke >= len(b) {
				return s, false
			}
			key := b[ks:ke]
			i = skipSpace(b, ke+1)
			if i >= len(b) || b[i] != ':' {
				return s, false
			}
			i = skipSpace(b, i+1)
			vs := i
			var ve int
			if ve, ok = skipValue(b, i, 1); !ok {
				return s, false
			}
			v := b[vs:ve]
			switch {
			case foldEq(key, "type"):
				if s.typ, s.hasType, ok = nameValue(v); !ok {
					return s, false
				}
			case foldEq(key, "room"):
				if s.room, s.hasRoom, ok = nameValue(v); !ok {
					return s, false
				}
			case foldEq(key, "user"):
				if s.user, s.hasUser, ok = nameValue(v); !ok {
					return s, false
				}
			case foldEq(key, "id"):
				s.id = v
			case foldEq(key, "data"):
				s.data = v
			}
			i = skipSpace(b, ve)
			if i >= len(b) {
				return s, false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return s, false
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return s, false
	}
	return s, true
}

// nameValue reads a value meant for a *string field: a string of plain
// ASCII (its contents) or null (absent). Anything else is not for the fast
// path.
func nameValue(v []byte) (contents []byte, present, ok bool) {
	if len(v) == 4 && string(v) == "null" {
		return nil, false, true
	}
	if len(v) < 2 || v[0] != '"' {
		return nil, false, false
	}
	c := v[1 : len(v)-1]
	for _, ch := range c {
		if ch == '\\' || ch >= 0x80 {
			return nil, false, false
		}
	}
	return c, true, true
}

// foldEq reports whether ASCII key equals name (lower case ASCII) but for
// case, as encoding/json matches field names.
func foldEq(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range len(key) {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i]; ok is false
// for malformed input or nesting past maxScanDepth.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		if depth >= maxScanDepth {
			return i, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			var ok bool
			if i, ok = skipString(b, i); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = skipValue(b, skipSpace(b, i+1), depth+1); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case c == '[':
		if depth >= maxScanDepth {
			return i, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return i, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipString returns the end of the string starting at b[i] (a quote).
// Like encoding/json's scanner it checks escapes but not UTF-8.
func skipString(b []byte, i int) (int, bool) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 5 {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return i, false
					}
				}
				i += 5
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

// skipNumber returns the end of the number starting at b[i], by JSON's
// grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	switch {
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	// A number must end at a delimiter; "1x" is malformed.
	if i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
		default:
			return i, false
		}
	}
	return i, true
}
