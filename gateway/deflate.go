package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692), always without context takeover in both
// directions: every message is a deflate stream of its own, so no flate
// state outlives a message and none is kept per connection. Writers and
// readers come from pools; a message sent to many connections is
// compressed once per node (deflateCache) and the same bytes are queued to
// every member that negotiated the extension.

// deflateResponse is the extension the server answers an acceptable offer
// with.
const deflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// opDeflated marks a queued text frame whose payload is compressed: its
// header gets RSV1. It lives in outFrame.op's high bit so that a queued
// frame stays 32 bytes.
const opDeflated ws.OpCode = 0x80

// acceptDeflate reports whether the request offers permessage-deflate with
// parameters the server can honour. The offers are tried in order; one that
// limits the server's window below 15 bits is declined (the compressor
// always uses a 32 KiB window), and a malformed offer is ignored.
func acceptDeflate(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		opts, ok := httphead.ParseOptions([]byte(v), nil)
		if !ok {
			continue
		}
		for _, opt := range opts {
			if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
				continue
			}
			var p wsflate.Parameters
			if p.Parse(opt) != nil {
				continue
			}
			if p.ServerMaxWindowBits.Defined() && p.ServerMaxWindowBits < 15 {
				continue
			}
			return true
		}
	}
	return false
}

// deflateCache compresses outbound payloads, once per payload: the entries
// are keyed by the payload's backing array and length (a payload must not
// change once sent, so the same slice is the same message) and hold the
// payload, so that its address cannot be reused while the entry lives. The
// sweeper drops entries not used since its previous tick: an entry lives
// while a fan-out is sending it, and up to two ticks after.
type deflateCache struct {
	level int
	max   int // entries per shard; beyond it payloads are compressed uncached

	writers sync.Pool // *flate.Writer
	last    atomic.Pointer[deflated]
	shards  [8]deflateShard

	compressions atomic.Uint64
}

type deflateKey struct {
	p *byte
	n int
}

type deflateShard struct {
	mu sync.Mutex
	m  map[deflateKey]*deflated
}

type deflated struct {
	key  deflateKey
	src  []byte // keeps key.p alive
	once sync.Once
	out  []byte // the compressed payload, or nil when compressing does not pay
	used atomic.Bool
}

func newDeflateCache(level int) *deflateCache {
	d := &deflateCache{level: level, max: 4096}
	for i := range d.shards {
		d.shards[i].m = make(map[deflateKey]*deflated)
	}
	return d
}

// get returns the compressed form of p (without the 0x00 0x00 0xff 0xff
// tail, RFC 7692 §7.2.1), or nil when it is not smaller than p.
func (d *deflateCache) get(p []byte) []byte {
	key := deflateKey{unsafe.SliceData(p), len(p)}
	if e := d.last.Load(); e != nil && e.key == key {
		e.used.Store(true)
		e.once.Do(func() { e.out = d.compress(p) })
		return e.out
	}
	sh := &d.shards[(uintptr(unsafe.Pointer(key.p))>>4)%uintptr(len(d.shards))]
	sh.mu.Lock()
	e := sh.m[key]
	if e == nil {
		if len(sh.m) >= d.max {
			sh.mu.Unlock()
			return d.compress(p)
		}
		e = &deflated{key: key, src: p}
		sh.m[key] = e
	}
	sh.mu.Unlock()
	e.used.Store(true)
	d.last.Store(e)
	e.once.Do(func() { e.out = d.compress(p) })
	return e.out
}

// sweep drops the entries not used since the previous sweep.
func (d *deflateCache) sweep() {
	if e := d.last.Load(); e != nil && !e.used.Load() {
		d.last.CompareAndSwap(e, nil)
	}
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if !e.used.Swap(false) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// size returns the number of cached entries.
func (d *deflateCache) size() int {
	n := 0
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// deflateBuf collects a compressor's output.
type deflateBuf struct{ b []byte }

func (w *deflateBuf) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type deflateWriter struct {
	fw  *flate.Writer
	out deflateBuf
}

// compress deflates p as one message with a fresh (pooled) compressor.
func (d *deflateCache) compress(p []byte) []byte {
	d.compressions.Add(1)
	w, _ := d.writers.Get().(*deflateWriter)
	if w == nil {
		w = &deflateWriter{}
		w.fw, _ = flate.NewWriter(&w.out, d.level)
	} else {
		w.fw.Reset(&w.out)
	}
	w.out.b = w.out.b[:0]
	_, err := w.fw.Write(p)
	if err == nil {
		err = w.fw.Flush()
	}
	var out []byte
	b := w.out.b
	if err == nil && len(b) >= 4 && bytes.Equal(b[len(b)-4:], []byte{0, 0, 0xff, 0xff}) && len(b)-4 < len(p) {
		out = append([]byte(nil), b[:len(b)-4]...)
	}
	if cap(w.out.b) > 64<<10 {
		w.out.b = nil // keep no large buffer in the pool
	}
	d.writers.Put(w)
	return out
}

// inflateTail ends every message's deflate data: the tail the sender
// stripped, then an empty final block, so that the reader sees the end.
var inflateTail = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// msgSource reads a compressed message, then inflateTail. It is an
// io.ByteReader, so the flate reader reads from it without a bufio.Reader.
type msgSource struct {
	p    []byte
	tail []byte
}

func (r *msgSource) Read(b []byte) (int, error) {
	if len(r.p) == 0 {
		r.p, r.tail = r.tail, nil
		if len(r.p) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(b, r.p)
	r.p = r.p[n:]
	return n, nil
}

func (r *msgSource) ReadByte() (byte, error) {
	if len(r.p) == 0 {
		r.p, r.tail = r.tail, nil
		if len(r.p) == 0 {
			return 0, io.EOF
		}
	}
	c := r.p[0]
	r.p = r.p[1:]
	return c, nil
}

type inflater struct {
	src msgSource
	fr  io.ReadCloser
}

var inflaters sync.Pool // *inflater

var (
	errInflatedTooBig = errors.New("inflated message too big")
	errBadDeflate     = errors.New("bad deflate data")
)

// inflate decompresses one message into dst[:0], at most max bytes: more is
// errInflatedTooBig (a zip bomb stops there), corrupt data errBadDeflate.
func inflate(dst, p []byte, max int) ([]byte, error) {
	z, _ := inflaters.Get().(*inflater)
	if z == nil {
		z = &inflater{}
	}
	z.src = msgSource{p: p, tail: inflateTail}
	if z.fr == nil {
		z.fr = flate.NewReader(&z.src)
	} else if err := z.fr.(flate.Resetter).Reset(&z.src, nil); err != nil {
		return dst, errBadDeflate
	}
	defer func() {
		z.src = msgSource{}
		inflaters.Put(z)
	}()
	out := dst[:0]
	for {
		if len(out) == cap(out) {
			if len(out) > max {
				return out, errInflatedTooBig
			}
			out = append(out, 0)[:len(out)]
			out = out[:len(out):min(cap(out), max+1)]
		}
		n, err := z.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > max {
			return out, errInflatedTooBig
		}
		switch {
		case err == io.EOF:
			return out, nil
		case err != nil:
			return out, errBadDeflate
		}
	}
}
