package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler is what the gateway calls. Its methods are called from the
// gateway's goroutines (workers, flushers, the sweeper, the upgrading
// goroutine) and must not block: decode, hand off, return.
type Handler interface {
	// Authenticate runs on the HTTP goroutine before the upgrade. An error
	// refuses it: an *HTTPError with its status, anything else with 401. The
	// returned value becomes Request.Identity.
	Authenticate(r *http.Request) (any, error)
	// OnOpen runs on the upgrading goroutine before any OnText for c. It may
	// call c.Send and c.Close.
	OnOpen(c *Conn, r *Request)
	// OnText gets each complete text message, in order, on a worker. msg is
	// valid only during the call.
	OnText(c *Conn, msg []byte)
	// OnClose is called exactly once per opened connection, whatever ended it.
	// Send returns false from then on.
	OnClose(c *Conn, code uint16, reason string)
}

// SlowAuthenticator is implemented by a Handler whose Authenticate may block
// on I/O for some requests (a backend that decides each connection). For a
// request it claims, the gateway never calls Authenticate on a worker: it
// runs it, and the rest of the upgrade, on a goroutine of its own, at most
// Config.MaxSlowUpgrades at once (beyond, 503), with r's context ending
// after Config.HandshakeTimeout. The socket's events wait meanwhile; the
// client's first frames are read once it is open.
type SlowAuthenticator interface {
	// AuthenticateBlocks reports whether Authenticate(r) may block. It must
	// not block itself.
	AuthenticateBlocks(r *http.Request) bool
}

// Request describes the upgrade request. It is valid only during OnOpen.
type Request struct {
	RemoteAddr string
	Method     string
	Path       string
	Params     map[string]string // route params of Config.Path
	Query      url.Values
	Header     http.Header
	Identity   any // what Authenticate returned
}

// Stats are counters since Start, for metrics.
type Stats struct {
	Accepted      uint64            // upgrades completed
	Rejected      map[string]uint64 // refused upgrades by reason: see Reject* constants
	BytesIn       uint64
	BytesOut      uint64
	FramesIn      uint64
	FramesOut     uint64
	Writes        uint64 // write(2) calls
	SlowConsumers uint64
	Deflate       uint64            // upgrades that negotiated permessage-deflate
	Compressions  uint64            // outbound messages compressed: one per message per node, whatever the members
	Closed        map[string]uint64 // finished connections by close reason label
}

// Labels of Stats.Rejected.
const (
	RejectDraining   = "draining"
	RejectBadRequest = "bad_request"
	RejectMaxConns   = "max_conns"
	RejectMaxPerIP   = "max_conns_per_ip"
	RejectOrigin     = "origin"
	RejectAuth       = "auth"
	RejectHandshake  = "handshake"
	RejectBusy       = "busy" // too many slow upgrades at once
)

var rejectLabels = []string{RejectDraining, RejectBadRequest, RejectMaxConns, RejectMaxPerIP, RejectOrigin, RejectAuth, RejectHandshake, RejectBusy}

type counters struct {
	accepted, bytesIn, bytesOut, framesIn, framesOut, writes, slowConsumers, deflate atomic.Uint64
	rejected                                                                         sync.Map // label -> *atomic.Uint64
	closed                                                                           sync.Map // label -> *atomic.Uint64
}

func countIn(m *sync.Map, label string) {
	v, ok := m.Load(label)
	if !ok {
		v, _ = m.LoadOrStore(label, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

// Server is the WebSocket gateway: an HTTP server whose Config.Path upgrades
// to WebSocket connections served by one epoll loop, a worker pool and a few
// flushers. Its methods are safe for concurrent use.
type Server struct {
	cfg        Config
	handler    Handler
	api        http.Handler
	log        *slog.Logger
	paramNames []string
	nflush     int
	maxBatch   int // frames per write; a test seam to measure coalescing
	tick       time.Duration

	started  atomic.Bool
	stopped  atomic.Bool
	draining atomic.Bool
	ln       net.Listener
	httpLn   *connListener // what net/http serves: requests that are not upgrades
	srv      *http.Server
	acceptMu sync.Mutex
	lfd      int // the listening socket, in the epoll set; -1 once closed
	// acceptPaused and acceptBackoff (under acceptMu): accepting stopped for
	// a while after accept4 failed (out of descriptors).
	acceptPaused  bool
	acceptBackoff time.Duration
	mux           *http.ServeMux
	wsPattern     string
	epfd          int
	epoll         *os.File // epfd, parked on by the poll loop in the runtime's poller
	evfd          int
	work          chan workItem
	quit          chan struct{}
	wg            sync.WaitGroup

	slow     chan struct{} // slots of slow upgrades (SlowAuthenticator)
	reserved atomic.Int64  // open conns plus upgrades in progress
	open     atomic.Int64
	nextGen  atomic.Uint32

	ipMu  sync.Mutex
	perIP map[string]int

	tableMu sync.RWMutex
	table   []*Conn // by fd

	flushMu     sync.Mutex
	flushCond   *sync.Cond
	flushQ      []*Conn
	flushClosed bool

	// The portable gateway (portable.go): pconns maps each Conn to its
	// net.Conn side; pending holds the sockets that have not made a request
	// yet; freeHint is where to look for a free table slot.
	portable bool
	pconns   sync.Map
	pending  sync.Map
	freeHint int

	deflate   *deflateCache // nil unless Config.Compression
	chunks    chunkCache    // free write-queue chunks
	stats     counters
	warnLimit rateLimit
}

var paramRe = regexp.MustCompile(`\{([^}]*)\}`)

// New builds a server without doing any I/O. api serves every path other
// than cfg.Path (nil answers 404). logger may be nil.
func New(cfg Config, h Handler, api http.Handler, logger *slog.Logger) (*Server, error) {
	if h == nil {
		return nil, errors.New("gateway: nil handler")
	}
	procs := runtime.GOMAXPROCS(0)
	cfg.setDefaults(procs)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if api == nil {
		api = http.NotFoundHandler()
	}
	s := &Server{
		cfg:      cfg,
		handler:  h,
		api:      api,
		log:      logger,
		nflush:   max(2, procs),
		maxBatch: 1 << 30,
		perIP:    make(map[string]int),
		lfd:      -1,
		// Free write-queue chunks kept for reuse: 4 MiB.
		chunks: chunkCache{max: 8192},
		quit:   make(chan struct{}),
		slow:   make(chan struct{}, cfg.MaxSlowUpgrades),
	}
	s.portable = cfg.Gateway == GatewayPortable
	if cfg.Compression {
		s.deflate = newDeflateCache(cfg.CompressionLevel)
	}
	s.flushCond = sync.NewCond(&s.flushMu)
	for _, m := range paramRe.FindAllStringSubmatch(cfg.Path, -1) {
		name := strings.TrimSuffix(m[1], "...")
		if name != "$" && name != "" {
			s.paramNames = append(s.paramNames, name)
		}
	}
	s.tick = min(time.Second, cfg.PingInterval/4, cfg.PongTimeout/4, cfg.WriteTimeout/4)
	s.tick = max(s.tick, 5*time.Millisecond)

	mux := http.NewServeMux()
	s.wsPattern = "GET " + cfg.Path
	if err := registerRoutes(mux, s.wsPattern, http.HandlerFunc(s.serveWS), http.HandlerFunc(s.methodNotAllowed), cfg.Path, api); err != nil {
		return nil, err
	}
	s.mux = mux
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.HandshakeTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

func registerRoutes(mux *http.ServeMux, pattern string, ws, other http.Handler, path string, api http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gateway: path pattern %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, ws)
	// Other methods on the WebSocket path get a JSON 405, not ServeMux's
	// plain-text one.
	if path != "/" {
		mux.Handle(path, other)
	}
	mux.Handle("/", api)
	return nil
}

// Start listens on Config.Addr and starts serving; it returns once the
// listener is open. Calling it again does nothing; after Shutdown it returns
// ErrServerClosed.
func (s *Server) Start(ctx context.Context) error {
	if s.stopped.Load() {
		return ErrServerClosed
	}
	if !s.started.CompareAndSwap(false, true) {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		s.started.Store(false)
		return fmt.Errorf("gateway: listen %s: %w", s.cfg.Addr, err)
	}
	if s.portable {
		s.startPortable(ln)
		s.log.Info("websocket listening", "addr", ln.Addr().String(), "path", s.cfg.Path, "gateway", s.cfg.Gateway)
		return nil
	}
	if err := s.openPoller(); err != nil {
		ln.Close()
		s.started.Store(false)
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		return fmt.Errorf("gateway: %w", err)
	}
	if err := s.openListener(ln); err != nil {
		ln.Close()
		s.closePoller()
		s.started.Store(false)
		return fmt.Errorf("gateway: %w", err)
	}
	s.ln = ln
	s.httpLn = newConnListener(ln.Addr())
	// The work channel is buffered to one EpollWait batch so the poller can
	// hand a whole batch over while the workers are busy.
	s.work = make(chan workItem, 256)
	s.wg.Go(s.pollLoop)
	for range s.cfg.Workers {
		s.wg.Go(s.workLoop)
	}
	for range s.nflush {
		s.wg.Go(s.flushLoop)
	}
	s.wg.Go(s.sweepLoop)
	s.wg.Go(func() {
		if err := s.srv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("http serve", "err", err)
		}
	})
	s.log.Info("websocket listening", "addr", ln.Addr().String(), "path", s.cfg.Path, "gateway", s.cfg.Gateway)
	return nil
}

// Addr returns the listen address, or nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// NumConns returns the number of open WebSocket connections.
func (s *Server) NumConns() int { return int(s.open.Load()) }

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Accepted:      s.stats.accepted.Load(),
		BytesIn:       s.stats.bytesIn.Load(),
		BytesOut:      s.stats.bytesOut.Load(),
		FramesIn:      s.stats.framesIn.Load(),
		FramesOut:     s.stats.framesOut.Load(),
		Writes:        s.stats.writes.Load(),
		SlowConsumers: s.stats.slowConsumers.Load(),
		Deflate:       s.stats.deflate.Load(),
		Rejected:      make(map[string]uint64, len(rejectLabels)),
		Closed:        make(map[string]uint64),
	}
	if s.deflate != nil {
		st.Compressions = s.deflate.compressions.Load()
	}
	for _, l := range rejectLabels {
		st.Rejected[l] = 0
	}
	s.stats.rejected.Range(func(k, v any) bool {
		st.Rejected[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	s.stats.closed.Range(func(k, v any) bool {
		st.Closed[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return st
}

// Shutdown stops accepting, closes every connection with 1001 "shutdown"
// (OnClose is called for each), waits until they have flushed or ctx is done
// (then closes the rest at once), shuts the HTTP server and stops the
// gateway's goroutines. It returns ctx's error if ctx ended first. Calling it
// again does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if !s.stopped.CompareAndSwap(false, true) || !s.started.Load() {
		return nil
	}
	if s.portable {
		s.stopPortable()
	} else {
		s.closeListener()
		_ = s.httpLn.Close()
	}
	for _, c := range s.snapshot(nil) {
		c.Close(ReasonShutdown.Code(), ReasonShutdown.String())
	}
	var err error
	t := time.NewTicker(5 * time.Millisecond)
	for s.open.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
	}
	t.Stop()
	for _, c := range s.snapshot(nil) {
		s.finalize(c, ReasonShutdown.Code(), ReasonShutdown.String())
	}
	if err == nil {
		// The listener is closed already: that error is expected.
		if serr := s.srv.Shutdown(ctx); serr != nil && !errors.Is(serr, net.ErrClosed) {
			err = serr
		}
	}
	if err != nil {
		_ = s.srv.Close()
	}

	close(s.quit)
	if !s.portable {
		s.wakePoller()
	}
	s.flushMu.Lock()
	s.flushClosed = true
	s.flushMu.Unlock()
	s.flushCond.Broadcast()
	s.wg.Wait()
	if !s.portable {
		s.closePoller()
	}
	s.log.Info("websocket stopped")
	return err
}

// newGen returns a Conn generation; all ones is the listener's mark in the
// epoll set.
func (s *Server) newGen() uint32 {
	for {
		if g := s.nextGen.Add(1); g != ^uint32(0) {
			return g
		}
	}
}

// snapshot appends every registered conn to dst.
func (s *Server) snapshot(dst []*Conn) []*Conn {
	s.tableMu.RLock()
	for _, c := range s.table {
		if c != nil {
			dst = append(dst, c)
		}
	}
	s.tableMu.RUnlock()
	return dst
}

// insert puts c in the fd table unless the server is draining.
func (s *Server) insert(c *Conn) bool {
	s.tableMu.Lock()
	defer s.tableMu.Unlock()
	if s.draining.Load() {
		return false
	}
	if int(c.fd) >= len(s.table) {
		n := max(2*len(s.table), int(c.fd)+1, 1024)
		t := make([]*Conn, n)
		copy(t, s.table)
		s.table = t
	}
	s.table[c.fd] = c
	return true
}

func (s *Server) remove(c *Conn) {
	s.tableMu.Lock()
	if int(c.fd) < len(s.table) && s.table[c.fd] == c {
		s.table[c.fd] = nil
		if s.portable && int(c.fd) < s.freeHint {
			s.freeHint = int(c.fd)
		}
	}
	s.tableMu.Unlock()
}

// release gives back the connection-count reservations of ip.
func (s *Server) release(ip string) {
	s.reserved.Add(-1)
	if s.cfg.MaxConnsPerIP == 0 {
		return
	}
	s.ipMu.Lock()
	if n := s.perIP[ip] - 1; n > 0 {
		s.perIP[ip] = n
	} else {
		delete(s.perIP, ip)
	}
	s.ipMu.Unlock()
}

// protocolClose closes c for a peer fault found by the reader.
func (s *Server) protocolClose(c *Conn, reason CloseReason) {
	if s.warnLimit.allow() {
		s.log.Warn("closing misbehaving client", "conn", c.RemoteAddr(), "reason", reason.String())
	}
	c.Close(reason.Code(), reason.String())
}

// rateLimit lets one event per second through.
type rateLimit struct{ last atomic.Int64 }

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(time.Second) && r.last.CompareAndSwap(last, now)
}

// finalize ends c: the socket is closed and OnClose called, exactly once. If
// a close was started its code and reason win over the given ones. While c is
// not yet open, or a worker is handling it, the end is left to that goroutine,
// so OnClose never runs before OnOpen returns or beside an OnText.
func (s *Server) finalize(c *Conn, code uint16, reason string) {
	s.end(c, code, reason, false)
}

// end is finalize; worker says the caller is the worker holding flagBusy.
func (s *Server) end(c *Conn, code uint16, reason string, worker bool) {
	c.mu.Lock()
	if c.flags&flagDone != 0 {
		c.mu.Unlock()
		return
	}
	if c.flags&flagClosing == 0 {
		c.flags |= flagClosing
		c.bits.Or(bitClosing)
		c.code, c.reason = code, reason
	}
	hs := c.flags&flagHandshake != 0
	if (c.flags&flagReady == 0 && !hs) || (c.flags&flagBusy != 0 && !worker) {
		c.flags |= flagFinalPend
		c.mu.Unlock()
		return
	}
	c.flags |= flagDone
	clean := c.flags&flagClean != 0
	code, reason = c.code, c.reason
	c.wq.reset(&s.chunks)
	c.wqOff, c.wqBytes = 0, 0
	c.rd.reset()
	c.mu.Unlock()

	s.remove(c)
	switch {
	case s.portable:
		s.closePortable(c, clean)
	default:
		s.unregister(c)
		if clean {
			s.lingerClose(c)
		}
		c.closeFD()
	}
	if hs {
		return // never opened: no OnClose, nothing counted
	}
	s.open.Add(-1)
	s.release(c.ip.String())
	countIn(&s.stats.closed, reason)
	s.handler.OnClose(c, code, reason)
}

// lingerClose sends FIN after our close frame and discards what the peer had
// already sent, so that closing the fd does not reset the connection and
// destroy the close frame before the peer reads it.
func (s *Server) lingerClose(c *Conn) {
	if !c.acquire() {
		return
	}
	defer c.releaseFD()
	shutdownWrite(c.fd)
	var buf [2048]byte
	for range 32 {
		if n, _ := sysRead(uintptr(c.fd), buf[:]); n <= 0 {
			return
		}
	}
}

// sweepLoop is the one keepalive goroutine: it pings quiet connections,
// closes those that do not answer, and ends stuck writes.
func (s *Server) sweepLoop() {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	var snap []*Conn
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if s.deflate != nil {
			s.deflate.sweep()
		}
		snap = s.snapshot(snap[:0])
		now := time.Now().UnixNano()
		for i, c := range snap {
			s.sweep(c, now)
			snap[i] = nil
		}
	}
}

func (s *Server) sweep(c *Conn, now int64) {
	c.mu.Lock()
	if c.flags&(flagHandshake|flagDone|flagBusy) == flagHandshake && now-c.progress > int64(s.cfg.HandshakeTimeout) {
		c.mu.Unlock()
		countIn(&s.stats.rejected, RejectHandshake)
		s.finalize(c, 0, "")
		return
	}
	if c.flags&flagDone != 0 || c.flags&flagReady == 0 {
		c.mu.Unlock()
		return
	}
	closing := c.flags&flagClosing != 0
	stuck := now-c.progress > int64(s.cfg.WriteTimeout)
	pending := c.wq.len() > 0
	c.mu.Unlock()
	switch {
	case closing && stuck:
		s.finalize(c, 0, "")
		return
	case closing:
		return
	case pending && stuck:
		s.finalize(c, ReasonWriteError.Code(), ReasonWriteError.String())
		return
	}
	seen, ping := c.lastSeen.Load(), c.pingSent.Load()
	if ping != 0 && seen < ping {
		if now-ping > int64(s.cfg.PongTimeout) {
			c.Close(ReasonTimeout.Code(), ReasonTimeout.String())
		}
		return
	}
	if now-seen >= int64(s.cfg.PingInterval) {
		c.pingSent.Store(now)
		c.sendPing()
	}
}
