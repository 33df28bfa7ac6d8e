package presence

import "encoding/json"

// What nodes tell each other about presence, as JSON on NATS (docs/presence.md).

// wireMember is one connection in a room.
type wireMember struct {
	ID   string          `json:"id"`
	User string          `json:"u,omitempty"`
	At   int64           `json:"at"` // connected_at, unix nanoseconds
	In   int64           `json:"in"` // when it joined the room, unix nanoseconds
	Info json.RawMessage `json:"i,omitempty"`
}

// wireSlice is one node's part of one room: a diff (published on the
// room's diff subject) or, with Full set, the whole of it (an answer to a
// sync or slice request). Gen names one life of the node's slice (a new
// one each time the node starts tracking the room), Seq counts its diffs
// within that life; a watcher that sees Seq jump fetches the slice again.
type wireSlice struct {
	Node string       `json:"node"`
	Room string       `json:"room"`
	Gen  uint64       `json:"gen"`
	Seq  uint64       `json:"seq"`
	N    int          `json:"n"` // the node's connections in the room after this
	Add  []wireMember `json:"add,omitempty"`
	Del  []string     `json:"del,omitempty"`
	// Counts says Add and Del are left out: the room is above its max_list.
	Counts bool `json:"counts,omitempty"`
	// Full: Add is every member of the node (an answer, not a diff).
	Full bool `json:"full,omitempty"`
}

// wireRequest asks for slices of rooms (sync, slice) or tells a node to
// watch rooms (watch).
type wireRequest struct {
	From  string   `json:"from"`
	Rooms []string `json:"rooms"`
	// Watch: the asker starts watching the rooms, so a node that decides
	// for one of them (owner or standby) starts watching it too.
	Watch bool `json:"watch,omitempty"`
}

// maxDiffChanges bounds the changes in one diff message, so that a join
// storm on one node is cut into messages well under NATS's 1 MB payload.
const maxDiffChanges = 1000
