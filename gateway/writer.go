package gateway

import (
	"net"
	"runtime"
	"time"

	"github.com/gobwas/ws"
)

// flushBufBytes is the size of each flusher's scratch buffer: the most one
// write(2) sends. 64 KiB holds hundreds of typical frames.
const flushBufBytes = 64 << 10

// pushFlush puts c on the flush queue. The caller holds c.mu and has set
// flagScheduled, so c is on the queue at most once.
func (s *Server) pushFlush(c *Conn) {
	if s.portable {
		s.wakePortable(c)
		return
	}
	s.flushMu.Lock()
	s.flushQ = append(s.flushQ, c)
	s.flushMu.Unlock()
	s.flushCond.Signal()
}

// popFlush moves up to max queued conns into dst; it blocks until there is
// one, and returns false once the queue is closed.
func (s *Server) popFlush(dst []*Conn, max int) ([]*Conn, bool) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for len(s.flushQ) == 0 {
		if s.flushClosed {
			return dst, false
		}
		s.flushCond.Wait()
	}
	n := min(len(s.flushQ), max)
	dst = append(dst, s.flushQ[:n]...)
	rest := copy(s.flushQ, s.flushQ[n:])
	clear(s.flushQ[rest:])
	s.flushQ = s.flushQ[:rest]
	if len(s.flushQ) > 0 {
		s.flushCond.Signal() // let another flusher share the backlog
	}
	return dst, true
}

// hdrWriter collects one header written by ws.WriteHeaderBuffer.
type hdrWriter struct{ b []byte }

func (w *hdrWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// flusher is one flush goroutine and its scratch space.
type flusher struct {
	s    *Server
	buf  []byte
	hdr  [ws.MaxHeaderSize]byte
	hw   hdrWriter
	wbuf []byte // argument of doWrite
}

func newFlusher(s *Server) *flusher {
	return &flusher{s: s, buf: make([]byte, flushBufBytes), hw: hdrWriter{b: make([]byte, 0, ws.MaxHeaderSize)}}
}

func (s *Server) flushLoop() {
	f := newFlusher(s)
	batch := make([]*Conn, 0, 64)
	for {
		var ok bool
		batch, ok = s.popFlush(batch[:0], cap(batch))
		if !ok {
			return
		}
		for i, c := range batch {
			f.flush(c)
			batch[i] = nil
			if i%16 == 15 {
				// Raw writes keep the P (see flushWrite): let the
				// goroutines that queue frames run, or the writes stop
				// coalescing.
				runtime.Gosched()
			}
		}
	}
}

func header(fr *outFrame) ws.Header {
	h := ws.Header{Fin: true, OpCode: fr.op &^ opDeflated, Length: int64(len(fr.payload))}
	if fr.op&opDeflated != 0 {
		h.Rsv = rsv1
	}
	return h
}

// fill serializes the frames waiting in c.wq into f.buf, starting c.wqOff
// bytes into the first one. The caller holds c.mu.
func (f *flusher) fill(c *Conn) int {
	n, off, i := 0, int(c.wqOff), 0
	c.wq.each(func(fr *outFrame) bool {
		if i >= f.s.maxBatch || n >= len(f.buf) {
			return false
		}
		i++
		f.hw.b = f.hw.b[:0]
		_ = ws.WriteHeaderBuffer(&f.hw, header(fr), f.hdr[:])
		if h := f.hw.b; off < len(h) {
			n += copy(f.buf[n:], h[off:])
			off = 0
		} else {
			off -= len(h)
		}
		n += copy(f.buf[n:], fr.payload[off:])
		off = 0
		return true
	})
	return n
}

// consumeLocked drops the n written bytes from the front of c.wq.
func (c *Conn) consumeLocked(n int) (frames int) {
	w := n + int(c.wqOff)
	for c.wq.len() > 0 {
		fr := c.wq.front()
		fl := ws.HeaderSize(header(fr)) + len(fr.payload)
		if w < fl {
			break
		}
		w -= fl
		c.wqBytes -= int32(len(fr.payload))
		c.wq.popFront(&c.s.chunks)
		frames++
	}
	c.wqOff = int32(w)
	return frames
}

// flush writes what waits for c in one write(2). The caller took c off the
// flush queue; c has flagScheduled set.
func (f *flusher) flush(c *Conn) {
	s := f.s
	c.mu.Lock()
	if c.flags&flagDone != 0 || c.wq.len() == 0 {
		c.flags &^= flagScheduled
		c.mu.Unlock()
		return
	}
	f.wbuf = f.buf[:f.fill(c)]
	c.mu.Unlock()

	var n int
	err := net.ErrClosed
	if c.acquire() {
		if s.portable {
			n, err = s.portableWrite(c, f.wbuf)
		} else {
			n, err = flushWrite(uintptr(c.fd), f.wbuf)
		}
		c.releaseFD()
	}
	wlen := len(f.wbuf)
	f.wbuf = nil
	if n < 0 {
		n = 0
	}
	s.stats.writes.Add(1)
	s.stats.bytesOut.Add(uint64(n))

	var finalizeAs CloseReason
	c.mu.Lock()
	if c.flags&flagDone != 0 {
		c.flags &^= flagScheduled
		c.mu.Unlock()
		return
	}
	if n > 0 {
		s.stats.framesOut.Add(uint64(c.consumeLocked(n)))
		c.progress = time.Now().UnixNano()
	}
	switch {
	case (wouldBlock(err) || err == errWouldBlock || (err == nil && n < wlen)) && c.flags&flagCutoff != 0:
		// A slow consumer's close frame does not fit: end it now.
		c.flags &^= flagScheduled
		finalizeAs = ReasonSlowConsumer
	case err == errWouldBlock:
		// The portable gateway's write timed out: try again (the sweeper
		// ends a connection whose data does not move for WriteTimeout).
		s.pushFlush(c)
	case wouldBlock(err) || (err == nil && n < wlen):
		// The socket buffer is full: wait for EPOLLOUT.
		c.flags |= flagBlocked
		c.flags &^= flagScheduled
		if c.flags&flagBusy == 0 {
			s.arm(c, true)
		}
	case err != nil:
		c.flags &^= flagScheduled
		finalizeAs = ReasonConnectionLost
		if !peerGone(err) {
			finalizeAs = ReasonWriteError
		}
	case c.wq.len() == 0:
		c.flags &^= flagScheduled
		c.wqOff, c.wqBytes = 0, 0
		if c.flags&flagClosing != 0 {
			c.flags |= flagClean
			finalizeAs = -1
		}
	default:
		// More is waiting (it did not fit, or arrived meanwhile): go to the
		// back of the queue so that it gathers more frames.
		s.pushFlush(c)
	}
	c.mu.Unlock()
	switch {
	case finalizeAs < 0:
		s.finalize(c, 0, "")
	case finalizeAs > 0:
		s.finalize(c, finalizeAs.Code(), finalizeAs.String())
	}
}
