package protocol

// FrameType is the "type" of a client frame. The zero value means unset.
type FrameType uint8

// Client frame types.
const (
	TypeJoinRoom FrameType = iota + 1
	TypeLeaveRoom
	TypeMessage
	TypeRefresh
	TypePresence
)

func (t FrameType) String() string {
	switch t {
	case TypeJoinRoom:
		return "join_room"
	case TypeLeaveRoom:
		return "leave_room"
	case TypeMessage:
		return "message"
	case TypeRefresh:
		return "refresh"
	case TypePresence:
		return "presence"
	}
	return "unknown"
}

// Frame is one decoded client frame. Room and User are validated names or
// empty; ID and Data are raw JSON owned by the Frame (never aliases of the
// decoder's input).
type Frame struct {
	Type FrameType
	ID   []byte // raw JSON string or number; nil when absent
	Room string
	User string
	Data []byte // raw JSON value; nil when absent
	// Token is the new token of a refresh frame.
	Token string
	// Since asks a join to a history room to replay what the client missed
	// after the position it last saw (SPEC §10); nil when absent.
	Since *Since
}

// Since is the position in a room's history a client saw last: the offset
// of its last message and the epoch of the history it came from.
type Since struct {
	Offset uint64
	Epoch  string
}
