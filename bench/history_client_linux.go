//go:build linux

package bench

import (
	"github.com/gobwas/ws"
)

// histStats counts what the conns of a pool had of history rooms since the
// last reset. The pool's loop goroutine owns it.
type histStats struct {
	recovered, notRecovered int
	replayed, gaps, dups    uint64
	resyncs                 int
}

// histOpen prepares an open job for history rooms: a reconnect opens every
// dropped conn again, with the time of a handshake that replays before its
// ack.
func (p *pool) histOpen(j *openJob) {
	p.histOn = j.cmd.History
	if len(p.epochs) < len(j.cmd.Rooms) {
		p.epochs = append(p.epochs, make([]string, len(j.cmd.Rooms)-len(p.epochs))...)
	}
	if j.cmd.Reconnect {
		j.cmd.N = len(p.dropped)
		if j.cmd.TimeoutMS <= 0 {
			j.cmd.TimeoutMS = 60000
		}
	}
}

// drop closes every joined conn at once (with a reset, as a network cut
// looks to the hub), keeping each one's room and position for a reconnect.
func (p *pool) drop() answer {
	n := 0
	for _, c := range p.conns {
		if c == nil || c.state != stJoined {
			continue
		}
		p.closeConn(c)
		p.joined--
		p.nJoined.Add(-1)
		p.dropped = append(p.dropped, c)
		n++
	}
	return answer{Op: opDrop, Dropped: n, Conns: p.joined}
}

// rejoinFrame is c's join with since: its room, the room's epoch, the
// offset of the last message it had.
func (p *pool) rejoinFrame(c *conn) []byte {
	j := p.job
	room := j.cmd.Rooms[c.room]
	return ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame(sinceJoin(room, p.epochs[c.room], c.trk.off))))
}

// histSeen counts a stored message c got.
func (p *pool) histSeen(c *conn, frame []byte) {
	off, s := msgFields(frame)
	dup, gap := c.trk.see(s, off)
	if dup {
		p.hs.dups++
	}
	p.hs.gaps += uint64(gap)
}

// histAck reads a history join's ack: the room's epoch and position, and
// for a rejoin whether it recovered.
func (p *pool) histAck(c *conn, frame []byte) {
	epoch, off, rec := ackFields(frame)
	if epoch != "" && int(c.room) < len(p.epochs) {
		p.epochs[c.room] = epoch
	}
	if c.trk.off == 0 {
		c.trk.off = off
	}
	if c.rejoin {
		switch rec {
		case 1:
			p.hs.recovered++
		default:
			p.hs.notRecovered++
		}
		c.rejoin = false
	}
}

// histReport adds the history counters to a report; with expect, what each
// joined conn lacks of the run's messages 0 to expect-1.
func (p *pool) histReport(a *answer, expect int) {
	a.Recovered, a.NotRecovered = p.hs.recovered, p.hs.notRecovered
	a.Replayed, a.Gaps, a.Dups, a.Resyncs = p.hs.replayed, p.hs.gaps, p.hs.dups, p.hs.resyncs
	if expect <= 0 || !p.histOn {
		return
	}
	for _, c := range p.conns {
		if c != nil && c.state == stJoined {
			a.Missing += uint64(c.trk.missing(expect))
		}
	}
}
