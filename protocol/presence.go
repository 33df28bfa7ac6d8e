package protocol

import (
	"strconv"
	"time"
)

// Presence frames (SPEC §11). A member asks with
//
//	{"type":"presence","room":"chat.lobby","id":3}
//
// and is answered with
//
//	{"type":"presence","id":3,"room":"chat.lobby","members":[...],"count":2,"connections":3}
//
// where each member is one user with its connections:
//
//	{"user":"alice","info":{...},"connections":[{"id":"n1.x","node":"n1","connected_at":"..."}]}
//
// A room above its max_list has no "members", only the counts. In a room
// with join_leave, members are told of each user that comes and goes:
//
//	{"type":"join","room":"chat.lobby","user":"alice","info":{...}}
//	{"type":"leave","room":"chat.lobby","user":"alice"}
//
// and, when several users came or went within one batch window, of all of
// them in one frame:
//
//	{"type":"presence_diff","room":"chat.lobby","joins":[{"user":"bob","info":{...}}],"leaves":["carol"],"count":41,"connections":57}
//
// A room above max_list gets a presence_diff with the counts alone.

// PresenceConn is one connection of a present user.
type PresenceConn struct {
	ID          string    `json:"id"`
	Node        string    `json:"node"`
	ConnectedAt time.Time `json:"connected_at"`
}

// Member is one present user: its info (from the connection that has been
// in the room longest) and its connections.
type Member struct {
	User        string         `json:"user"`
	Info        []byte         `json:"-"` // raw JSON; nil when none
	Connections []PresenceConn `json:"connections"`
}

// PresenceJoin is one user that joined, in a presence_diff.
type PresenceJoin struct {
	User string
	Info []byte // raw JSON; nil when none
}

// AppendMembers appends a JSON array of members. Names must be valid names
// (they are written without escaping) and each Info one JSON value.
func AppendMembers(b []byte, members []Member) []byte {
	b = append(b, '[')
	for i := range members {
		m := &members[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"user":"`...)
		b = append(b, m.User...)
		b = append(b, '"')
		if m.Info != nil {
			b = append(b, `,"info":`...)
			b = append(b, m.Info...)
		}
		b = append(b, `,"connections":[`...)
		for j := range m.Connections {
			c := &m.Connections[j]
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = AppendString(b, c.ID)
			b = appendStringField(b, "node", c.Node)
			b = append(b, `,"connected_at":"`...)
			b = c.ConnectedAt.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, `"}`...)
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

// EncodePresence returns the answer to a presence frame. members nil means
// counts only (the room is above its max_list); count is the number of
// users, conns the number of connections.
func EncodePresence(id []byte, room string, members []Member, count, conns int) []byte {
	b := make([]byte, 0, 96+len(room)+len(id)+len(members)*96)
	b = append(b, `{"type":"presence"`...)
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	b = appendName(b, "room", room)
	if members != nil {
		b = append(b, `,"members":`...)
		b = AppendMembers(b, members)
	}
	return appendCounts(b, count, conns)
}

func appendCounts(b []byte, count, conns int) []byte {
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"connections":`...)
	b = strconv.AppendInt(b, int64(conns), 10)
	return append(b, '}')
}

// EncodeJoin returns {"type":"join","room":...,"user":...,"info":...}; info
// is left out when nil.
func EncodeJoin(room, user string, info []byte) []byte {
	b := make([]byte, 0, 40+len(room)+len(user)+len(info))
	b = append(b, `{"type":"join"`...)
	b = appendName(b, "room", room)
	b = appendName(b, "user", user)
	if info != nil {
		b = append(b, `,"info":`...)
		b = append(b, info...)
	}
	return append(b, '}')
}

// EncodeLeave returns {"type":"leave","room":...,"user":...}.
func EncodeLeave(room, user string) []byte {
	b := make([]byte, 0, 40+len(room)+len(user))
	b = append(b, `{"type":"leave"`...)
	b = appendName(b, "room", room)
	b = appendName(b, "user", user)
	return append(b, '}')
}

// EncodePresenceDiff returns one frame for several joins and leaves (either
// may be empty; both empty is a count update).
func EncodePresenceDiff(room string, joins []PresenceJoin, leaves []string, count, conns int) []byte {
	b := make([]byte, 0, 80+len(room)+len(joins)*24+len(leaves)*16)
	b = append(b, `{"type":"presence_diff"`...)
	b = appendName(b, "room", room)
	if len(joins) > 0 {
		b = append(b, `,"joins":[`...)
		for i, j := range joins {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"user":"`...)
			b = append(b, j.User...)
			b = append(b, '"')
			if j.Info != nil {
				b = append(b, `,"info":`...)
				b = append(b, j.Info...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(leaves) > 0 {
		b = append(b, `,"leaves":[`...)
		for i, u := range leaves {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, u...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return appendCounts(b, count, conns)
}
