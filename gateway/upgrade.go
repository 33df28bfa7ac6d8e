package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func (s *Server) reject(w http.ResponseWriter, label string, status int, msg string) {
	countIn(&s.stats.rejected, label)
	writeJSONError(w, status, msg)
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header.Values("Connection"), "upgrade")
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func remoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// originAllowed applies Config.AllowedOrigins to the Origin header of r.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		scheme, host, ok := strings.Cut(a, "://")
		if !ok || !strings.HasPrefix(host, "*.") || u == nil {
			continue
		}
		suffix := host[1:] // ".example.com"
		if strings.EqualFold(u.Scheme, scheme) && len(u.Host) > len(suffix) &&
			strings.EqualFold(u.Host[len(u.Host)-len(suffix):], suffix) {
			return true
		}
	}
	return false
}

// reserve counts one more connection from ip against MaxConns and
// MaxConnsPerIP. It returns the refusal's label and message when a limit is
// reached, and "" after reserving; release gives the reservation back.
func (s *Server) reserve(ip string) (label, msg string) {
	if max := s.cfg.MaxConns; max > 0 {
		if s.reserved.Add(1) > int64(max) {
			s.reserved.Add(-1)
			return RejectMaxConns, "too many connections"
		}
	} else {
		s.reserved.Add(1)
	}
	if max := s.cfg.MaxConnsPerIP; max > 0 {
		s.ipMu.Lock()
		n := s.perIP[ip]
		if n >= max {
			s.ipMu.Unlock()
			s.reserved.Add(-1)
			return RejectMaxPerIP, "too many connections from this address"
		}
		s.perIP[ip] = n + 1
		s.ipMu.Unlock()
	}
	return "", ""
}

// Reserve counts a connection the gateway does not serve itself (a
// Server-Sent Events stream) against MaxConns and MaxConnsPerIP, with the
// WebSocket connections. When a limit is reached it returns ok false and
// the message to answer with 503 (the refusal is counted in Stats.Rejected);
// otherwise release must be called once when the connection ends.
func (s *Server) Reserve(remoteAddr string) (release func(), msg string, ok bool) {
	ip := remoteIP(remoteAddr)
	if label, msg := s.reserve(ip); label != "" {
		countIn(&s.stats.rejected, label)
		return nil, msg, false
	}
	var once sync.Once
	return func() { once.Do(func() { s.release(ip) }) }, "", true
}

// checkHandshake checks the WebSocket headers of an upgrade request (RFC
// 6455 §4.2.1): it returns the refusal's status and message, or 0.
func checkHandshake(r *http.Request) (status int, msg string) {
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return http.StatusUpgradeRequired, "unsupported websocket version: only 13"
	}
	if k, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key")); err != nil || len(k) != 16 {
		return http.StatusBadRequest, "bad Sec-WebSocket-Key"
	}
	return 0, ""
}

// methodNotAllowed answers a request on Config.Path with another method
// than GET.
func (s *Server) methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET")
	s.reject(w, RejectBadRequest, http.StatusMethodNotAllowed, "method not allowed: a websocket upgrade is a GET")
}

// serveWS checks and upgrades a request on Config.Path.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.reject(w, RejectDraining, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if !isUpgrade(r) {
		s.reject(w, RejectBadRequest, http.StatusBadRequest, "websocket upgrade required")
		return
	}
	ip := remoteIP(r.RemoteAddr)
	if label, msg := s.reserve(ip); label != "" {
		s.reject(w, label, http.StatusServiceUnavailable, msg)
		return
	}
	opened := false
	defer func() {
		if !opened {
			s.release(ip)
		}
	}()
	if !s.originAllowed(r) {
		s.reject(w, RejectOrigin, http.StatusForbidden, "origin not allowed")
		return
	}
	if sa, ok := s.handler.(SlowAuthenticator); ok && sa.AuthenticateBlocks(r) {
		if raw, ok := w.(*rawResponse); ok {
			// Never block a worker: authenticate and upgrade on a
			// goroutine of its own; the worker lets the socket wait.
			select {
			case s.slow <- struct{}{}:
			default:
				s.reject(w, RejectBusy, http.StatusServiceUnavailable, "too many connections in their upgrade")
				return
			}
			opened = true // the goroutine owns the reservation now
			raw.deferred = true
			s.wg.Go(func() {
				// The slot is given back once the authentication has
				// answered, before the answer is written: a client told
				// no that retries at once is not refused as busy by its
				// own first attempt.
				var free sync.Once
				freeSlot := func() { free.Do(func() { <-s.slow }) }
				defer freeSlot()
				ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
				defer cancel()
				if !s.upgradeWS(raw, r.WithContext(ctx), freeSlot) {
					s.release(ip)
				}
				s.resumeRaw(raw)
			})
			return
		}
	}
	opened = s.upgradeWS(w, r, nil)
}

// upgradeWS authenticates r and upgrades it; it reports whether the
// connection opened (else the caller gives back the reservation).
// authenticated, when not nil, is called once Authenticate has returned.
func (s *Server) upgradeWS(w http.ResponseWriter, r *http.Request, authenticated func()) (opened bool) {
	identity, err := s.handler.Authenticate(r)
	if authenticated != nil {
		authenticated()
	}
	if err != nil {
		status, msg := http.StatusUnauthorized, err.Error()
		if he, ok := errors.AsType[*HTTPError](err); ok {
			if he.Status != 0 {
				status = he.Status
			}
			msg = he.Message
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		s.reject(w, RejectAuth, status, msg)
		return false
	}

	if status, msg := checkHandshake(r); status != 0 {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		s.reject(w, RejectHandshake, status, msg)
		return false
	}

	deflate := s.cfg.Compression && acceptDeflate(r.Header)

	var c *Conn
	var rest []byte
	raw, inEpoll := w.(*rawResponse)
	if inEpoll {
		// The raw path: the socket is already in epoll, in its handshake.
		if !raw.upgrade(r, deflate) {
			countIn(&s.stats.rejected, RejectHandshake)
			return false
		}
		c, rest = raw.c, raw.rest
		c.mu.Lock()
		c.flags &^= flagHandshake
		c.mu.Unlock()
	} else {
		// An upgrade on a connection net/http serves (one that sent other
		// requests first): hijack it and take its fd.
		up := ws.HTTPUpgrader{Timeout: s.cfg.HandshakeTimeout}
		if deflate {
			up.Header = http.Header{"Sec-WebSocket-Extensions": {deflateResponse}}
		}
		nc, rw, _, err := up.Upgrade(r, w)
		if err != nil {
			countIn(&s.stats.rejected, RejectHandshake)
			if nc != nil {
				_ = nc.Close()
			}
			s.log.Debug("upgrade failed", "conn", r.RemoteAddr, "err", err)
			return false
		}
		if n := rw.Reader.Buffered(); n > 0 {
			rest = make([]byte, n)
			_, _ = rw.Reader.Read(rest)
		}
		if s.portable {
			c = s.newPortableConn(nc, r.RemoteAddr)
			if !s.insertPortable(c) {
				s.goAway(c)
				return false
			}
		} else {
			c, err = s.newConn(nc, r.RemoteAddr)
			_ = nc.Close()
			if err != nil {
				s.log.Error("upgrade: raw socket", "conn", r.RemoteAddr, "err", err)
				return false
			}
			if !s.insert(c) {
				s.goAway(c)
				return false
			}
		}
	}
	if s.draining.Load() {
		s.goAway(c)
		return false
	}
	s.open.Add(1)
	s.stats.accepted.Add(1)
	if deflate {
		c.bits.Or(bitDeflate)
		s.stats.deflate.Add(1)
	}

	req := &Request{
		RemoteAddr: r.RemoteAddr,
		Method:     r.Method,
		Path:       r.URL.Path,
		Query:      r.URL.Query(),
		Header:     r.Header,
		Identity:   identity,
	}
	if len(s.paramNames) > 0 {
		req.Params = make(map[string]string, len(s.paramNames))
		for _, name := range s.paramNames {
			req.Params[name] = r.PathValue(name)
		}
	}
	s.handler.OnOpen(c, req)

	// Bytes the client sent right after the request are the first read data.
	if len(rest) > 0 && !c.closing() {
		if reason := c.rd.feed(&parseScratch{inflateMax: s.cfg.MaxInflatedBytes}, rest, s.cfg.MaxFrameBytes, c.Compressed(), c); reason != 0 {
			s.protocolClose(c, reason)
		}
	}

	if s.portable {
		s.runPortable(c)
	} else if !inEpoll { // the hijack path
		if err := s.register(c); err != nil {
			s.log.Error("epoll add", "conn", c.RemoteAddr(), "err", err)
			c.mu.Lock()
			c.flags |= flagReady
			c.mu.Unlock()
			s.finalize(c, ReasonWriteError.Code(), ReasonWriteError.String())
			return true
		}
	}
	c.mu.Lock()
	c.flags |= flagReady
	pend := c.flags&flagFinalPend != 0
	if !pend {
		c.scheduleLocked()
	}
	c.mu.Unlock()
	if pend {
		s.finalize(c, 0, "")
	}
	return true
}

// newConn makes a Conn of an upgraded net.Conn: it takes a duplicate of the
// fd, which the runtime's poller does not know; the caller closes nc.
func (s *Server) newConn(nc net.Conn, remote string) (*Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("gateway: connection has no raw socket")
	}
	fd, err := dupFD(sc)
	if err != nil {
		return nil, err
	}
	addr, _ := netip.ParseAddrPort(remote)
	c := &Conn{s: s, fd: int32(fd), gen: s.newGen()}
	c.setAddr(addr)
	c.progress = time.Now().UnixNano()
	c.lastSeen.Store(c.progress)
	return c, nil
}

// goAway closes an upgraded socket that arrived during Shutdown, before
// OnOpen, with a 1001 close frame.
func (s *Server) goAway(c *Conn) {
	body := make([]byte, 2, 2+len("shutdown"))
	binary.BigEndian.PutUint16(body, ReasonShutdown.Code())
	body = append(body, "shutdown"...)
	var hw hdrWriter
	var hdr [ws.MaxHeaderSize]byte
	_ = ws.WriteHeaderBuffer(&hw, ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(len(body))}, hdr[:])
	c.mu.Lock()
	c.flags |= flagDone
	c.mu.Unlock()
	if s.portable {
		s.writeAllPortable(c, append(hw.b, body...), s.cfg.WriteTimeout)
		s.remove(c)
		s.closePortable(c, false)
		return
	}
	c.writeAll(append(hw.b, body...), s.cfg.WriteTimeout)
	s.remove(c)
	s.unregister(c)
	c.closeFD()
}
