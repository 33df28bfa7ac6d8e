package namespace

import (
	"errors"
	"fmt"
	"time"
)

// Storage is where a namespace's history is kept.
type Storage string

// History storage kinds.
const (
	StorageFile   Storage = "file"
	StorageMemory Storage = "memory"
)

// Namespace holds the options of one group of rooms (HCL block
// `namespace "name" { rooms = [...] ... }`, SPEC §9). It is plain data.
type Namespace struct {
	Name  string   // label of the block; letters, digits, "_" and "-"; names the history stream
	Rooms []string // NATS-style patterns (see Match); at least one
	// ClientPublish overrides the node's client_publish for these rooms;
	// nil inherits it.
	ClientPublish *bool
	// Anonymous says whether anonymous connections may join these rooms;
	// default true. false answers their join with error 206.
	Anonymous bool
	History   *History  // nil: no history (no `history` block)
	Presence  *Presence // nil: no presence (no `presence` block)
	// JoinProxy names the connector of the backend that authorizes each
	// join to these rooms ("" for none). The config checks that it names a
	// declared connector other than the WebSocket one.
	JoinProxy string
	Pos       string // "file:line" of the block, for messages
}

// History configures the stored history of a namespace's rooms (block
// `history { ... }`, SPEC §10). The config applies the defaults.
type History struct {
	Size     int           // messages kept per room; default 100; >= 1
	TTL      time.Duration // how long a message is kept; default 0 = until trimmed by size; >= 0
	MaxBytes int64         // bytes kept for the whole namespace; default 1 GiB; >= 1 (-1 = unlimited)
	Storage  Storage       // "file" (default) or "memory"
	Replicas int           // copies of each message; default 0 = automatic: 3 with 3 or more nodes, else 1; 1..5
}

// Presence configures the presence of a namespace's rooms (block
// `presence { ... }`, SPEC §11). The config applies the defaults.
type Presence struct {
	JoinLeave bool // members receive join and leave frames; default false
	MaxList   int  // above this many members only counts are kept; default 1000; >= 1
	// LeaveDelay is how long a user whose last connection left is still
	// present (a reload or a reconnect elsewhere within it is no leave),
	// and how long an empty room waits before room_vacated. The config
	// sets DefaultPresenceLeaveDelay (2s); 0 means at once; at most
	// MaxPresenceLeaveDelay.
	LeaveDelay time.Duration
}

// History defaults.
const (
	DefaultHistorySize     = 100
	DefaultHistoryMaxBytes = 1 << 30
	DefaultPresenceMaxList = 1000
	// DefaultPresenceLeaveDelay and MaxPresenceLeaveDelay bound
	// Presence.LeaveDelay.
	DefaultPresenceLeaveDelay = 2 * time.Second
	MaxPresenceLeaveDelay     = 5 * time.Minute
)

// Set is a validated list of namespaces, looked up by room. A Set is
// immutable and safe for concurrent use; the zero Set and a nil *Set hold
// no namespace.
type Set struct {
	list []*Namespace
}

// ErrOverlap is wrapped by New when two namespaces can hold the same room.
var ErrOverlap = errors.New("namespace: overlapping namespaces")

// New checks the patterns of nss and builds a Set that keeps their order.
// Two namespaces overlap when a pattern of one and a pattern of the other
// can match a common room name (see Overlap); that is an error wrapping
// ErrOverlap, as is an invalid pattern. Patterns of one namespace may
// overlap each other. New copies nothing: the Set refers to the given
// namespaces, which nobody may change afterwards.
func New(nss []Namespace) (*Set, error) {
	s := &Set{list: make([]*Namespace, len(nss))}
	var errs []error
	for i := range nss {
		s.list[i] = &nss[i]
		for _, p := range nss[i].Rooms {
			if err := ValidPattern(p); err != nil {
				errs = append(errs, fmt.Errorf("namespace %q: %w", nss[i].Name, err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i := range nss {
		for j := i + 1; j < len(nss); j++ {
			if a, b, ok := Overlapping(&nss[i], &nss[j]); ok {
				errs = append(errs, fmt.Errorf("%w: %q (%s) and %q (%s) can both match a room such as %q",
					ErrOverlap, nss[i].Name, a, nss[j].Name, b, Witness(a, b)))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Overlapping returns the first pair of patterns, one of a and one of b,
// that overlap.
func Overlapping(a, b *Namespace) (pa, pb string, ok bool) {
	for _, x := range a.Rooms {
		for _, y := range b.Rooms {
			if Overlap(x, y) {
				return x, y, true
			}
		}
	}
	return "", "", false
}

// Witness returns a room name matched by both overlapping patterns a and
// b, for messages: wildcards become "x".
func Witness(a, b string) string {
	var out []byte
	for {
		at, arest, amore := cut(a)
		bt, brest, bmore := cut(b)
		if len(out) > 0 {
			out = append(out, '.')
		}
		switch {
		case at == ">" && !amore:
			return string(append(out, witnessRest(b)...))
		case bt == ">" && !bmore:
			return string(append(out, witnessRest(a)...))
		case at != "*":
			out = append(out, at...)
		case bt != "*":
			out = append(out, bt...)
		default:
			out = append(out, 'x')
		}
		if !amore || !bmore {
			return string(out)
		}
		a, b = arest, brest
	}
}

func witnessRest(p string) string {
	b := []byte(p)
	for i := range b {
		if b[i] == '*' || b[i] == '>' {
			b[i] = 'x'
		}
	}
	return string(b)
}

// Lookup returns the first namespace with a pattern matching room; false
// when none does (the room gets the node defaults). It does not allocate.
func (s *Set) Lookup(room string) (*Namespace, bool) {
	if s == nil {
		return nil, false
	}
	for _, ns := range s.list {
		for _, p := range ns.Rooms {
			if Match(p, room) {
				return ns, true
			}
		}
	}
	return nil, false
}

// All returns the namespaces in order. The caller must not change them.
func (s *Set) All() []*Namespace {
	if s == nil {
		return nil
	}
	return s.list
}

// Len is the number of namespaces.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// MayPublish reports whether a client may publish to room: the
// namespace's client_publish when it sets one, else def.
func (ns *Namespace) MayPublish(def bool) bool {
	if ns == nil || ns.ClientPublish == nil {
		return def
	}
	return *ns.ClientPublish
}
