package gateway

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// outFrame is one queued outbound frame. payload is shared and never modified.
type outFrame struct {
	op      ws.OpCode
	payload []byte
}

// Conn is one upgraded WebSocket connection. An idle Conn holds no goroutine,
// timer or buffer, and is 160 bytes (TestConn_Size): what only a connection
// in the middle of a frame needs hangs off rd, the peer's address is kept
// as its netip.Addr and port apart (an AddrPort pads to 32 bytes), and the
// closing and deflate bits share a word. Its methods are safe for
// concurrent use.
//
// Lock order: Conn.mu, then Server.flushMu or Server.tableMu. The reader state
// (rd) is owned by whoever holds the busy flag (one worker at a time).
type Conn struct {
	s     *Server
	fd    int32
	gen   uint32       // tells this Conn apart from a later one with the same fd
	ioRef atomic.Int32 // I/O calls in progress on fd, plus fdClosed once it is to close
	bits  atomic.Uint32
	ip    netip.Addr // the peer's; port below; set before the Conn is shared, never changed

	lastSeen atomic.Int64 // unix nanos of the last inbound frame (or the open)
	pingSent atomic.Int64 // unix nanos of the last ping, 0 if none outstanding

	// rd is owned by the busy worker. During the handshake it holds an
	// incomplete request head.
	rd frameReader

	mu        sync.Mutex
	flags     uint16
	code      uint16
	pendingEv uint16     // events that arrived while busy (epoll's bits fit 16: netpoll_linux.go)
	port      uint16     // the peer's; not guarded by mu: set before the Conn is shared, never changed
	wq        frameQueue // frames not yet fully written; the first is wqOff bytes in
	wqOff     int32
	wqBytes   int32 // payload bytes in wq
	progress  int64 // unix nanos: last write progress, or when closing started
	reason    string
	val       any
}

// Conn.bits, read without the lock.
const (
	bitClosing uint32 = 1 << iota // mirror of flagClosing for lock-free checks
	bitDeflate                    // permessage-deflate negotiated; set before OnOpen, never cleared
)

const (
	flagBusy      uint16 = 1 << iota // a worker is handling the conn's events
	flagScheduled                    // on the flush queue or being flushed
	flagBlocked                      // the socket buffer is full; waiting for EPOLLOUT
	flagClosing                      // a close was started; Send refuses
	flagReady                        // OnOpen ran and the fd is registered
	flagFinalPend                    // finalize was asked for before ready
	flagDone                         // finalized: socket closed, OnClose called
	flagClean                        // the close frame left; drain before closing the fd
	flagHandshake                    // accepted, its request not yet served: not open
	flagOutArmed                     // the epoll registration asks for EPOLLOUT
	flagCutoff                       // closing as a slow consumer: end as soon as a write blocks
)

// fdClosed marks Conn.ioRef once the fd is to be closed.
const fdClosed = 1 << 30

// acquire takes a reference on the fd for one I/O call; false once the fd
// is closed or closing. The fd is closed only when no call holds it, so its
// number cannot be reused by another socket under a read or write.
func (c *Conn) acquire() bool {
	for {
		v := c.ioRef.Load()
		if v&fdClosed != 0 {
			return false
		}
		if c.ioRef.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// releaseFD drops a reference taken by acquire; the last one out closes a
// closing fd.
func (c *Conn) releaseFD() {
	if c.ioRef.Add(-1) == fdClosed {
		sysClose(c.fd)
	}
}

// closeFD closes the fd now, or when the last I/O call holding it ends.
func (c *Conn) closeFD() {
	if old := c.ioRef.Or(fdClosed); old == 0 {
		sysClose(c.fd)
	}
}

// RemoteAddr returns the peer's "ip:port".
func (c *Conn) RemoteAddr() string { return netip.AddrPortFrom(c.ip, c.port).String() }

// setAddr records the peer's address; only before the Conn is shared.
func (c *Conn) setAddr(a netip.AddrPort) { c.ip, c.port = a.Addr(), a.Port() }

// closing reports whether a close was started (lock-free).
func (c *Conn) closing() bool { return c.bits.Load()&bitClosing != 0 }

// SetValue stores v with the connection, for the handler's use.
func (c *Conn) SetValue(v any) {
	c.mu.Lock()
	c.val = v
	c.mu.Unlock()
}

// Value returns what SetValue stored, or nil.
func (c *Conn) Value() any {
	c.mu.Lock()
	v := c.val
	c.mu.Unlock()
	return v
}

// Send queues payload as one text frame and returns at once; it never blocks
// on the network. payload must stay unchanged afterwards: it may be shared by
// many connections and is written later by a flusher. Send returns false if
// the connection is closing or closed, or if the payload would exceed the
// write queue bounds, in which case the connection ends at once as a slow
// consumer: Handler.OnClose gets 1008 "slow_consumer" right away when the
// socket takes nothing more (the close frame is sent only if it still
// fits). Safe for concurrent use.
func (c *Conn) Send(payload []byte) bool {
	s := c.s
	op := ws.OpText
	if b := c.bits.Load(); b&bitDeflate != 0 && b&bitClosing == 0 && len(payload) >= s.cfg.CompressionMinBytes {
		// Compressed once per payload, whatever the number of members.
		if z := s.deflate.get(payload); z != nil {
			payload, op = z, ws.OpText|opDeflated
		}
	}
	c.mu.Lock()
	if c.flags&flagClosing != 0 {
		c.mu.Unlock()
		return false
	}
	if c.wq.len()+1 > s.cfg.WriteQueueFrames || int(c.wqBytes)+len(payload) > s.cfg.WriteQueueBytes {
		c.overflowLocked()
		return false
	}
	c.enqueueLocked(op, payload)
	c.mu.Unlock()
	return true
}

// Compressed reports whether the connection negotiated permessage-deflate.
func (c *Conn) Compressed() bool { return c.bits.Load()&bitDeflate != 0 }

// overflowLocked ends c as a slow consumer, now: what has not started to
// leave is dropped and the 1008 close frame queued; if the socket buffer is
// full (the peer is not reading) the connection is finalized at once,
// otherwise the flusher tries to write the close frame and finalizes as
// soon as a write would block. It is called with c.mu held and unlocks it.
func (c *Conn) overflowLocked() {
	s := c.s
	s.stats.slowConsumers.Add(1)
	c.dropUnstartedLocked()
	c.startCloseLocked(ReasonSlowConsumer.Code(), ReasonSlowConsumer.String(), true)
	c.flags |= flagCutoff
	blocked := c.flags&flagBlocked != 0
	c.mu.Unlock()
	if blocked {
		s.finalize(c, ReasonSlowConsumer.Code(), ReasonSlowConsumer.String())
	}
}

// Close starts closing the connection: it queues a close frame with code (0
// means 1000) and reason (cut to 123 bytes in the frame), lets what is queued flush, then closes the socket,
// waiting at most WriteTimeout for the peer to take the data. It returns at
// once. Handler.OnClose then gets code and reason. Closing a closing
// connection does nothing. Safe for concurrent use.
func (c *Conn) Close(code uint16, reason string) {
	if code == 0 {
		code = 1000
	}
	c.mu.Lock()
	if c.flags&flagHandshake != 0 {
		c.mu.Unlock()
		c.s.finalize(c, code, reason)
		return
	}
	c.startCloseLocked(code, reason, true)
	c.mu.Unlock()
}

func (c *Conn) dropUnstartedLocked() {
	keep := 0
	if c.wqOff > 0 {
		keep = 1
	}
	c.wqBytes -= int32(c.wq.truncate(keep, &c.s.chunks))
}

// enqueueLocked appends a frame and schedules a flush.
func (c *Conn) enqueueLocked(op ws.OpCode, payload []byte) {
	if c.wq.len() == 0 {
		c.progress = time.Now().UnixNano()
	}
	c.wq.push(outFrame{op: op, payload: payload}, &c.s.chunks)
	c.wqBytes += int32(len(payload))
	c.scheduleLocked()
}

func (c *Conn) scheduleLocked() {
	if c.flags&(flagScheduled|flagBlocked|flagDone) != 0 || c.flags&flagReady == 0 || c.wq.len() == 0 {
		return
	}
	c.flags |= flagScheduled
	c.s.pushFlush(c)
}

// startCloseLocked records the close and, if sendFrame, queues the close frame.
func (c *Conn) startCloseLocked(code uint16, reason string, sendFrame bool) {
	if c.flags&(flagClosing|flagDone) != 0 {
		return
	}
	c.flags |= flagClosing
	c.bits.Or(bitClosing)
	c.code, c.reason = code, reason
	c.progress = time.Now().UnixNano()
	if !sendFrame {
		return
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	var body []byte
	if code != 1005 && code != 0 {
		body = make([]byte, 2+len(reason))
		binary.BigEndian.PutUint16(body, code)
		copy(body[2:], reason)
	}
	c.enqueueLocked(ws.OpClose, body)
}

// frameSink, called by the busy worker.

func (c *Conn) onText(msg []byte) {
	c.s.stats.framesIn.Add(1)
	c.s.handler.OnText(c, msg)
}

func (c *Conn) onPing(p []byte) {
	c.s.stats.framesIn.Add(1)
	pong := append([]byte(nil), p...)
	c.mu.Lock()
	if c.flags&flagClosing == 0 {
		if c.wq.len()+1 > c.s.cfg.WriteQueueFrames || int(c.wqBytes)+len(pong) > c.s.cfg.WriteQueueBytes {
			c.overflowLocked()
			return
		}
		c.enqueueLocked(ws.OpPong, pong)
	}
	c.mu.Unlock()
}

func (c *Conn) onPong() {
	c.s.stats.framesIn.Add(1)
	c.pingSent.Store(0)
}

func (c *Conn) onClose(code uint16) {
	c.s.stats.framesIn.Add(1)
	c.mu.Lock()
	c.startCloseLocked(code, ReasonClientClose.String(), true)
	c.mu.Unlock()
}

func (c *Conn) stopped() bool { return c.closing() }

// sendPing queues a ping; used by the sweeper.
func (c *Conn) sendPing() {
	c.mu.Lock()
	if c.flags&flagClosing == 0 {
		c.enqueueLocked(ws.OpPing, nil)
	}
	c.mu.Unlock()
}
