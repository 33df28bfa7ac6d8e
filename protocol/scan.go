package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"unsafe"
)

// The fast path of Decode: a single pass over a client frame that handles
// what clients send (an object of plain ASCII keys, the names as plain
// ASCII strings, any JSON value as id and data) without encoding/json's
// reflection, which cost 13 allocations and about 1.3 µs per message frame.
// Whatever it does not handle exactly as encoding/json would (escapes or
// non-ASCII bytes in keys and names, a name that is not a string, nesting
// deeper than encoding/json allows, anything malformed) it leaves to the
// encoding/json path, which then also produces the error. FuzzDecodeFast
// holds the two paths to the same result on every input.

// scanField is a field of rawFrame as the fast path fills it: the JSON
// name of a *string or json.RawMessage field. Fields of other types are
// left to encoding/json (the fast path gives up when it meets one).
type scanField struct {
	name   string
	offset uintptr // of the field in rawFrame
	kind   uint8
}

const (
	fieldString = iota + 1 // *string
	fieldRaw               // json.RawMessage
	fieldOther
)

// scanFields are rawFrame's fields, read from its tags, so that a field
// added there is found here.
var scanFields = func() []scanField {
	t := reflect.TypeFor[rawFrame]()
	var out []scanField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		k := uint8(fieldOther)
		switch f.Type {
		case reflect.TypeFor[*string]():
			k = fieldString
		case reflect.TypeFor[json.RawMessage]():
			k = fieldRaw
		}
		out = append(out, scanField{name: strings.ToLower(name), offset: f.Offset, kind: k})
	}
	return out
}()

// typeNames are the frame types as shared strings, so that the type of a
// frame costs no allocation.
var typeNames = []string{"message", "join_room", "leave_room", "refresh"}

// maxScanDepth is encoding/json's nesting limit; deeper input goes to it.
const maxScanDepth = 10000

// scanFrame fills r from b as json.Unmarshal would; false when the
// encoding/json path must decide (r is then to be discarded). What it puts
// in r is its own, not a slice of b.
func scanFrame(b []byte, r *rawFrame) bool {
	var found [16][]byte // by field position in scanFields: the value's bytes
	var set [16]bool
	if len(scanFields) > len(found) {
		return false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			// key: a plain ASCII string
			if i >= len(b) || b[i] != '"' {
				return false
			}
			ks := i + 1
			ke := ks
			for ke < len(b) && b[ke] != '"' {
				if c := b[ke]; c == '\\' || c < 0x20 || c >= 0x80 {
					return false
				}
				ke++
			}
			if ke >= len(b) {
				return false
			}
			key := b[ks:ke]
			i = skipSpace(b, ke+1)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i = skipSpace(b, i+1)
			vs := i
			ve, ok := skipValue(b, i, 1)
			if !ok {
				return false
			}
			for k, f := range scanFields {
				if !foldEq(key, f.name) {
					continue
				}
				v := b[vs:ve]
				switch f.kind {
				case fieldString:
					c, present, ok := nameValue(v)
					if !ok {
						return false
					}
					found[k], set[k] = c, present
				case fieldRaw:
					found[k], set[k] = v, true
				default:
					return false
				}
				break
			}
			i = skipSpace(b, ve)
			if i >= len(b) {
				return false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return false
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return false
	}
	// Set the fields through their offsets (taken from reflect at init):
	// reflect.Value.Set would move r to the heap.
	var cells []string
	for k, f := range scanFields {
		if !set[k] {
			continue
		}
		at := unsafe.Add(unsafe.Pointer(r), f.offset)
		switch f.kind {
		case fieldString:
			p := sharedName(found[k])
			if p == nil {
				if cells == nil {
					cells = make([]string, 0, strFields)
				}
				cells = append(cells, string(found[k]))
				p = &cells[len(cells)-1]
			}
			*(**string)(at) = p
		case fieldRaw:
			*(*json.RawMessage)(at) = bytes.Clone(found[k])
		}
	}
	return true
}

// strFields is the number of *string fields in rawFrame.
var strFields = func() int {
	n := 0
	for _, f := range scanFields {
		if f.kind == fieldString {
			n++
		}
	}
	return n
}()

// sharedName returns a pointer to the shared copy of a frame type's name,
// nil for any other value. Nobody writes through it.
func sharedName(v []byte) *string {
	for i := range typeNames {
		if string(v) == typeNames[i] {
			return &typeNames[i]
		}
	}
	return nil
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

// afterItem reads what follows an object member or an array element at i:
// the container's close (end), or a comma and the space before the next
// item; anything else is malformed (!ok).
func afterItem(b []byte, i int, close byte) (next int, end, ok bool) {
	i = skipSpace(b, i)
	switch {
	case i >= len(b):
		return i, false, false
	case b[i] == close:
		return i + 1, true, true
	case b[i] != ',':
		return i, false, false
	}
	return skipSpace(b, i+1), false, true
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
			var end bool
			if i, end, ok = afterItem(b, i, '}'); !ok || end {
				return i, ok
			}
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
			var end bool
			if i, end, ok = afterItem(b, i, ']'); !ok || end {
				return i, ok
			}
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
