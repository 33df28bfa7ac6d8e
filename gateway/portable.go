package gateway

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"
)

// The portable gateway: what runs where epoll does not (macOS, Windows), and
// on Linux with Config.Gateway "portable". net/http serves the listener and
// every request; an upgrade on Config.Path is hijacked (the same checks, in
// the same order, as the raw path) and served by two goroutines over the
// net.Conn: a reader that feeds the same frame reader (so OnText, limits and
// close codes are the same) and a writer that drains the same write queue
// with the same coalescing. Writes wait at most portableWriteWait: a write
// that times out is a full socket buffer, which lets a slow consumer be cut
// off at once (flagCutoff) and the sweeper's write timeout apply as on
// epoll. The Conn's fd is a slot number in the connection table, not a
// descriptor.

// Gateways.
const (
	GatewayEpoll    = "epoll"
	GatewayPortable = "portable"
)

// portableWriteWait bounds one write of the portable gateway.
const portableWriteWait = 50 * time.Millisecond

// portableReadBytes is the read buffer of a portable connection.
const portableReadBytes = 8 << 10

// portableConn is the net.Conn side of a Conn served by the portable
// gateway; Server.pconns maps one to the other.
type portableConn struct {
	nc   net.Conn
	wake chan struct{} // the writer has something to do
	done chan struct{} // closed when the Conn is finalized
	once sync.Once
}

// startPortable serves ln with net/http.
func (s *Server) startPortable(ln net.Listener) {
	s.ln = ln
	s.srv.ConnState = s.connState
	s.wg.Go(s.sweepLoop)
	s.wg.Go(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("http serve", "err", err)
		}
	})
}

// connState counts, as the raw path does, the sockets that closed before
// they made a request (the handshake timeout, or a peer that gave up) as
// refused handshakes, and remembers the new ones so that Shutdown closes
// them.
func (s *Server) connState(nc net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.pending.Store(nc, struct{}{})
	case http.StateActive, http.StateHijacked:
		s.pending.Delete(nc)
	case http.StateClosed:
		if _, ok := s.pending.LoadAndDelete(nc); ok && !s.draining.Load() {
			countIn(&s.stats.rejected, RejectHandshake)
		}
	}
}

// stopPortable closes the listener and the sockets that never sent a
// request.
func (s *Server) stopPortable() {
	_ = s.ln.Close()
	s.pending.Range(func(k, _ any) bool {
		_ = k.(net.Conn).Close()
		return true
	})
}

// newPortableConn makes a Conn of a hijacked connection.
func (s *Server) newPortableConn(nc net.Conn, remote string) *Conn {
	addr, _ := netip.ParseAddrPort(remote)
	c := &Conn{s: s, gen: s.newGen()}
	c.setAddr(addr)
	c.progress = time.Now().UnixNano()
	c.lastSeen.Store(c.progress)
	pc := &portableConn{nc: nc, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.pconns.Store(c, pc)
	return c
}

func (s *Server) pconn(c *Conn) *portableConn {
	v, _ := s.pconns.Load(c)
	pc, _ := v.(*portableConn)
	return pc
}

// insertPortable gives c a free slot of the connection table as its fd.
func (s *Server) insertPortable(c *Conn) bool {
	s.tableMu.Lock()
	defer s.tableMu.Unlock()
	if s.draining.Load() {
		return false
	}
	slot := -1
	for i := s.freeHint; i < len(s.table); i++ {
		if s.table[i] == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		slot = len(s.table)
		t := make([]*Conn, max(2*len(s.table), 1024))
		copy(t, s.table)
		s.table = t
	}
	s.freeHint = slot + 1
	c.fd = int32(slot)
	s.table[slot] = c
	return true
}

// runPortable starts c's reader and writer.
func (s *Server) runPortable(c *Conn) {
	pc := s.pconn(c)
	s.wg.Go(func() { s.portableReader(c, pc) })
	s.wg.Go(func() { s.portableWriter(c, pc) })
}

// portableReader is the worker of one portable connection: it reads and
// feeds the frame reader, holding the busy flag while it does, so that
// OnText and OnClose never overlap, as on epoll.
func (s *Server) portableReader(c *Conn, pc *portableConn) {
	defer pc.nc.Close()
	buf := make([]byte, portableReadBytes)
	sc := parseScratch{inflateMax: s.cfg.MaxInflatedBytes}
	for {
		n, err := pc.nc.Read(buf)
		if n > 0 {
			c.mu.Lock()
			if c.flags&flagDone != 0 {
				// Lingering after our close frame: discard.
				c.mu.Unlock()
				if err != nil {
					return
				}
				continue
			}
			c.flags |= flagBusy
			c.mu.Unlock()
			s.stats.bytesIn.Add(uint64(n))
			c.lastSeen.Store(time.Now().UnixNano())
			if !c.closing() {
				if reason := c.rd.feed(&sc, buf[:n], s.cfg.MaxFrameBytes, c.Compressed(), c); reason != 0 {
					s.protocolClose(c, reason)
				}
			}
			c.mu.Lock()
			c.flags &^= flagBusy
			c.pendingEv = 0
			pend := c.flags&flagFinalPend != 0
			c.mu.Unlock()
			if pend {
				s.end(c, 0, "", true)
			}
		}
		if err != nil {
			s.finalize(c, ReasonConnectionLost.Code(), ReasonConnectionLost.String())
			return
		}
	}
}

// flushers of the portable gateway, shared: a connection's writer takes one
// only while it writes.
var portableFlushers = sync.Pool{}

func (s *Server) portableWriter(c *Conn, pc *portableConn) {
	for {
		select {
		case <-pc.done:
			return
		case <-pc.wake:
		}
		f, _ := portableFlushers.Get().(*flusher)
		if f == nil {
			f = newFlusher(s)
		}
		f.s = s
		f.flush(c)
		f.s = nil
		portableFlushers.Put(f)
	}
}

// wakePortable tells c's writer to flush.
func (s *Server) wakePortable(c *Conn) {
	if pc := s.pconn(c); pc != nil {
		select {
		case pc.wake <- struct{}{}:
		default:
		}
	}
}

// portableWrite writes b, waiting at most portableWriteWait; a timeout is
// reported as errWouldBlock with what was written.
func (s *Server) portableWrite(c *Conn, b []byte) (int, error) {
	pc := s.pconn(c)
	if pc == nil {
		return 0, net.ErrClosed
	}
	_ = pc.nc.SetWriteDeadline(time.Now().Add(portableWriteWait))
	n, err := pc.nc.Write(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errWouldBlock
	}
	return n, err
}

var errWouldBlock = errors.New("gateway: write would block")

// closePortable ends c's socket: after a clean close (our close frame
// written) it sends FIN and lets the reader discard what the peer still
// sends for a moment, so that the close frame is not destroyed by a reset;
// otherwise it closes at once. The reader closes the socket when it ends.
func (s *Server) closePortable(c *Conn, clean bool) {
	pc := s.pconn(c)
	if pc == nil {
		return
	}
	s.pconns.Delete(c)
	pc.once.Do(func() { close(pc.done) })
	if cw, ok := pc.nc.(interface{ CloseWrite() error }); ok && clean {
		_ = cw.CloseWrite()
		_ = pc.nc.SetReadDeadline(time.Now().Add(time.Second))
		return
	}
	_ = pc.nc.Close()
}

// writeAllPortable writes b to a portable connection that is not open yet.
func (s *Server) writeAllPortable(c *Conn, b []byte, d time.Duration) bool {
	pc := s.pconn(c)
	if pc == nil {
		return false
	}
	_ = pc.nc.SetWriteDeadline(time.Now().Add(d))
	_, err := pc.nc.Write(b)
	return err == nil
}
