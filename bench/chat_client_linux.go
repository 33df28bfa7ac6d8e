//go:build linux

package bench

import (
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// chatJob is a "chat" command in progress: every joined conn sends
// cmd.MsgRate room messages a second to its room, the sends of all conns
// spread evenly over the time.
type chatJob struct {
	cmd    command
	conns  []*conn
	total  uint64 // messages to send
	sent   uint64
	errs   uint64
	next   int // round robin over conns
	begin  time.Time
	frame  []byte
	pad    string
	rooms  []string
	done   func(answer)
	stride float64 // messages per nanosecond, over all conns
}

func (p *pool) newChat(r poolReq) (*chatJob, error) {
	cmd := r.cmd
	if len(cmd.Rooms) == 0 || cmd.MsgRate <= 0 || cmd.DurationMS <= 0 {
		return nil, errors.New("chat: rooms, msg_rate and duration_ms are required")
	}
	j := &chatJob{cmd: cmd, rooms: cmd.Rooms, begin: time.Now(), done: r.reply}
	for _, c := range p.conns {
		if c != nil && c.state == stJoined {
			j.conns = append(j.conns, c)
		}
	}
	j.total = uint64(float64(len(j.conns)) * cmd.MsgRate * float64(cmd.DurationMS) / 1000)
	j.stride = float64(len(j.conns)) * cmd.MsgRate / 1e9
	// The payload: {"type":"message","room":R,"data":{"t":T,"s":S,"p":"x..."}}
	// padded to about Size bytes of data, as the publishers' payloads are.
	pad := max(0, cmd.Size-len(`{"t":1733011200000000000,"s":1000000,"p":""}`))
	for range pad {
		j.pad += "x"
	}
	return j, nil
}

// chatTurn sends the messages due by now.
func (p *pool) chatTurn() {
	j := p.chat
	due := min(uint64(float64(time.Since(j.begin).Nanoseconds())*j.stride), j.total)
	for j.sent+j.errs < due && len(j.conns) > 0 {
		c := j.conns[j.next%len(j.conns)]
		j.next++
		if c.state != stJoined {
			j.errs++
			continue
		}
		if !p.chatSend(j, c) {
			j.errs++
			continue
		}
		j.sent++
	}
	if j.sent+j.errs >= j.total {
		p.chat = nil
		j.done(answer{Op: opChat, Sent: j.sent, SendErrs: j.errs, CPUSeconds: selfCPU(), ElapsedNS: int64(time.Since(j.begin))})
	}
}

// chatSend writes one message frame, masked with a zero key (allowed, and
// the payload needs no masking pass here; the server unmasks as ever).
func (p *pool) chatSend(j *chatJob, c *conn) bool {
	room := j.rooms[int(c.room)%len(j.rooms)]
	b := j.frame[:0]
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // room for the header, written last
	start := len(b)
	b = append(b, `{"type":"message","room":`...)
	b = strconv.AppendQuote(b, room)
	b = append(b, `,"data":{"t":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendUint(b, j.sent, 10)
	b = append(b, `,"p":"`...)
	b = append(b, j.pad...)
	b = append(b, `"}}`...)
	n := len(b) - start
	var hdr []byte
	switch {
	case n < 126:
		hdr = []byte{0x81, 0x80 | byte(n), 0, 0, 0, 0}
	case n < 1<<16:
		hdr = []byte{0x81, 0x80 | 126, byte(n >> 8), byte(n), 0, 0, 0, 0}
	default:
		return false
	}
	// The header goes right before the payload.
	off := start - len(hdr)
	copy(b[off:], hdr)
	j.frame = b
	w, err := unix.Write(c.fd, b[off:])
	return err == nil && w == len(b)-off
}
