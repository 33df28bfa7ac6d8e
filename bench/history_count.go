package bench

import (
	"bytes"
	"strconv"
)

// The history cases count every message a member gets: the publisher
// numbers the messages of a run 0, 1, 2, ... (the "s" of the payload) and
// the hub gives each stored message its offset. A member must get each
// number once, in order, and offsets that only increase, across a drop and
// a recovery (replay, then live).

// seqTrack is what one member has had of a run. The zero value expects
// message 0 and has seen no offset.
type seqTrack struct {
	next int32  // the publisher's number expected next
	off  uint64 // the offset of the last stored message had (the position to recover from)
}

// see records a message with the publisher's number s (negative for the
// tool's probes, which are outside the count) and offset off (0 when the
// frame has none). dup reports a message had already (by its number or its
// offset); gap is how many numbers were skipped before it.
func (t *seqTrack) see(s int64, off uint64) (dup bool, gap int64) {
	if off != 0 {
		if off <= t.off {
			return true, 0
		}
		t.off = off
	}
	if s < 0 {
		return false, 0
	}
	switch {
	case s < int64(t.next):
		return true, 0
	case s > int64(t.next):
		gap = s - int64(t.next)
	}
	t.next = int32(s + 1)
	return false, gap
}

// missing is how many of a run's expect messages have not come after the
// last one had.
func (t *seqTrack) missing(expect int) int64 {
	return max(0, int64(expect)-int64(t.next))
}

// reset starts a new run; the position (off) is kept.
func (t *seqTrack) reset() { t.next = 0 }

var (
	keyOffset    = []byte(`,"offset":`)
	keySeq       = []byte(`,"s":`)
	keyEpoch     = []byte(`,"epoch":"`)
	keyRecovered = []byte(`,"recovered":`)
	keyResync    = []byte(`{"type":"resync"`)
	keyMessage   = []byte(`{"type":"message"`)
)

// msgFields reads a stored message frame's offset and the publisher's
// number in its data: {"type":"message","room":..,"offset":N,"data":{"t":..,"s":S,..}}.
// off is 0 and s is -1 when absent.
func msgFields(frame []byte) (off uint64, s int64) {
	s = -1
	if i := bytes.Index(frame, keyOffset); i >= 0 {
		off, _ = digits(frame[i+len(keyOffset):])
	}
	if i := bytes.Index(frame, keySeq); i >= 0 {
		rest := frame[i+len(keySeq):]
		neg := len(rest) > 0 && rest[0] == '-'
		if neg {
			rest = rest[1:]
		}
		if v, ok := digits(rest); ok && !neg {
			s = int64(v)
		}
	}
	return off, s
}

// ackFields reads a history join's ack:
// {"type":"ack","id":1,"room":..,"epoch":"E","offset":N[,"recovered":B]}.
// recovered is 1 (true), 0 (false) or -1 (absent: a join without since).
func ackFields(frame []byte) (epoch string, off uint64, recovered int8) {
	recovered = -1
	if i := bytes.Index(frame, keyEpoch); i >= 0 {
		rest := frame[i+len(keyEpoch):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			epoch = string(rest[:j])
		}
	}
	if i := bytes.Index(frame, keyOffset); i >= 0 {
		off, _ = digits(frame[i+len(keyOffset):])
	}
	if i := bytes.Index(frame, keyRecovered); i >= 0 {
		rest := frame[i+len(keyRecovered):]
		switch {
		case bytes.HasPrefix(rest, []byte("true")):
			recovered = 1
		case bytes.HasPrefix(rest, []byte("false")):
			recovered = 0
		}
	}
	return epoch, off, recovered
}

// digits parses the decimal number at the start of b.
func digits(b []byte) (uint64, bool) {
	var v uint64
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			break
		}
		v = v*10 + uint64(ch-'0')
		n++
	}
	return v, n > 0
}

// sinceJoin is the join frame (unmasked payload) of a member recovering
// from off in epoch.
func sinceJoin(room, epoch string, off uint64) []byte {
	b := make([]byte, 0, 96+len(room)+len(epoch))
	b = append(b, `{"type":"join_room","room":`...)
	b = strconv.AppendQuote(b, room)
	b = append(b, `,"id":1,"since":{"offset":`...)
	b = strconv.AppendUint(b, off, 10)
	b = append(b, `,"epoch":`...)
	b = strconv.AppendQuote(b, epoch)
	return append(b, "}}"...)
}

// isHistoryRoom reports whether the tool's spawned hubs keep history for
// room (historyConfig's namespace).
func isHistoryRoom(room string) bool {
	return len(room) > len(historyRoomPrefix) && room[:len(historyRoomPrefix)] == historyRoomPrefix
}

// historyRoomPrefix starts the rooms of the history namespace of the
// spawned hubs.
const historyRoomPrefix = "hist."
