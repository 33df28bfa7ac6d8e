//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"os"
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
	// The poll loop waits for the epoll set to have events in the
	// runtime's own poller, like any other pollable file (an epoll fd is
	// one): not blocked in epoll_wait(2) on a thread of its own.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return fmt.Errorf("epoll non-blocking: %w", err)
	}
	s.epfd, s.evfd = epfd, evfd
	s.epoll = os.NewFile(uintptr(epfd), "epoll")
	return nil
}

// wakePoller makes the poll loop return.
func (s *Server) wakePoller() {
	var one = [8]byte{1}
	_, _ = unix.Write(s.evfd, one[:])
}

func (s *Server) closePoller() {
	_ = s.epoll.Close() // and epfd
	unix.Close(s.evfd)
}

// epollCtl is epoll_ctl(2) as a raw system call (see sysRead): it never
// blocks.
func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// register adds c's fd to epoll, armed for reading.
func (s *Server) register(c *Conn) error {
	ev := unix.EpollEvent{Events: evRead, Fd: c.fd, Pad: int32(c.gen)}
	return epollCtl(s.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &ev)
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
	if err := epollCtl(s.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		s.log.Error("epoll rearm", "conn", c.RemoteAddr(), "err", err)
	}
}

// unregister removes c's fd from epoll; the fd is still open.
func (s *Server) unregister(c *Conn) {
	_ = epollCtl(s.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
}

// pollLoop is the one goroutine that takes the epoll set's events. It hands
// them to workers.
//
// It never blocks in epoll_wait(2): it takes what is ready without waiting
// (a raw system call), and once nothing is, it parks in the runtime's poller
// until the epoll fd is readable again. A blocking epoll_wait kept a thread
// in a system call the scheduler had to notice and hand its P away from
// (sysmon then wakes every 20 µs; 5.5% of the hub's CPU while connections
// opened, in perf), and woke another thread to take the P back after.
func (s *Server) pollLoop() {
	defer close(s.work)
	rc, err := s.epoll.SyscallConn()
	if err != nil {
		s.log.Error("epoll", "err", err)
		return
	}
	events := make([]unix.EpollEvent, 256)
	items := make([]workItem, 0, len(events))
	quit := false
	err = rc.Read(func(uintptr) bool {
		// Until the set is empty: the runtime's registration is
		// edge-triggered, so it reports only events that arrive after.
		for !quit {
			n, err := epollWaitNow(s.epfd, events)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				s.log.Error("epoll wait", "err", err)
				quit = true
			case n == 0:
				return false
			default:
				quit = s.dispatch(events[:n], items)
			}
		}
		return true
	})
	if err != nil && !quit {
		s.log.Error("epoll", "err", err)
	}
}

// epollWaitNow is epoll_pwait(2) without a timeout, as a raw system call.
func epollWaitNow(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// dispatch hands a batch of events to the workers and accepts what the
// listener has; quit says the server is stopping.
func (s *Server) dispatch(events []unix.EpollEvent, items []workItem) (quit bool) {
	accept := false
	s.tableMu.RLock()
	for i := range events {
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
	if accept {
		s.acceptReady()
	}
	return quit
}

// worker reads ready sockets. Each has its own buffer and parse scratch.
type worker struct {
	s   *Server
	buf []byte
	sc  parseScratch
}

// sysRead is a non-blocking read(2) that retries EINTR, made as a raw
// system call: a read of a non-blocking socket never parks, and without the
// scheduler's enter/exit bookkeeping the runtime's monitor does not take the
// worker's P away in the middle of it (on two busy cores it did, every few
// connections: a hand-off to another thread and a futex wake-up each).
func sysRead(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return rawIO(unix.SYS_READ, fd, b)
}

// rawIO is read(2) or write(2) of a non-empty b as a raw system call,
// retrying EINTR.
func rawIO(trap, fd uintptr, b []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return -1, e
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
	return rawIO(unix.SYS_WRITE, fd, b)
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
