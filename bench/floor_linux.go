//go:build linux

package bench

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// The floor server is the leanest WebSocket server of the hub's protocol
// subset that the cases use, the reference Hub's CPU and memory are judged
// against in the same run: raw epoll (one loop per core, each with its own
// SO_REUSEPORT listener), gobwas/ws for frame headers and unmasking, rooms in
// a map, every frame for one connection within one turn of a loop coalesced
// into one write(2). It speaks join_room (answered with an ack) and message
// to a room (to every other member as {"type":"message","room":...,"data":...}),
// answers GET /readyz, and nothing else: no authentication, no NATS, no
// events, no limits, no timeouts. Its JSON is found by scanning for the
// fields the tool's clients send, not parsed.

// RunFloor serves the floor server on addr until stop is closed. It blocks.
func RunFloor(addr string, stop <-chan struct{}) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host).To4()
	pn, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return fmt.Errorf("floor: %q is not an IPv4 address and port", addr)
	}
	f := &floor{rooms: map[string]*floorRoom{}}
	n := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, n)
	loops := make([]*floorLoop, n)
	for i := range n {
		l, err := newFloorLoop(f, ip, pn)
		if err != nil {
			for _, l := range loops[:i] {
				l.close()
			}
			return err
		}
		loops[i] = l
	}
	for i, l := range loops {
		wg.Go(func() { errs[i] = l.run(stop) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

type floor struct {
	mu    sync.Mutex
	rooms map[string]*floorRoom
}

type floorRoom struct {
	name    string
	mu      sync.Mutex
	members []*floorConn
}

func (f *floor) room(name []byte) *floorRoom {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[string(name)]
	if r == nil {
		r = &floorRoom{name: string(name)}
		f.rooms[string(name)] = r
	}
	return r
}

type floorConn struct {
	fd    int
	open  bool   // upgraded
	in    []byte // an incomplete request head or frame
	rooms []*floorRoom

	mu    sync.Mutex // out and dirty: any loop may queue frames
	out   []byte
	dirty bool
	dead  bool
}

type floorLoop struct {
	f     *floor
	lfd   int
	epfd  int
	conns map[int]*floorConn
	rbuf  []byte
	dirty []*floorConn // conns this loop queued to, flushed at the end of its turn
	frame []byte
}

func newFloorLoop(f *floor, ip net.IP, port int) (*floorLoop, error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	_ = unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	_ = unix.SetsockoptInt(lfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	sa := &unix.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip)
	if err := unix.Bind(lfd, sa); err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("floor: bind: %w", err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		unix.Close(lfd)
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(lfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		unix.Close(lfd)
		unix.Close(epfd)
		return nil, err
	}
	return &floorLoop{f: f, lfd: lfd, epfd: epfd, conns: map[int]*floorConn{}, rbuf: make([]byte, 64<<10)}, nil
}

func (l *floorLoop) close() {
	for _, c := range l.conns {
		unix.Close(c.fd)
	}
	unix.Close(l.lfd)
	unix.Close(l.epfd)
}

func (l *floorLoop) run(stop <-chan struct{}) error {
	defer l.close()
	events := make([]unix.EpollEvent, 512)
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		timeout := 100
		if len(l.dirty) > 0 {
			timeout = 1 // a flush left bytes behind (full socket buffer)
		}
		n, err := unix.EpollWait(l.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("floor: epoll_wait: %w", err)
		}
		for i := range n {
			fd := int(events[i].Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			if c := l.conns[fd]; c != nil {
				l.read(c)
			}
		}
		l.flush()
	}
}

func (l *floorLoop) accept() {
	for {
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}); err != nil {
			unix.Close(fd)
			continue
		}
		l.conns[fd] = &floorConn{fd: fd}
	}
}

func (l *floorLoop) read(c *floorConn) {
	for {
		n, err := unix.Read(c.fd, l.rbuf)
		if n > 0 {
			if !l.data(c, l.rbuf[:n]) {
				l.drop(c)
				return
			}
			if n < len(l.rbuf) {
				return
			}
			continue
		}
		if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
			return
		}
		l.drop(c)
		return
	}
}

func (l *floorLoop) drop(c *floorConn) {
	for _, r := range c.rooms {
		r.mu.Lock()
		for i, m := range r.members {
			if m == c {
				last := len(r.members) - 1
				r.members[i] = r.members[last]
				r.members[last] = nil
				r.members = r.members[:last]
				break
			}
		}
		r.mu.Unlock()
	}
	c.mu.Lock()
	c.dead = true
	c.out = nil
	c.mu.Unlock()
	delete(l.conns, c.fd)
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
}

// data handles bytes read from c; false closes c.
func (l *floorLoop) data(c *floorConn, b []byte) bool {
	if len(c.in) > 0 {
		c.in = append(c.in, b...)
		b = c.in
	}
	if !c.open {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			if len(b) > 16<<10 {
				return false
			}
			c.keep(b)
			return true
		}
		if !l.handshake(c, b[:i+4]) {
			return false
		}
		b = b[i+4:]
		c.open = true
	}
	for len(b) >= 2 {
		h, hl, ok := frameHeader(b)
		if !ok || len(b)-hl < int(h.Length) {
			break
		}
		payload := b[hl : hl+int(h.Length)]
		b = b[hl+int(h.Length):]
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpText:
			l.text(c, payload)
		case ws.OpPing:
			l.queue(c, ws.MustCompileFrame(ws.NewPongFrame(payload)))
		case ws.OpClose:
			return false
		}
	}
	c.keep(b)
	return true
}

func (c *floorConn) keep(b []byte) {
	if len(b) == 0 {
		c.in = nil
		return
	}
	c.in = append(c.in[:0:0], b...)
}

// frameHeader parses a frame header at the start of b.
func frameHeader(b []byte) (ws.Header, int, bool) {
	var h ws.Header
	if len(b) < 2 {
		return h, 0, false
	}
	h.Fin = b[0]&0x80 != 0
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n, hl := int64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return h, 0, false
		}
		n, hl = int64(b[2])<<8|int64(b[3]), 4
	case 127:
		if len(b) < 10 {
			return h, 0, false
		}
		n = 0
		for _, x := range b[2:10] {
			n = n<<8 | int64(x)
		}
		hl = 10
	}
	if h.Masked {
		if len(b) < hl+4 {
			return h, 0, false
		}
		copy(h.Mask[:], b[hl:hl+4])
		hl += 4
	}
	h.Length = n
	return h, hl, true
}

var wsGUID = []byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11")

func (l *floorLoop) handshake(c *floorConn, head []byte) bool {
	if bytes.HasPrefix(head, []byte("GET /readyz ")) {
		_, _ = unix.Write(c.fd, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
		return false
	}
	key := headerValue(head, "sec-websocket-key")
	if key == nil {
		_, _ = unix.Write(c.fd, []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return false
	}
	h := sha1.New()
	h.Write(key)
	h.Write(wsGUID)
	var sum [sha1.Size]byte
	var acc [28]byte
	base64.StdEncoding.Encode(acc[:], h.Sum(sum[:0]))
	resp := append([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "), acc[:]...)
	resp = append(resp, "\r\n\r\n"...)
	_, err := unix.Write(c.fd, resp)
	return err == nil
}

// headerValue finds a header's value in a request head (name lower case).
func headerValue(head []byte, name string) []byte {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// field returns the raw value after `"name":` in a JSON object: a string's
// contents, or a number's digits.
func field(p []byte, name string) []byte {
	i := bytes.Index(p, []byte(`"`+name+`":`))
	if i < 0 {
		return nil
	}
	v := p[i+len(name)+3:]
	if len(v) > 0 && v[0] == '"' {
		end := bytes.IndexByte(v[1:], '"')
		if end < 0 {
			return nil
		}
		return v[1 : 1+end]
	}
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	return v[:end]
}

func (l *floorLoop) text(c *floorConn, p []byte) {
	switch {
	case bytes.Contains(p, []byte(`"type":"join_room"`)):
		r := l.f.room(field(p, "room"))
		r.mu.Lock()
		r.members = append(r.members, c)
		r.mu.Unlock()
		c.rooms = append(c.rooms, r)
		if id := field(p, "id"); len(id) > 0 {
			l.queue(c, ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"type":"ack","id":`+string(id)+`}`))))
		}
	case bytes.Contains(p, []byte(`"type":"message"`)):
		room := field(p, "room")
		i := bytes.Index(p, []byte(`"data":`))
		j := bytes.LastIndexByte(p, '}')
		if room == nil || i < 0 || j <= i+7 {
			return
		}
		data := p[i+7 : j]
		var r *floorRoom
		for _, x := range c.rooms {
			if x.name == string(room) {
				r = x
			}
		}
		if r == nil {
			return
		}
		// One frame, encoded once, for every other member.
		body := len(`{"type":"message","room":"`) + len(room) + len(`","data":`) + len(data) + 1
		fr := l.frame[:0]
		fr = append(fr, 0x81)
		switch {
		case body < 126:
			fr = append(fr, byte(body))
		case body < 1<<16:
			fr = append(fr, 126, byte(body>>8), byte(body))
		default:
			return
		}
		fr = append(fr, `{"type":"message","room":"`...)
		fr = append(fr, room...)
		fr = append(fr, `","data":`...)
		fr = append(fr, data...)
		fr = append(fr, '}')
		l.frame = fr
		r.mu.Lock()
		for _, m := range r.members {
			if m != c {
				l.queue(m, fr)
			}
		}
		r.mu.Unlock()
	}
}

// queue appends a frame to c's output; the loop writes it at the end of its
// turn, with whatever else was queued to c meanwhile.
func (l *floorLoop) queue(c *floorConn, frame []byte) {
	c.mu.Lock()
	if !c.dead {
		c.out = append(c.out, frame...)
		if !c.dirty {
			c.dirty = true
			l.dirty = append(l.dirty, c)
		}
	}
	c.mu.Unlock()
}

func (l *floorLoop) flush() {
	keep := l.dirty[:0]
	for _, c := range l.dirty {
		c.mu.Lock()
		if c.dead {
			c.dirty = false
			c.mu.Unlock()
			continue
		}
		n, err := unix.Write(c.fd, c.out)
		switch {
		case n == len(c.out):
			c.out = c.out[:0]
			if cap(c.out) > 512 {
				c.out = nil
			}
			c.dirty = false
		case n > 0:
			c.out = c.out[:copy(c.out, c.out[n:])]
			keep = append(keep, c)
		case errors.Is(err, unix.EAGAIN):
			keep = append(keep, c)
		default:
			c.dirty = false // the reader sees the error and drops it
		}
		c.mu.Unlock()
	}
	clear(l.dirty[len(keep):])
	l.dirty = keep
}
