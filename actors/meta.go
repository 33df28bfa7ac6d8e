package actors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/hubrt/hub/protocol"
)

// Every event carries what the connection's upgrade said about it (method,
// path, params, query, headers: see protocol.ConnMeta), so a connection
// keeps that for its life. Most of it is the same for thousands of
// connections (one browser build sends the same User-Agent, Accept-Language,
// Origin and Host), so a connection keeps it as a short list of references
// to pieces held once in the System's metaTable, with only what is its own
// written out. The fields that differ between connections (id, user, node,
// node) are not kept here: events write them from the Conn's own fields.
//
// A connection's encoding is a sequence of uvarints: an even x refers to
// the table's piece x/2; an odd x is followed by x/2 bytes written out.
// Concatenating the pieces gives exactly protocol.AppendMetaTail's
// encoding (the peer, then method, path, params, query, headers), so events are byte for byte what protocol.EncodeMeta made.

// metaTable holds pieces of encoded connection metadata shared by several
// connections. It is bounded (metaMaxPieces pieces, metaMaxBytes bytes);
// a piece is evicted when the last connection referring to it ends.
//
// A piece enters the table the second time it is seen (a direct-mapped
// filter of hashes remembers pieces seen once), so values unique to one
// connection, such as a request id a proxy adds, stay written out in the
// connection: in the table they would cost an entry each and never be
// shared. Once the table is full, new pieces are written out too.
//
// Concurrency: acquire and release take mu; resolving a reference
// (appendMeta) takes no lock: a connection holds a count on each piece it
// refers to, so the piece stays while the connection can use it, and the
// slots are read through atomic pointers.
type metaTable struct {
	seed      maphash.Seed
	maxPieces int // at most metaMaxPieces
	maxBytes  int
	chunks    [metaMaxPieces / metaChunk]atomic.Pointer[[metaChunk]atomic.Pointer[string]]

	mu     sync.Mutex
	ids    map[string]uint32 // piece → id
	refs   []int32           // by id: connections referring to it
	free   []uint32          // ids of evicted pieces, for reuse
	next   uint32            // ids below next have been handed out
	bytes  int               // bytes of the pieces held
	seen   [metaSeenSlots]uint64
	pieces [][]byte // scratch for acquire, under mu
}

const (
	metaChunk     = 1024
	metaMaxPieces = 64 * metaChunk
	metaMaxBytes  = 8 << 20
	metaSeenSlots = 4096 // 32 KiB of hashes
)

func newMetaTable() *metaTable {
	return &metaTable{seed: maphash.MakeSeed(), ids: map[string]uint32{}, maxPieces: metaMaxPieces, maxBytes: metaMaxBytes}
}

// acquire encodes the shared part of m for one connection and takes a
// count on each piece it refers to. The result is exactly as long as the
// encoding (a connection keeps it for its life). release gives it back.
func (t *metaTable) acquire(m *protocol.ConnMeta) string {
	sp := metaScratch.Get().(*metaBufs)
	defer metaScratch.Put(sp)
	cuts := sp.cuts[:0]
	full := protocol.AppendMetaTail(sp.full[:0], m, func(b []byte) { cuts = append(cuts, len(b)) })
	sp.full, sp.cuts = full, cuts
	enc := sp.enc[:0]
	lit := -1 // start in full of the pieces being written out, -1 for none
	flush := func(end int) {
		if lit >= 0 && end > lit {
			enc = binary.AppendUvarint(enc, uint64(end-lit)<<1|1)
			enc = append(enc, full[lit:end]...)
		}
		lit = -1
	}
	t.mu.Lock()
	start := 0
	for _, end := range append(cuts, len(full)) {
		if end <= start {
			continue
		}
		p := full[start:end]
		if id, ok := t.intern(p); ok {
			flush(start)
			enc = binary.AppendUvarint(enc, uint64(id)<<1)
		} else if lit < 0 {
			lit = start
		}
		start = end
	}
	t.mu.Unlock()
	flush(len(full))
	sp.enc = enc
	return string(enc)
}

type metaBufs struct {
	full, enc []byte
	cuts      []int
}

var metaScratch = sync.Pool{New: func() any {
	return &metaBufs{full: make([]byte, 0, 1024), enc: make([]byte, 0, 256), cuts: make([]int, 0, 32)}
}}

// intern returns the id of piece p with a count taken on it, entering it
// when it is seen a second time and the table has room. Called with mu.
func (t *metaTable) intern(p []byte) (uint32, bool) {
	if id, ok := t.ids[string(p)]; ok {
		t.refs[id]++
		return id, true
	}
	h := maphash.Bytes(t.seed, p) | 1 // never 0, the empty slot
	slot := &t.seen[h%metaSeenSlots]
	if *slot != h {
		*slot = h
		return 0, false
	}
	if t.bytes+len(p) > t.maxBytes || (len(t.free) == 0 && t.next >= uint32(t.maxPieces)) {
		return 0, false
	}
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
	} else {
		id = t.next
		t.next++
		t.refs = append(t.refs, 0)
		if id%metaChunk == 0 {
			t.chunks[id/metaChunk].Store(new([metaChunk]atomic.Pointer[string]))
		}
	}
	s := string(p)
	t.ids[s] = id
	t.refs[id] = 1
	t.bytes += len(s)
	t.chunks[id/metaChunk].Load()[id%metaChunk].Store(&s)
	*slot = 0
	return id, true
}

// release drops the counts enc holds; pieces nobody refers to any more
// leave the table.
func (t *metaTable) release(enc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(enc) > 0 {
		x, n := uvarint(enc)
		if n <= 0 {
			return
		}
		enc = enc[n:]
		if x&1 == 1 {
			enc = enc[x>>1:]
			continue
		}
		id := uint32(x >> 1)
		if t.refs[id]--; t.refs[id] > 0 {
			continue
		}
		slot := &t.chunks[id/metaChunk].Load()[id%metaChunk]
		p := slot.Load()
		slot.Store(nil)
		delete(t.ids, *p)
		t.bytes -= len(*p)
		t.free = append(t.free, id)
	}
}

// appendMeta appends what enc stands for. It does not allocate and takes
// no lock.
func (t *metaTable) appendMeta(dst []byte, enc string) []byte {
	for len(enc) > 0 {
		x, n := uvarint(enc)
		if n <= 0 {
			return dst
		}
		enc = enc[n:]
		if x&1 == 1 {
			l := x >> 1
			dst = append(dst, enc[:l]...)
			enc = enc[l:]
			continue
		}
		id := x >> 1
		dst = append(dst, *t.chunks[id/metaChunk].Load()[id%metaChunk].Load()...)
	}
	return dst
}

// uvarint is binary.Uvarint of a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// peer is the peer field of what enc stands for (ConnInfo.Peer).
func (t *metaTable) peer(enc string) string {
	b := t.appendMeta(nil, enc)
	// b starts with `,"peer":"...",`: decode that one JSON string.
	rest, ok := bytes.CutPrefix(b, []byte(`,"peer":`))
	if !ok {
		return ""
	}
	var p string
	d := json.NewDecoder(bytes.NewReader(rest))
	if d.Decode(&p) != nil {
		return ""
	}
	return p
}

// size is the number of pieces held and their bytes.
func (t *metaTable) size() (pieces, bytes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ids), t.bytes
}
