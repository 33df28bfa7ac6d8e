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
	b = append(b, `"connection_id":`...)
	b = AppendString(b, m.ConnectionID)
	b = appendStringField(b, "user", m.User)
	b = appendStringField(b, "node", m.Node)
	b = appendStringField(b, "peer", m.Peer)
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
	b = append(b, `},"query":`...)
	b = appendMultiMap(b, m.Query)
	b = append(b, `,"headers":`...)
	b = appendMultiMap(b, m.Headers)
	return b
}

// EventExtra holds the fields that only some events carry.
type EventExtra struct {
	Message []byte // message: the client's data, raw JSON
	Room    string // message: the frame's room
	ToUser  string // message: the frame's user (the recipient)
	Reason  string // disconnect: why the connection ended
}

// AppendEvent appends one event object: event, time (RFC 3339 with
// nanoseconds, UTC), the connection's pre-encoded meta and the extra fields.
func AppendEvent(dst []byte, event string, t time.Time, meta []byte, x *EventExtra) []byte {
	dst = append(dst, `{"event":"`...)
	dst = append(dst, event...)
	dst = append(dst, `","time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `",`...)
	dst = append(dst, meta...)
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
	}
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

func appendMultiMap(b []byte, m map[string][]string) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
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
