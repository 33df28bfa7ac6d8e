//go:build linux

package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The listener is served without net/http's connection goroutine: one
// goroutine accepts with accept4(2), each new socket goes straight into the
// epoll set, and a worker reads its request when it arrives. A WebSocket
// upgrade on Config.Path is answered there and the socket stays in epoll as
// a Conn; any other request (the HTTP API, metrics, SSE) is handed, with the
// bytes already read, to the net/http server through connListener. The
// socket is never registered with the Go runtime's poller, so the Conn keeps
// only its fd.

// maxHeadBytes bounds the request head read by the raw path; a longer head
// is handed to net/http, which has its own limit.
const maxHeadBytes = 16 << 10

// openListener takes a non-blocking duplicate of ln's socket into the epoll
// set (level-triggered) and closes ln: the poll loop accepts.
func (s *Server) openListener(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return errors.New("listener has no raw socket")
	}
	fd, err := dupFD(sc)
	if err != nil {
		return err
	}
	// Accepted sockets inherit TCP_NODELAY (small frames leave at once):
	// one setsockopt here instead of one per connection.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listener TCP_NODELAY: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd), Pad: -1}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return fmt.Errorf("epoll add listener: %w", err)
	}
	s.lfd = fd
	_ = ln.Close()
	return nil
}

// closeListener stops accepting.
func (s *Server) closeListener() {
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	if s.lfd < 0 {
		return
	}
	_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, s.lfd, nil)
	unix.Close(s.lfd)
	s.lfd = -1
}

// accept4 is rawAccept4; tests replace it to fail.
var accept4 = rawAccept4

// rawAccept4 accepts a connection from the non-blocking listener lfd, as a
// raw system call (see sysRead), and decodes the peer's address itself:
// unix.Accept4 asks the listener's protocol with a getsockopt(2) for every
// IPv4 peer (to tell L2TP apart), a system call per connection for nothing.
func rawAccept4(lfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(r), rawAddrPort(&rsa), nil
}

// rawAddrPort decodes an IPv4 or IPv6 socket address; any other is zero.
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), netPort(a.Port))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), netPort(a.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port kept in network byte order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// acceptReady accepts what the listener has, a bounded number at a time
// (the level-triggered registration reports the rest). It runs on the poll
// loop.
func (s *Server) acceptReady() {
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	for range 128 {
		if s.lfd < 0 || s.acceptPaused {
			return
		}
		nfd, peer, err := accept4(s.lfd)
		switch {
		case err == nil:
			s.accepted(nfd, peer)
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
		default:
			// Out of descriptors or memory: leave the backlog alone for a
			// while, as net/http does, without stalling the poll loop (the
			// level-triggered listener would wake it at once): stop
			// watching the listener and watch it again later.
			s.acceptBackoff = min(max(2*s.acceptBackoff, 5*time.Millisecond), time.Second)
			if s.warnLimit.allow() {
				s.log.Warn("accept failed; pausing new connections", "err", err, "for", s.acceptBackoff)
			}
			s.acceptPaused = true
			ev := unix.EpollEvent{Fd: int32(s.lfd), Pad: -1}
			_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, s.lfd, &ev)
			time.AfterFunc(s.acceptBackoff, s.resumeAccept)
			return
		}
	}
	s.acceptBackoff = 0
}

// resumeAccept watches the listener again after a pause.
func (s *Server) resumeAccept() {
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	s.acceptPaused = false
	if s.lfd < 0 {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.lfd), Pad: -1}
	_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, s.lfd, &ev)
}

// accepted puts a new socket in epoll to wait for its request.
func (s *Server) accepted(fd int, peer netip.AddrPort) {
	// TCP_NODELAY is inherited from the listening socket.
	c := &Conn{s: s, fd: int32(fd), gen: s.newGen(), flags: flagHandshake}
	c.setAddr(peer)
	c.progress = time.Now().UnixNano()
	c.lastSeen.Store(c.progress)
	if !s.insert(c) {
		unix.Close(fd)
		return
	}
	if err := s.register(c); err != nil {
		s.remove(c)
		unix.Close(fd)
		s.log.Error("epoll add", "err", err)
	}
}

// handshake reads a request on a Conn still in its handshake. It runs on the
// worker holding the Conn's busy flag. It returns once the request is
// incomplete for now (the worker re-arms the fd), answered, or handed off;
// deferred says the upgrade went on on a goroutine of its own, which now
// holds the busy flag (resumeRaw).
func (w *worker) handshake(c *Conn) (more, deferred bool) {
	s := w.s
	for {
		var n int
		var err error
		if c.acquire() {
			n, err = sysRead(uintptr(c.fd), w.buf)
			c.releaseFD()
		} else {
			return false, false
		}
		if wouldBlock(err) {
			return false, false
		}
		if err != nil || n <= 0 {
			s.end(c, 0, "", true)
			return false, false
		}
		s.stats.bytesIn.Add(uint64(n))
		head, from := w.buf[:n], 0
		if p := c.rd.partial(); len(p) > 0 {
			// Search only the new bytes (and the 3 before them): a head
			// sent a byte at a time must not cost a scan of all of it
			// per byte.
			from = max(0, len(p)-3)
			head = append(p, head...)
			c.rd.setPartial(head)
		}
		end := bytes.Index(head[from:], []byte("\r\n\r\n"))
		if end >= 0 {
			end += from
		}
		if end < 0 {
			if len(head) >= maxHeadBytes {
				s.handOff(c, head)
				return false, false
			}
			if len(c.rd.partial()) == 0 {
				c.rd.setPartial(append(make([]byte, 0, 2*len(head)), head...))
			}
			continue
		}
		c.rd.setPartial(nil)
		if s.serveRaw(c, head[:end+4], head[end+4:]) {
			return false, true
		}
		// A full read may have left bytes in the socket.
		return n == len(w.buf), false
	}
}

var headReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// readHead parses a complete request head: an ordinary upgrade with
// parseHead, anything else with http.ReadRequest.
func readHead(head []byte) (*http.Request, error) {
	if r, ok := parseHead(head); ok {
		return r, nil
	}
	br := headReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(head))
	r, err := http.ReadRequest(br)
	br.Reset(nil)
	headReaders.Put(br)
	return r, err
}

// serveRaw handles one complete request head read by the raw path. rest is
// what the client sent after it. deferred says the upgrade goes on on a
// goroutine of its own (a slow Authenticate), which ends with resumeRaw.
func (s *Server) serveRaw(c *Conn, head, rest []byte) (deferred bool) {
	r, err := readHead(head)
	if err != nil || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		// Not a request we upgrade: net/http answers it (with 400 if bad).
		s.handOff(c, append(head, rest...))
		return false
	}
	if _, pattern := s.mux.Handler(r); pattern != s.wsPattern {
		s.handOff(c, append(head, rest...))
		return false
	}
	r.RemoteAddr = c.RemoteAddr()
	rw := &rawResponse{c: c, rest: rest}
	s.mux.ServeHTTP(rw, r)
	if rw.deferred {
		return true
	}
	if !rw.upgraded {
		rw.finish()
		s.end(c, 0, "", true)
	}
	return false
}

// resumeWorkers serve a connection whose upgrade went on off the workers
// once it is done; their buffers are smaller than a worker's, since all
// they read is what the client sent while it waited.
var resumeWorkers = sync.Pool{New: func() any { return &worker{buf: make([]byte, 16<<10)} }}

// resumeRaw ends a deferred upgrade on the goroutine that ran it, which
// holds the Conn's busy flag: it answers a refusal, or reads what arrived
// meanwhile (events recorded while busy included) as the worker would
// have, then lets go of the busy flag.
func (s *Server) resumeRaw(rw *rawResponse) {
	c := rw.c
	if !rw.upgraded {
		rw.finish()
		s.end(c, 0, "", true)
		return
	}
	w := resumeWorkers.Get().(*worker)
	w.s = s
	w.serve(c, unix.EPOLLIN)
	w.s = nil
	resumeWorkers.Put(w)
}

// handOff gives a socket still in its handshake to net/http, with the bytes
// read from it so far.
func (s *Server) handOff(c *Conn, read []byte) {
	c.mu.Lock()
	if c.flags&flagDone != 0 {
		c.mu.Unlock()
		return
	}
	c.flags |= flagDone
	c.mu.Unlock()
	s.unregister(c)
	s.remove(c)
	// net.FileConn dups the fd into the runtime poller; ours is closed by
	// f. Only this worker does I/O on a Conn in its handshake, so nothing
	// holds the fd; the mark keeps anything late from using it.
	c.ioRef.Or(fdClosed)
	f := os.NewFile(uintptr(c.fd), "")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		s.log.Debug("hand off to http", "err", err)
		return
	}
	if !s.httpLn.push(&replayConn{Conn: nc, buf: append([]byte(nil), read...)}) {
		_ = nc.Close()
	}
}

// rawResponse is the http.ResponseWriter of a request read by the raw path:
// refusals are buffered and written by finish; an upgrade writes its 101
// itself and sets upgraded.
type rawResponse struct {
	c        *Conn
	rest     []byte // bytes after the request head: the client's first frames
	header   http.Header
	status   int
	body     []byte
	upgraded bool
	deferred bool // the upgrade goes on off the worker (SlowAuthenticator)
}

func (w *rawResponse) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *rawResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// finish writes the buffered response and closes the write side.
func (w *rawResponse) finish() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	b := make([]byte, 0, 256+len(w.body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	h := w.Header()
	if h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	h.Set("Connection", "close")
	for k, vs := range h {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	b = append(b, w.body...)
	w.c.writeAll(b, w.c.s.cfg.WriteTimeout)
	w.c.mu.Lock()
	w.c.flags |= flagClean
	w.c.mu.Unlock()
}

// upgrade writes the 101 response to r, whose handshake headers serveWS has
// checked. It returns false if the socket did not take it.
func (w *rawResponse) upgrade(r *http.Request, deflate bool) bool {
	key := r.Header.Get("Sec-WebSocket-Key")
	b := make([]byte, 0, 240)
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = appendAcceptKey(b, key)
	if deflate {
		b = append(b, "\r\nSec-WebSocket-Extensions: "+deflateResponse...)
	}
	b = append(b, "\r\n\r\n"...)
	if !w.c.writeAll(b, w.c.s.cfg.HandshakeTimeout) {
		return false
	}
	w.upgraded = true
	return true
}

// appendAcceptKey appends the Sec-WebSocket-Accept value for key (RFC 6455 §4.2.2).
func appendAcceptKey(dst []byte, key string) []byte {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	var sum [sha1.Size]byte
	return base64.StdEncoding.AppendEncode(dst, h.Sum(sum[:0]))
}

// writeAll writes b to the socket of a Conn that is not yet open, waiting
// up to d for room in the socket buffer (a fresh socket has plenty).
func (c *Conn) writeAll(b []byte, d time.Duration) bool {
	if !c.acquire() {
		return false
	}
	defer c.releaseFD()
	deadline := time.Now().Add(d)
	for len(b) > 0 {
		n, err := flushWrite(uintptr(c.fd), b)
		if n > 0 {
			c.s.stats.bytesOut.Add(uint64(n))
			b = b[n:]
			continue
		}
		if !wouldBlock(err) || time.Now().After(deadline) {
			return false
		}
		pfd := []unix.PollFd{{Fd: c.fd, Events: unix.POLLOUT}}
		_, _ = unix.Poll(pfd, 10)
	}
	return true
}

// connListener is the net.Listener the net/http server accepts from: the
// raw path pushes the connections that are not WebSocket upgrades.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// replayConn is a net.Conn whose first reads return buf.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		if len(c.buf) == 0 {
			c.buf = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// SyscallConn lets an upgrade on a handed-off connection take its fd.
func (c *replayConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("gateway: connection has no raw socket")
	}
	return sc.SyscallConn()
}

// dupFD takes the socket out of a net.Conn: the returned non-blocking fd is
// a duplicate the runtime's poller does not know; the caller closes nc.
func dupFD(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// shutdownWrite sends FIN.
func shutdownWrite(fd int32) { _ = unix.Shutdown(int(fd), unix.SHUT_WR) }

func sysClose(fd int32) { _ = unix.Close(int(fd)) }
