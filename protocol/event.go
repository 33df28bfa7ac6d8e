package protocol

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Event names, the last token of the subjects <prefix>.events.<name>.
const (
	EventConnect    = "connect"
	EventMessage    = "message"
	EventDisconnect = "disconnect"
	EventJoin       = "join" // a join proxy's request (SPEC §12)
	// Presence rooms (SPEC §11, §12): a user's first connection joined
	// the room (EventJoin, the same name), its last one left; the room's
	// first member came, its last one went.
	EventLeave        = "leave"
	EventRoomOccupied = "room_occupied"
	EventRoomVacated  = "room_vacated"
)

// ConnMeta is what every event says about the connection it concerns.
type ConnMeta struct {
	ConnectionID string
	User         string
	Node         string
	Peer         string
	Method       string
	Path         string
	Params       map[string]string
	Query        map[string][]string
	Headers      map[string][]string
}

// EncodeMeta encodes m once per connection as the inner part of a JSON object
// (no braces): `"connection_id":...,"user":...,...,"headers":{...}`. Events
// then splice it in without encoding the connection again. The result is
// exactly as long as the encoding (a connection keeps it for its life): it
// is built in a pooled scratch buffer and copied out once.
func EncodeMeta(m *ConnMeta) []byte {
	sp := metaScratch.Get().(*[]byte)
	b := appendMeta((*sp)[:0], m)
	out := bytes.Clone(b)
	if cap(b) <= 64<<10 {
		*sp = b
		metaScratch.Put(sp)
	}
	return out
}

var metaScratch = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func appendMeta(b []byte, m *ConnMeta) []byte {
	b = AppendMetaHead(b, m.ConnectionID, m.User, m.Node)
	return AppendMetaTail(b, m, nil)
}

// AppendMetaHead appends the first fields of an encoded ConnMeta, those a
// connection holds anyway: `"connection_id":...,"user":...,"node":...`.
// AppendMetaTail appends the rest; together they are what EncodeMeta
// returns.
func AppendMetaHead(b []byte, connectionID, user, node string) []byte {
	b = append(b, `"connection_id":`...)
	b = AppendString(b, connectionID)
	b = appendStringField(b, "user", user)
	return appendStringField(b, "node", node)
}

// AppendMetaTail appends the fields of m after the node: `,"peer":...,
// "method":...,"headers":{...}`, most of which connections of one kind of
// client share. When cut is not nil it is called with the encoding so far
// at each boundary between pieces worth sharing on their own: after the
// peer, after the method, path and params, after the query and the start of
// the headers, after each header (its name and values; the comma before it
// goes with it) and at the end. The pieces of a connection with the same
// peer, or method, path and params as another, or the same header in the
// same place, are the same bytes.
func AppendMetaTail(b []byte, m *ConnMeta, cut func(b []byte)) []byte {
	if cut == nil {
		cut = func([]byte) {}
	}
	b = appendStringField(b, "peer", m.Peer)
	cut(b)
	b = appendStringField(b, "method", m.Method)
	b = appendStringField(b, "path", m.Path)
	b = append(b, `,"params":{`...)
	for i, k := range sortedKeys(m.Params) {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = AppendString(b, m.Params[k])
	}
	b = append(b, '}')
	cut(b)
	b = append(b, `,"query":`...)
	b = appendMultiMap(b, m.Query, nil)
	b = append(b, `,"headers":`...)
	b = appendMultiMap(b, m.Headers, cut)
	cut(b)
	return b
}

// EventExtra holds the fields that only some events carry.
type EventExtra struct {
	Message []byte // message: the client's data, raw JSON
	Room    string // message: the frame's room
	ToUser  string // message: the frame's user (the recipient)
	Reason  string // disconnect: why the connection ended; leave: why the user left
	Info    []byte // join: the connection's info, raw JSON
}

// AppendEvent appends one event object: event, time (RFC 3339 with
// nanoseconds, UTC), the connection's pre-encoded meta and the extra fields.
// It is AppendEventHead, meta and AppendEventTail.
func AppendEvent(dst []byte, event string, t time.Time, meta []byte, x *EventExtra) []byte {
	dst = AppendEventHead(dst, event, t)
	dst = append(dst, meta...)
	return AppendEventTail(dst, x)
}

// AppendEventHead appends the start of an event object, up to where the
// connection's meta goes: `{"event":...,"time":...,`.
func AppendEventHead(dst []byte, event string, t time.Time) []byte {
	dst = append(dst, `{"event":"`...)
	dst = append(dst, event...)
	dst = append(dst, `","time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `",`...)
}

// AppendEventTail appends the extra fields of an event after its meta and
// closes the object.
func AppendEventTail(dst []byte, x *EventExtra) []byte {
	if x != nil {
		if x.Message != nil {
			dst = append(dst, `,"message":`...)
			dst = append(dst, x.Message...)
		}
		if x.Room != "" {
			dst = appendStringField(dst, "room", x.Room)
		}
		if x.ToUser != "" {
			dst = appendStringField(dst, "to_user", x.ToUser)
		}
		if x.Reason != "" {
			dst = appendStringField(dst, "reason", x.Reason)
		}
		if x.Info != nil {
			dst = append(dst, `,"info":`...)
			dst = append(dst, x.Info...)
		}
	}
	return append(dst, '}')
}

// AppendRoomEvent appends a room lifecycle event (room_occupied,
// room_vacated): {"event":...,"time":...,"room":...,"node":...}, node
// being the node that decided it.
func AppendRoomEvent(dst []byte, event string, t time.Time, room, node string) []byte {
	dst = append(dst, `{"event":"`...)
	dst = append(dst, event...)
	dst = append(dst, `","time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendStringField(dst, "room", room)
	dst = appendStringField(dst, "node", node)
	return append(dst, '}')
}

// AppendLostLeave appends the leave event of a user whose last connection
// was on a node that died: the node that held it cannot tell, so another
// one does, with what it knows (no peer, path, query or headers):
// {"event":"leave","time":...,"connection_id":...,"user":...,"node":...,"room":...,"reason":...,"reported_by":...}.
func AppendLostLeave(dst []byte, t time.Time, connID, user, node, room, reason, by string) []byte {
	dst = append(dst, `{"event":"leave","time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendStringField(dst, "connection_id", connID)
	dst = appendStringField(dst, "user", user)
	dst = appendStringField(dst, "node", node)
	dst = appendStringField(dst, "room", room)
	dst = appendStringField(dst, "reason", reason)
	dst = appendStringField(dst, "reported_by", by)
	return append(dst, '}')
}

// Event is an event as backends decode it.
type Event struct {
	Event        string              `json:"event"`
	Time         time.Time           `json:"time"`
	ConnectionID string              `json:"connection_id"`
	User         string              `json:"user"`
	Node         string              `json:"node"`
	Peer         string              `json:"peer"`
	Method       string              `json:"method"`
	Path         string              `json:"path"`
	Params       map[string]string   `json:"params"`
	Query        map[string][]string `json:"query"`
	Headers      map[string][]string `json:"headers"`
	Message      json.RawMessage     `json:"message,omitempty"`
	Room         string              `json:"room,omitempty"`
	ToUser       string              `json:"to_user,omitempty"`
	Reason       string              `json:"reason,omitempty"`
	Info         json.RawMessage     `json:"info,omitempty"`
	ReportedBy   string              `json:"reported_by,omitempty"`
}

// Reply is a backend's answer to a message event: Body goes to the sending
// connection as {"type":"message","data":Body}; End then closes it normally.
type Reply struct {
	Body json.RawMessage `json:"body"`
	End  bool            `json:"end"`
}

// DecodeReply reads a reply payload. A JSON object with a "body" or "end"
// member is a Reply; any other payload is taken whole as the body (see Data),
// so a plain `nats reply` works too. A reply with "end" and no body sends
// nothing and only closes.
func DecodeReply(payload []byte) Reply {
	var probe map[string]json.RawMessage
	if json.Unmarshal(payload, &probe) == nil && probe != nil {
		body, hasBody := probe["body"]
		end, hasEnd := probe["end"]
		if hasBody || hasEnd {
			r := Reply{}
			if hasBody && string(body) != "null" {
				r.Body = compact(body)
			}
			r.End = string(end) == "true"
			return r
		}
	}
	return Reply{Body: Data(payload)}
}

// appendMultiMap encodes m as an object of arrays, keys sorted. cut, when
// not nil, is called before each key (and its comma).
func appendMultiMap(b []byte, m map[string][]string, cut func([]byte)) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if cut != nil {
			cut(b)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':', '[')
		for j, v := range m[k] {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
