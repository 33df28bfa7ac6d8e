//go:build linux

package bench

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

type connState uint8

const (
	stConnecting connState = iota + 1 // non-blocking connect in progress
	stUpgrading                       // request written, waiting for 101
	stJoining                         // join_room sent, waiting for its ack
	stJoined                          // member of its room, counting deliveries
	stClosed
)

// conn is one client socket. An idle joined conn holds no buffer.
type conn struct {
	fd    int
	state connState
	room  int32
	start int64  // unix ns the dial started
	recv  uint64 // deliveries since the last reset
	buf   []byte // an incomplete frame (or 101 answer) carried to the next read

	trk    seqTrack // history rooms: what of the run it has had, and its offset
	rejoin bool     // joining again with since after a drop
}

// openJob is an "open" command in progress.
type openJob struct {
	cmd      command
	addr     unix.SockaddrInet4
	local    *unix.SockaddrInet4
	request  []byte
	joins    [][]byte // masked join frame per room
	started  int
	opened   int
	failed   int
	firstErr string
	inflight int
	retries  int
	begin    time.Time
	lastProg time.Time
	join     Hist
	done     func(answer)
	progress func(answer)
}

// pool owns an epoll instance and every client socket of a child. All of its
// fields belong to the goroutine in run, except the atomics, which status
// reads from another goroutine.
type pool struct {
	zr    inflater // compressed frames, when the hub negotiated permessage-deflate
	epfd  int
	conns []*conn // by fd
	rbuf  []byte
	job   *openJob
	chat  *chatJob
	hist  Hist
	pong  []byte

	// History rooms (history_client.go): set by the last open.
	histOn  bool
	epochs  []string // per room of the open, from the join acks
	dropped []*conn  // closed by drop, to open again with since
	hs      histStats

	joined    int
	closed    int
	errFrames int
	lastErr   string

	received  atomic.Uint64
	firstRecv atomic.Int64
	lastRecv  atomic.Int64
	nJoined   atomic.Int64
	nClosed   atomic.Int64
	nErrs     atomic.Int64
}

func newPool() (*pool, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &pool{epfd: epfd, rbuf: make([]byte, 256<<10)}, nil
}

// poolReq is work for the loop goroutine; reply is called on it.
type poolReq struct {
	cmd      command
	reply    func(answer)
	progress func(answer)
}

// run serves requests until quit closes, then closes every socket.
func (p *pool) run(reqs <-chan poolReq, quit <-chan struct{}) {
	defer p.closeAll()
	events := make([]unix.EpollEvent, 1024)
	lastSweep := time.Now()
	for {
		select {
		case <-quit:
			return
		case r := <-reqs:
			p.handle(r)
		default:
		}
		timeout := 20
		if p.job != nil {
			p.startConns()
			timeout = 5
		}
		if p.chat != nil {
			p.chatTurn()
			timeout = 1
		}
		n, err := unix.EpollWait(p.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			p.lastErr = "epoll_wait: " + err.Error()
			return
		}
		for i := range n {
			p.event(int(events[i].Fd), events[i].Events)
		}
		if p.job != nil && time.Since(lastSweep) > 250*time.Millisecond {
			lastSweep = time.Now()
			p.sweep(lastSweep.UnixNano())
			p.maybeProgress(false)
		}
	}
}

func (p *pool) handle(r poolReq) {
	switch r.cmd.Op {
	case opOpen:
		if p.job != nil {
			r.reply(answer{Op: opError, Error: "open already in progress"})
			return
		}
		j, err := p.newJob(r.cmd)
		if err != nil {
			r.reply(answer{Op: opError, Error: err.Error()})
			return
		}
		j.done, j.progress = r.reply, r.progress
		p.histOpen(j)
		p.job = j
		if j.cmd.N == 0 {
			p.finishJob()
		}
	case opChat:
		if p.chat != nil || p.job != nil {
			r.reply(answer{Op: opError, Error: "chat: another command is in progress"})
			return
		}
		j, err := p.newChat(r)
		if err != nil {
			r.reply(answer{Op: opError, Error: err.Error()})
			return
		}
		p.chat = j
	case opDrop:
		r.reply(p.drop())
	case opReset:
		p.hist.Reset()
		p.hs = histStats{}
		for _, c := range p.conns {
			if c != nil {
				c.recv = 0
				c.trk.reset()
			}
		}
		p.received.Store(0)
		p.firstRecv.Store(0)
		p.lastRecv.Store(0)
		r.reply(answer{Op: opReset})
	case opReport:
		a := p.status()
		a.Op = opReport
		a.Latency = p.hist.pack()
		a.LastErr = p.lastErr
		first := true
		for _, c := range p.conns {
			if c == nil || c.state != stJoined {
				continue
			}
			if first || c.recv < a.MinPerConn {
				a.MinPerConn = c.recv
			}
			if first || c.recv > a.MaxPerConn {
				a.MaxPerConn = c.recv
			}
			first = false
		}
		p.histReport(&a, r.cmd.Expect)
		r.reply(a)
	default:
		r.reply(answer{Op: opError, Error: "unknown command " + strconv.Quote(r.cmd.Op)})
	}
}

// status reads only atomics, so any goroutine may call it.
func (p *pool) status() answer {
	return answer{
		Op:         opStatus,
		Conns:      int(p.nJoined.Load()),
		Received:   p.received.Load(),
		FirstRecv:  p.firstRecv.Load(),
		LastRecv:   p.lastRecv.Load(),
		Closed:     int(p.nClosed.Load()),
		ErrFrames:  int(p.nErrs.Load()),
		CPUSeconds: selfCPU(),
	}
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func (p *pool) newJob(cmd command) (*openJob, error) {
	u, err := url.Parse(cmd.URL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", cmd.URL, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("url %q: only ws:// is supported", cmd.URL)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", cmd.URL, err)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	var ip4 net.IP
	for _, ip := range ips {
		if ip4 = ip.To4(); ip4 != nil {
			break
		}
	}
	if ip4 == nil {
		return nil, fmt.Errorf("resolve %s: no IPv4 address", host)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("url %q: bad port", cmd.URL)
	}
	if len(cmd.Rooms) == 0 {
		return nil, errors.New("open: no rooms")
	}
	j := &openJob{cmd: cmd, begin: time.Now(), lastProg: time.Now()}
	j.addr.Port = pn
	copy(j.addr.Addr[:], ip4)
	if cmd.Local != "" {
		lip := net.ParseIP(cmd.Local).To4()
		if lip == nil {
			return nil, fmt.Errorf("local address %q is not IPv4", cmd.Local)
		}
		j.local = &unix.SockaddrInet4{}
		copy(j.local.Addr[:], lip)
	}
	path := u.RequestURI()
	var key [16]byte
	for i := range key {
		key[i] = byte(rand.Uint32())
	}
	j.request = upgradeRequest(path, u.Host, base64.StdEncoding.EncodeToString(key[:]), cmd.Browser, cmd.Deflate)
	for _, r := range cmd.Rooms {
		payload := []byte(`{"type":"join_room","room":` + strconv.Quote(r) + `,"id":1}`)
		j.joins = append(j.joins, ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame(payload))))
	}
	if j.cmd.Concurrency <= 0 {
		j.cmd.Concurrency = 100
	}
	if j.cmd.TimeoutMS <= 0 {
		j.cmd.TimeoutMS = 15000
	}
	return j, nil
}

// maxPortRetries bounds the retries of a job's dials that found no free
// source port; the loop turns every 5 ms, so this is about 10 s at worst.
const maxPortRetries = 2000

// startConns dials while the job allows more handshakes in flight.
func (p *pool) startConns() {
	j := p.job
	for j.started < j.cmd.N && j.inflight < j.cmd.Concurrency {
		if j.cmd.Rate > 0 && float64(j.started) >= j.cmd.Rate*time.Since(j.begin).Seconds() {
			return
		}
		room := (j.cmd.First + j.started) % len(j.joins)
		var prev *conn
		if j.cmd.Reconnect {
			prev = p.dropped[j.started]
			room = int(prev.room)
		}
		j.started++
		err := p.dial(j, room, prev)
		if errors.Is(err, unix.EADDRNOTAVAIL) && j.retries < maxPortRetries {
			// No free source port right now (other sockets of this address,
			// perhaps in TIME_WAIT): try again on the next turn of the loop.
			j.started--
			j.retries++
			return
		}
		if err != nil {
			j.failed++
			if j.firstErr == "" {
				j.firstErr = err.Error()
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of descriptors: nothing more will open.
				j.failed += j.cmd.N - j.started
				j.started = j.cmd.N
			}
			p.maybeFinish()
		}
	}
}

// dial opens a conn to join room; prev, when set, is the dropped conn it
// replaces (it recovers from prev's position).
func (p *pool) dial(j *openJob, room int, prev *conn) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// Close with a reset: a closed client leaves no TIME_WAIT holding an
	// ephemeral port of the source address for a minute, so runs can follow
	// each other.
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if j.local != nil {
		// Let the kernel choose the port at connect, per destination, so
		// a source address is not limited to one port range in total.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, j.local); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind: %w", err)
		}
	}
	if err := unix.Connect(fd, &j.addr); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return fmt.Errorf("connect: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	for fd >= len(p.conns) {
		p.conns = append(p.conns, make([]*conn, len(p.conns)+1024)...)
	}
	c := &conn{fd: fd, state: stConnecting, room: int32(room), start: time.Now().UnixNano()}
	if prev != nil {
		c.trk, c.rejoin = prev.trk, true
	}
	p.conns[fd] = c
	j.inflight++
	return nil
}

// event handles one epoll event. A delivery is timed when the read that
// returned it ends (vDSO clock, tens of ns).
func (p *pool) event(fd int, events uint32) {
	if fd < 0 || fd >= len(p.conns) || p.conns[fd] == nil {
		return
	}
	c := p.conns[fd]
	if c.state == stConnecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
			if err == nil {
				err = unix.Errno(soerr)
			}
			p.fail(c, "connect: "+err.Error())
			return
		}
		if _, err := unix.Write(fd, p.job.request); err != nil {
			p.fail(c, "write upgrade request: "+err.Error())
			return
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
			p.fail(c, "epoll_ctl: "+err.Error())
			return
		}
		c.state = stUpgrading
		return
	}
	n, err := unix.Read(fd, p.rbuf)
	if n > 0 {
		p.data(c, p.rbuf[:n], time.Now().UnixNano())
		return
	}
	if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
		return
	}
	reason := "connection closed by the server"
	if err != nil {
		reason = "read: " + err.Error()
	}
	p.fail(c, reason)
}

// data handles bytes read from c. It keeps an incomplete tail in c.buf.
func (p *pool) data(c *conn, b []byte, now int64) {
	if len(c.buf) > 0 {
		c.buf = append(c.buf, b...)
		b = c.buf
	}
	if c.state == stUpgrading {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			if len(b) > 16<<10 {
				p.fail(c, "upgrade answer too long")
				return
			}
			c.keep(b)
			return
		}
		if !bytes.HasPrefix(b, []byte("HTTP/1.1 101")) {
			line, _, _ := bytes.Cut(b, []byte("\r\n"))
			p.fail(c, "upgrade refused: "+string(line))
			return
		}
		b = b[i+4:]
		join := p.job.joins[c.room]
		if c.rejoin {
			join = p.rejoinFrame(c)
		}
		if _, err := unix.Write(c.fd, join); err != nil {
			p.fail(c, "write join: "+err.Error())
			return
		}
		c.state = stJoining
	}
	var got uint64
	for len(b) >= 2 {
		b0, op := b[0], ws.OpCode(b[0]&0x0f)
		l, h := uint64(b[1]&0x7f), 2
		switch l {
		case 126:
			if len(b) < 4 {
				goto tail
			}
			l, h = uint64(b[2])<<8|uint64(b[3]), 4
		case 127:
			if len(b) < 10 {
				goto tail
			}
			l = 0
			for _, x := range b[2:10] {
				l = l<<8 | uint64(x)
			}
			h = 10
		}
		if b[1]&0x80 != 0 {
			h += 4 // a masked server frame is a protocol error; skip the key
		}
		if uint64(len(b)-h) < l {
			goto tail
		}
		payload := b[h : h+int(l)]
		b = b[h+int(l):]
		if b0&0x40 != 0 { // RSV1: a permessage-deflate message
			payload = p.zr.inflate(payload)
		}
		switch op {
		case ws.OpText, ws.OpContinuation:
			if c.state == stJoined {
				if t, ok := sendTime(payload); ok {
					p.hist.Add(uint64(max(now-t, 0) / 1000))
					c.recv++
					got++
					if p.histOn {
						p.histSeen(c, payload)
					}
				} else if p.histOn && bytes.HasPrefix(payload, keyResync) {
					p.hs.resyncs++
				} else if bytes.Contains(payload, []byte(`"type":"error"`)) {
					p.errFrames++
					p.nErrs.Add(1)
					p.lastErr = string(payload)
				}
			} else if c.state == stJoining {
				if p.histOn && bytes.HasPrefix(payload, keyMessage) {
					// Replayed before the ack of a join with since.
					p.histSeen(c, payload)
					p.hs.replayed++
					c.recv++
					got++
				} else if bytes.Contains(payload, []byte(`"type":"ack"`)) {
					if p.histOn {
						p.histAck(c, payload)
					}
					p.joinedOK(c, now)
				} else if bytes.Contains(payload, []byte(`"type":"error"`)) {
					p.fail(c, "join refused: "+string(payload))
					return
				}
			}
		case ws.OpPing:
			p.pong = p.pong[:0]
			p.pong = append(p.pong, ws.MustCompileFrame(ws.MaskFrame(ws.NewPongFrame(payload)))...)
			_, _ = unix.Write(c.fd, p.pong)
		case ws.OpClose:
			code := 0
			if len(payload) >= 2 {
				code = int(payload[0])<<8 | int(payload[1])
			}
			p.fail(c, fmt.Sprintf("closed by the server: %d %s", code, payload[min(2, len(payload)):]))
			return
		}
	}
tail:
	if got > 0 {
		p.received.Add(got)
		p.lastRecv.Store(now)
		p.firstRecv.CompareAndSwap(0, now)
	}
	c.keep(b)
}

// keep stores b (which may alias c.buf) as c's incomplete tail.
func (c *conn) keep(b []byte) {
	if len(b) == 0 {
		c.buf = nil
		return
	}
	if cap(c.buf) >= len(b) {
		c.buf = c.buf[:copy(c.buf[:len(b)], b)] // copy is a memmove
		return
	}
	nb := make([]byte, len(b), max(len(b), 512))
	copy(nb, b)
	c.buf = nb
}

// sendTime finds "t":<unix ns> in a delivery.
func sendTime(payload []byte) (int64, bool) {
	i := bytes.Index(payload, []byte(`"t":`))
	if i < 0 {
		return 0, false
	}
	var t int64
	d := 0
	for _, ch := range payload[i+4:] {
		if ch < '0' || ch > '9' {
			break
		}
		t = t*10 + int64(ch-'0')
		d++
	}
	return t, d > 0
}

func (p *pool) joinedOK(c *conn, now int64) {
	c.state = stJoined
	p.joined++
	p.nJoined.Add(1)
	if j := p.job; j != nil {
		j.inflight--
		j.opened++
		j.join.Add(uint64(max(now-c.start, 0) / 1000))
		p.maybeFinish()
	}
}

// fail closes c, counting it as a failed open or a lost member.
func (p *pool) fail(c *conn, reason string) {
	was := c.state
	p.closeConn(c)
	if was == stJoined {
		p.closed++
		p.joined--
		p.nJoined.Add(-1)
		p.nClosed.Add(1)
		p.lastErr = reason
		return
	}
	if j := p.job; j != nil {
		j.inflight--
		j.failed++
		if j.firstErr == "" {
			j.firstErr = reason
		}
		p.maybeFinish()
	}
}

func (p *pool) closeConn(c *conn) {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	_ = unix.Close(c.fd)
	p.conns[c.fd] = nil
	c.buf = nil
}

// sweep fails handshakes older than the job's timeout.
func (p *pool) sweep(now int64) {
	j := p.job
	limit := int64(j.cmd.TimeoutMS) * int64(time.Millisecond)
	for _, c := range p.conns {
		if c != nil && c.state != stJoined && c.state != stClosed && now-c.start > limit {
			p.fail(c, "handshake timed out")
			if p.job == nil {
				return
			}
		}
	}
}

func (p *pool) maybeProgress(force bool) {
	j := p.job
	if j == nil || j.progress == nil || (!force && time.Since(j.lastProg) < time.Second) {
		return
	}
	j.lastProg = time.Now()
	j.progress(answer{Op: opProgress, Opened: j.opened, Failed: j.failed})
}

func (p *pool) maybeFinish() {
	j := p.job
	if j == nil || j.opened+j.failed < j.cmd.N {
		return
	}
	p.finishJob()
}

func (p *pool) finishJob() {
	j := p.job
	p.job = nil
	if j.cmd.Reconnect {
		p.dropped = nil
	}
	j.done(answer{
		Op: opOpen, Opened: j.opened, Failed: j.failed, FirstErr: j.firstErr,
		ElapsedNS: int64(time.Since(j.begin)), Join: j.join.pack(), Conns: p.joined, CPUSeconds: selfCPU(),
	})
}

func (p *pool) closeAll() {
	for _, c := range p.conns {
		if c != nil {
			p.closeConn(c)
		}
	}
	_ = unix.Close(p.epfd)
}
