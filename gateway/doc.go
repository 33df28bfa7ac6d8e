// Package gateway owns the WebSocket side of Hub: the listener, the upgrade
// (origin, connection limits and authentication checks), the epoll poller,
// frame I/O, the per-connection write queue, pings and deadlines, close
// codes, and the lifetime of every hijacked connection. It holds no room or
// user state and knows nothing of NATS or memberlist: it calls a Handler.
//
// # Serving
//
// The listening socket sits in the epoll set; the poll loop accepts with
// accept4(2) and puts each new socket straight into epoll. A worker reads its
// request head when it arrives (a head that comes in pieces is kept until
// complete; one never completed is closed after HandshakeTimeout) and parses
// it: an ordinary upgrade (a GET of a plain path, HTTP/1.1, clean header
// lines, no body) with parseHead, which makes the same http.Request from one
// string for the whole head (FuzzParseHead holds it to http.ReadRequest),
// anything else with http.ReadRequest. A GET on Config.Path (a ServeMux pattern, "GET
// /ws" or "GET /ws/{tenant}") is checked and answered 101 right there: no
// net/http connection goroutine, no bufio pair, no runtime poller
// registration. Every other request (the api handler given to New: the HTTP
// API, metrics, SSE) is handed, with the bytes already read, to a net/http
// server through an in-memory listener; a keep-alive connection served there
// may still upgrade later, by hijack. An upgrade is checked in this order:
// draining (503), a plain GET (400), MaxConns (503), MaxConnsPerIP (503),
// Origin (403), Handler.Authenticate (401 or the *HTTPError's status), then
// the WebSocket version (426) and key (400); another method than GET on the
// path is refused with 405. Every refusal carries the JSON body
// {"error":"..."} (on both paths: the hijack path checks the headers before
// gobwas/ws, whose own refusals are plain text).
//
// A Handler that is a SlowAuthenticator (a connect proxy that asks a backend)
// may block in Authenticate. The worker then hands the upgrade to a goroutine
// of its own (at most Config.MaxSlowUpgrades at once, beyond which 503) and
// returns keeping the Conn's busy flag, so events that arrive meanwhile are
// only recorded; the goroutine finishes the upgrade (refusal or 101, OnOpen,
// the bytes behind the request) and serves the recorded events before it
// lets the flag go (resumeRaw). No worker ever waits on a backend.
//
// Measured with `hub bench -case connect` (BENCHMARKS.md): net/http's
// connection serving was 35% of the hub's CPU per accepted connection.
//
// # Raw fd
//
// A Conn holds only its socket's fd, never a net.Conn (after a hijack it keeps
// a duplicate of the fd and closes the net.Conn), so the runtime's poller is
// not woken by its readiness events. Reads and writes take a reference on the
// fd (Conn.acquire); the fd is closed when the last reference goes after the
// close was decided, so its number cannot be reused under a worker or flusher
// still using it. Bytes the client sent right behind the request are parsed
// as the first read.
//
// # Edge-triggered epoll
//
// One epoll instance and one poll goroutine serve all connections. The
// goroutine never blocks in epoll_wait(2): it takes the ready events with a
// non-blocking epoll_pwait, and once there are none it parks in the
// runtime's own poller on the epoll fd (registered there as a file, so its
// readability is an edge the scheduler sees). A goroutine blocked in
// epoll_wait held a thread in a system call, which the scheduler's monitor
// took the P away from, and which needed another thread woken to take one
// back: chat p50 128 → 10 ms and p99 315 → 33 ms without it
// (BENCHMARKS.md). Reads, accept4 and epoll_ctl are raw system calls for the
// same reason (a non-blocking socket's never parks); see sysRead.
// Each fd is registered once, EPOLLIN|EPOLLRDHUP|EPOLLET, and stays armed:
// reading costs no epoll_ctl. Events go to a fixed pool of Config.Workers
// goroutines. A connection is handled by one worker at a time (its busy
// flag); an event that arrives meanwhile is recorded and handled by that
// worker before it lets go, so frames reach Handler.OnText in order and no
// edge is lost. The worker reads into its own buffer until a read comes back
// shorter than the buffer (the socket is drained: later data is a new edge;
// when the event also reported the peer's FIN or a reset, it reads on until
// that shows) or, after 8 reads, records that more is waiting and goes round
// again.
// It parses every complete frame (gobwas/ws headers and unmasking) and calls
// OnText synchronously. Only an incomplete frame or fragmented message keeps
// a buffer, and only until it completes. An idle connection is therefore a
// small struct: no goroutine, timer or buffer. What an incomplete frame,
// message or request head needs (two slices, two flags) hangs off one
// pointer, allocated when it starts and dropped when it completes, so a
// Conn is 160 bytes, a size class below 192 (TestConn_Size). EPOLLOUT is asked for only
// while a write is blocked (else every ACK would be an event). The epoll
// event carries a generation number beside the fd, so a stale event never
// reaches a newer connection that got the same fd.
//
// # Write coalescing
//
// Conn.Send appends the (shared, immutable) payload to the connection's queue
// and, if the connection is not already scheduled, puts it on a flush queue. A
// few flusher goroutines drain it: everything waiting for one connection
// leaves in one write(2), headers and payloads copied into one buffer. On this
// hardware a write costs about 9 µs, so coalescing frames that pile up during a
// burst is the main lever on fan-out throughput. A full socket buffer (EAGAIN)
// keeps the rest queued and arms EPOLLOUT. The queue is bounded in bytes and
// frames; overflowing it ends the connection then, as 1008 "slow_consumer":
// what has not started to leave is dropped and the close frame queued; if
// the socket buffer is full, or the next write would block, the socket is
// closed at once instead of waiting for the write timeout.
//
// # Sweeper
//
// One goroutine ticks (every second, or a quarter of the shortest timeout)
// and walks all connections: it pings those quiet for PingInterval, closes with
// 4001 "timeout" those that sent nothing within PongTimeout of a ping, and ends
// connections whose queued data has not moved for WriteTimeout ("write_error")
// or whose close has not flushed within it. There is no timer per connection.
//
// # Concurrency contract
//
// Handler methods run on the gateway's goroutines and must not block. OnOpen
// runs on the worker that read the request (or net/http's goroutine after a
// hijack) before the connection's first frame is read, so no OnText races it. OnText calls for one connection never overlap.
// OnClose is called exactly once per opened connection, whatever closed it,
// and never before OnOpen returns or while an OnText for the same connection
// runs (a close decided elsewhere waits for the worker to finish). Conn
// methods are safe for concurrent use. Lock order: Conn.mu before
// Server.flushMu and Server.tableMu.
//
// # Compression
//
// With Config.Compression an upgrade that offers permessage-deflate is
// answered with server_no_context_takeover and client_no_context_takeover
// (deflate.go): each message is a deflate stream of its own, so nothing of
// flate lives per connection. Conn.Send compresses a payload at least
// CompressionMinBytes long through the server's deflateCache, keyed by the
// payload slice: the group that fans a message out to every member passes
// the same slice to each Send, so the first compressing member compresses it
// and the others queue the same bytes (a queued frame marks them with
// opDeflated; the header gets RSV1). Entries are dropped by the sweeper once
// a tick passes without use. Compression off costs one predictable branch
// per Send and per queued frame's header. Inbound, the reader accepts RSV1 on
// the first frame of a text message and inflates the message with a pooled
// reader into the worker's scratch, at most MaxInflatedBytes.
//
// # Platforms
//
// The poller is Linux-only (netpoll_linux.go). Config.Gateway "portable"
// (the default elsewhere, selectable on Linux) serves through net/http
// instead (portable.go): an upgrade is hijacked and a reader and a writer
// goroutine per connection drive the same frame reader, write queue,
// flusher code, sweeper and close paths, so the Handler contract, limits
// and close codes are the same. The gateway's tests run against both
// (bothGateways). A portable Conn's fd is a slot in the connection table;
// its net.Conn is in Server.pconns, so the Conn stays 160 bytes.
//
// # Shutdown
//
// Server.Shutdown stops accepting, sends every connection 1001 "shutdown",
// waits for the close frames to flush (or its context), then shuts the HTTP
// server and joins every goroutine the gateway started.
package gateway
