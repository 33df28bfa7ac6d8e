//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readBufBytes is the size of each worker's read buffer.
const readBufBytes = 64 << 10

const (
	// Edge-triggered: a registration stays armed, so reading needs no
	// epoll_ctl; a worker reads until the socket is drained (a short read).
	evRead  = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
	evWrite = unix.EPOLLOUT
)

// epollEvents are the reported bits a worker acts on, kept in
// Conn.pendingEv while the Conn is busy: they fit its 16 bits (the
// constant conversion would not compile otherwise).
const epollEvents = uint16(unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR)

// workItem is one readiness event handed from the poller to a worker.
type workItem struct {
	c  *Conn
	ev uint32
}

func (s *Server) openPoller() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll create: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return fmt.Errorf("epoll add eventfd: %w", err)
	}
	s.epfd, s.evfd = epfd, evfd
	return nil
}

// wakePoller makes the poll loop return.
func (s *Server) wakePoller() {
	var one = [8]byte{1}
	_, _ = unix.Write(s.evfd, one[:])
}

func (s *Server) closePoller() {
	unix.Close(s.epfd)
	unix.Close(s.evfd)
}

// register adds c's fd to epoll, armed for reading.
func (s *Server) register(c *Conn) error {
	ev := unix.EpollEvent{Events: evRead, Fd: c.fd, Pad: int32(c.gen)}
	return unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &ev)
}

// arm sets whether c's registration asks for EPOLLOUT (only while a write
// is blocked: otherwise every ACK would be an event). It calls epoll_ctl only
// on a change. The caller holds c.mu and has checked that c is not done, so
// the fd is still open.
func (s *Server) arm(c *Conn, write bool) {
	if write == (c.flags&flagOutArmed != 0) {
		return
	}
	ev := unix.EpollEvent{Events: evRead, Fd: c.fd, Pad: int32(c.gen)}
	if write {
		ev.Events |= evWrite
		c.flags |= flagOutArmed
	} else {
		c.flags &^= flagOutArmed
	}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		s.log.Error("epoll rearm", "conn", c.RemoteAddr(), "err", err)
	}
}

// unregister removes c's fd from epoll; the fd is still open.
func (s *Server) unregister(c *Conn) {
	_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
}

// pollLoop is the one goroutine in EpollWait. It hands events to workers.
func (s *Server) pollLoop() {
	defer close(s.work)
	events := make([]unix.EpollEvent, 256)
	items := make([]workItem, 0, len(events))
	for {
		n, err := unix.EpollWait(s.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			s.log.Error("epoll wait", "err", err)
			return
		}
		quit, accept := false, false
		s.tableMu.RLock()
		for i := range n {
			ev := &events[i]
			if int(ev.Fd) == s.evfd {
				quit = true
				continue
			}
			if ev.Pad == -1 {
				accept = true
				continue
			}
			if int(ev.Fd) < len(s.table) {
				if c := s.table[ev.Fd]; c != nil && c.gen == uint32(ev.Pad) {
					items = append(items, workItem{c: c, ev: ev.Events})
				}
			}
		}
		s.tableMu.RUnlock()
		for i := range items {
			s.work <- items[i]
			items[i] = workItem{}
		}
		items = items[:0]
		if accept {
			s.acceptReady()
		}
		if quit {
			return
		}
	}
}

// worker reads ready sockets. Each has its own buffer and parse scratch.
type worker struct {
	s   *Server
	buf []byte
	sc  parseScratch
}

// sysRead is a non-blocking read(2) that retries EINTR.
func sysRead(fd uintptr, b []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// sysWrite is a non-blocking write(2) that retries EINTR.
func sysWrite(fd uintptr, b []byte) (int, error) {
	for {
		n, err := unix.Write(int(fd), b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// rawWriteMax is the largest flush written with a raw system call.
const rawWriteMax = 2048

// flushWrite is the flushers' write(2). A small write (a frame or two:
// what a paced fan-out sends each member) is made as a raw system call,
// without the scheduler's enter/exit bookkeeping: it never parks and takes
// a few microseconds. A large one stays an ordinary system call, which
// lets the scheduler hand the P over while the kernel works. The flushers
// yield every 16 connections (flushLoop) so the goroutines queueing frames
// keep running. Measured with `hub bench -case burst,paced`, binaries
// alternated: paced 9.4 / 9.9 µs per delivery against 11.2 / 10.8, burst
// 0.42 / 0.45 µs against 0.58 / 0.64 (raw writes of every size without the
// yield made a burst 10× slower: the flushers kept both Ps and the writes
// stopped coalescing).
func flushWrite(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 || len(b) > rawWriteMax {
		return sysWrite(fd, b)
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return -1, e
	}
}

// wouldBlock reports whether err means the socket buffer is full (or empty).
func wouldBlock(err error) bool { return err == unix.EAGAIN }

// peerGone reports whether a write failed because the peer went away.
func peerGone(err error) bool {
	return errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET)
}

func (s *Server) workLoop() {
	w := &worker{s: s, buf: make([]byte, readBufBytes)}
	w.sc.inflateMax = s.cfg.MaxInflatedBytes
	for it := range s.work {
		w.handle(it.c, it.ev)
	}
}

func (w *worker) handle(c *Conn, ev uint32) {
	c.mu.Lock()
	if c.flags&flagDone != 0 {
		c.mu.Unlock()
		return
	}
	if c.flags&flagBusy != 0 {
		c.pendingEv |= uint16(ev) & epollEvents
		c.mu.Unlock()
		return
	}
	c.flags |= flagBusy
	c.mu.Unlock()
	w.serve(c, ev)
}

// serve handles ev for c, whose busy flag the caller holds, then the events
// that arrived meanwhile, and lets go of the busy flag (unless an upgrade
// went on off the worker: that goroutine holds it then).
func (w *worker) serve(c *Conn, ev uint32) {
	s := w.s
	for {
		if ev&unix.EPOLLOUT != 0 {
			c.mu.Lock()
			c.flags &^= flagBlocked
			c.scheduleLocked()
			c.mu.Unlock()
		}
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			c.mu.Lock()
			hs := c.flags&flagHandshake != 0
			c.mu.Unlock()
			// A peer's FIN or reset that came with the data is no new edge
			// once read: read until the end shows.
			drain := ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
			var more bool
			if hs {
				var deferred bool
				more, deferred = w.handshake(c)
				if deferred {
					return
				}
				more = more || drain
			} else {
				more = w.read(c, drain)
			}
			if more {
				// Stopped before the socket was drained: no new edge will
				// come for what is left, so go on.
				c.mu.Lock()
				c.pendingEv |= unix.EPOLLIN
				c.mu.Unlock()
			}
		}
		c.mu.Lock()
		if c.pendingEv != 0 {
			ev, c.pendingEv = uint32(c.pendingEv), 0
			c.mu.Unlock()
			continue
		}
		c.flags &^= flagBusy
		if c.flags&flagFinalPend != 0 {
			c.mu.Unlock()
			s.end(c, 0, "", true)
			return
		}
		if c.flags&flagDone == 0 {
			s.arm(c, c.flags&flagBlocked != 0)
		}
		c.mu.Unlock()
		return
	}
}

// read reads what the socket has and feeds it to the frame reader. A read
// shorter than the buffer drained the socket (data arriving later is a new
// edge) unless drain says the peer's end came with the event: then it reads
// on until that shows. After a bounded number of reads it returns more =
// true.
func (w *worker) read(c *Conn, drain bool) (more bool) {
	s := w.s
	for range 8 {
		if !c.acquire() {
			s.end(c, ReasonConnectionLost.Code(), ReasonConnectionLost.String(), true)
			return false
		}
		n, err := sysRead(uintptr(c.fd), w.buf)
		c.releaseFD()
		if wouldBlock(err) {
			return false
		}
		if err != nil || n <= 0 {
			s.end(c, ReasonConnectionLost.Code(), ReasonConnectionLost.String(), true)
			return false
		}
		s.stats.bytesIn.Add(uint64(n))
		c.lastSeen.Store(time.Now().UnixNano())
		if !c.closing() {
			if reason := c.rd.feed(&w.sc, w.buf[:n], s.cfg.MaxFrameBytes, c.Compressed(), c); reason != 0 {
				s.protocolClose(c, reason)
			}
		}
		if n < len(w.buf) && !drain {
			return false
		}
	}
	return true
}
