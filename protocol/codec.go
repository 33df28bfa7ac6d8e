package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

type rawFrame struct {
	Type  *string         `json:"type"`
	ID    json.RawMessage `json:"id"`
	Room  *string         `json:"room"`
	User  *string         `json:"user"`
	Data  json.RawMessage `json:"data"`
	Token *string         `json:"token"`
	// Since is decoded only for join_room frames.
	Since json.RawMessage `json:"since"`
}

type rawSince struct {
	Offset *uint64 `json:"offset"`
	Epoch  *string `json:"epoch"`
}

// Decode parses one client frame. On failure it returns a *Error from the
// table, and, when the input was a JSON object with a valid id, a Frame whose
// ID is set so the error frame can name it. Decode copies what it keeps:
// b may be reused once it returns.
//
// Frames as clients send them take a single pass (scan.go); the rest,
// malformed input included, goes through encoding/json, with the same
// result either way (FuzzDecodeFast).
func Decode(b []byte) (*Frame, error) {
	var r rawFrame
	if scanFrame(b, &r) {
		return finish(&r)
	}
	return decodeJSON(b)
}

// decodeJSON is Decode with encoding/json.
func decodeJSON(b []byte) (*Frame, error) {
	var r rawFrame
	if err := json.Unmarshal(b, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return idOnly(b), ErrInvalidField
		}
		return nil, ErrInvalidJSON
	}
	return finish(&r)
}

// finish checks a decoded rawFrame and makes the Frame, for both paths of
// Decode. It keeps r's slices: they must not alias the input.
func finish(r *rawFrame) (*Frame, error) {
	f := &Frame{}
	if r.ID != nil {
		if !validID(r.ID) {
			return nil, ErrInvalidID
		}
		f.ID = r.ID
	}
	if r.Type == nil {
		return f, ErrMissingType
	}
	switch *r.Type {
	case "join_room":
		f.Type = TypeJoinRoom
	case "leave_room":
		f.Type = TypeLeaveRoom
	case "message":
		f.Type = TypeMessage
	case "refresh":
		f.Type = TypeRefresh
	case "presence":
		f.Type = TypePresence
	default:
		return f, ErrUnknownType
	}
	if r.Room != nil {
		if !ValidName(*r.Room) {
			return f, ErrInvalidRoom
		}
		f.Room = *r.Room
	}
	if r.User != nil {
		if !ValidName(*r.User) {
			return f, ErrInvalidUser
		}
		f.User = *r.User
	}
	switch f.Type {
	case TypeJoinRoom, TypeLeaveRoom, TypePresence:
		if r.Room == nil {
			return f, ErrMissingRoom
		}
		if f.Type == TypeJoinRoom && r.Since != nil && string(r.Since) != "null" {
			var rs rawSince
			if json.Unmarshal(r.Since, &rs) != nil || rs.Offset == nil || (rs.Epoch != nil && len(*rs.Epoch) > MaxNameLen) {
				return f, ErrInvalidSince
			}
			f.Since = &Since{Offset: *rs.Offset}
			if rs.Epoch != nil {
				f.Since.Epoch = *rs.Epoch
			}
		}
	case TypeMessage:
		if r.Data == nil {
			return f, ErrMissingData
		}
		if f.Room != "" && f.User != "" {
			return f, ErrRoomAndUser
		}
		f.Data = compact(r.Data)
	case TypeRefresh:
		if r.Token == nil || *r.Token == "" {
			return f, ErrMissingToken
		}
		f.Token = *r.Token
	}
	return f, nil
}

// idOnly recovers the id of a frame whose other fields had the wrong type.
func idOnly(b []byte) *Frame {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &r) != nil || r.ID == nil || !validID(r.ID) {
		return nil
	}
	return &Frame{ID: r.ID}
}

func validID(id []byte) bool {
	if len(id) == 0 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		return true
	case c == '-' || (c >= '0' && c <= '9'):
		return true
	}
	return false
}

// compact strips insignificant white space so the same value always encodes
// to the same bytes; input that is already compact is returned as is.
func compact(v []byte) []byte {
	if !needsCompact(v) {
		return v
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return v
	}
	return buf.Bytes()
}

func needsCompact(v []byte) bool {
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			return true
		}
	}
	return false
}

// Encode encodes a client frame. Clients, the load tool and tests use it;
// Decode(Encode(f)) equals f for every valid f.
func Encode(f *Frame) []byte {
	b := make([]byte, 0, 48+len(f.Room)+len(f.User)+len(f.ID)+len(f.Data))
	b = append(b, `{"type":"`...)
	b = append(b, f.Type.String()...)
	b = append(b, '"')
	if f.ID != nil {
		b = append(b, `,"id":`...)
		b = append(b, f.ID...)
	}
	if f.Room != "" {
		b = appendStringField(b, "room", f.Room)
	}
	if f.User != "" {
		b = appendStringField(b, "user", f.User)
	}
	if f.Data != nil {
		b = append(b, `,"data":`...)
		b = append(b, f.Data...)
	}
	if f.Token != "" {
		b = appendStringField(b, "token", f.Token)
	}
	if f.Since != nil {
		b = append(b, `,"since":{"offset":`...)
		b = strconv.AppendUint(b, f.Since.Offset, 10)
		b = appendStringField(b, "epoch", f.Since.Epoch)
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendMessage appends the server frame {"type":"message",...} for data.
// room and from are left out when empty. room and from must be valid names
// (they are written without escaping) and data must be one JSON value.
func AppendMessage(dst []byte, room, from string, data []byte) []byte {
	dst = append(dst, `{"type":"message"`...)
	if room != "" {
		dst = appendName(dst, "room", room)
	}
	if from != "" {
		dst = appendName(dst, "from", from)
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}

// AppendStoredMessage appends the frame of a message stored in a room's
// history: {"type":"message","room":...,"offset":N,"from":...,"data":...}.
// The same rules as AppendMessage apply.
func AppendStoredMessage(dst []byte, room, from string, offset uint64, data []byte) []byte {
	dst = append(dst, `{"type":"message"`...)
	dst = appendName(dst, "room", room)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, offset, 10)
	if from != "" {
		dst = appendName(dst, "from", from)
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}

// JoinAck is the position a join to a history room is acknowledged with.
type JoinAck struct {
	Room      string
	Epoch     string
	Offset    uint64
	Recovered *bool // set when the join asked for recovery (since)
}

// EncodeJoinAck returns {"type":"ack","id":id,"room":...,"epoch":...,
// "offset":N[,"recovered":B]}; the id is left out when nil.
func EncodeJoinAck(id []byte, a *JoinAck) []byte {
	b := make([]byte, 0, 80+len(id)+len(a.Room)+len(a.Epoch))
	b = append(b, `{"type":"ack"`...)
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	b = appendName(b, "room", a.Room)
	b = appendStringField(b, "epoch", a.Epoch)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, a.Offset, 10)
	if a.Recovered != nil {
		b = append(b, `,"recovered":`...)
		b = strconv.AppendBool(b, *a.Recovered)
	}
	return append(b, '}')
}

// EncodeResync returns {"type":"resync","room":room}: the hub lost messages
// of the room it cannot replay; the client should reload its state.
func EncodeResync(room string) []byte {
	b := appendName(append(make([]byte, 0, 32+len(room)), `{"type":"resync"`...), "room", room)
	return append(b, '}')
}

// EncodeMessage returns a new server message frame; see AppendMessage.
func EncodeMessage(room, from string, data []byte) []byte {
	return AppendMessage(make([]byte, 0, 40+len(room)+len(from)+len(data)), room, from, data)
}

// EncodeAck returns {"type":"ack","id":id}.
func EncodeAck(id []byte) []byte {
	b := make([]byte, 0, 24+len(id))
	b = append(b, `{"type":"ack","id":`...)
	b = append(b, id...)
	return append(b, '}')
}

// By values of the joined and left frames: who made the connection join
// or leave.
const ByServer = "server"

// Reasons of a left frame sent by the server.
const (
	LeftAPI   = "api"   // a backend made the connection leave (server API)
	LeftToken = "token" // a refreshed token's rooms claim no longer allows the room
)

// EncodeJoined returns {"type":"joined","room":room,"by":"server"}: the
// server made the connection join room (the JWT join claim, the connect
// proxy or the server API). room must be a valid name.
func EncodeJoined(room string) []byte {
	b := make([]byte, 0, 48+len(room))
	b = append(b, `{"type":"joined"`...)
	b = appendName(b, "room", room)
	b = append(b, `,"by":"server"}`...)
	return b
}

// EncodeLeft returns {"type":"left","room":room,"by":"server","reason":reason}:
// the server made the connection leave room. room and reason must be valid
// names.
func EncodeLeft(room, reason string) []byte {
	b := make([]byte, 0, 64+len(room)+len(reason))
	b = append(b, `{"type":"left"`...)
	b = appendName(b, "room", room)
	b = append(b, `,"by":"server"`...)
	b = appendName(b, "reason", reason)
	return append(b, '}')
}

// EncodeRefreshRequired returns {"type":"refresh_required","expires_at":T}:
// the connection's token expires at T (Unix seconds); the client should
// answer with a refresh frame before then.
func EncodeRefreshRequired(expiresAt int64) []byte {
	b := make([]byte, 0, 56)
	b = append(b, `{"type":"refresh_required","expires_at":`...)
	b = strconv.AppendInt(b, expiresAt, 10)
	return append(b, '}')
}

// EncodeAckOffset returns {"type":"ack","id":id,"offset":N}: a message
// to a history room was stored at offset N.
func EncodeAckOffset(id []byte, offset uint64) []byte {
	b := make([]byte, 0, 40+len(id))
	b = append(b, `{"type":"ack","id":`...)
	b = append(b, id...)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, offset, 10)
	return append(b, '}')
}

// EncodeError returns {"type":"error","id":id,"code":N,"message":"..."}; the
// id is left out when nil.
func EncodeError(id []byte, e *Error) []byte {
	b := make([]byte, 0, 64+len(id)+len(e.Message))
	b = append(b, `{"type":"error"`...)
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = appendStringField(b, "message", e.Message)
	return append(b, '}')
}

// Data turns a payload from a publisher into the JSON value delivered as
// "data": valid JSON is kept (compacted), anything else is delivered as a JSON
// string of its text, so `nats pub hub.broadcast hello` reaches clients as "hello".
func Data(payload []byte) []byte {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) > 0 && json.Valid(trimmed) {
		return compact(trimmed)
	}
	s := string(payload)
	if !utf8.ValidString(s) {
		s = string(bytes.ToValidUTF8(payload, []byte("\uFFFD")))
	}
	b, _ := json.Marshal(s)
	return b
}

func appendName(dst []byte, key, name string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, `":"`...)
	dst = append(dst, name...)
	return append(dst, '"')
}

func appendStringField(dst []byte, key, s string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	return AppendString(dst, s)
}

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
