package gateway

import "sync"

// chunkFrames is the number of frames per queue chunk: 8 + 15×32 bytes fill
// a 512-byte size class.
const chunkFrames = 15

// chunk is a piece of a connection's write queue.
type chunk struct {
	next   *chunk
	frames [chunkFrames]outFrame
}

// frameQueue is a connection's write queue: a list of fixed-size chunks
// taken from and given back to a chunkCache. It never reallocates to grow
// (a burst that queues hundreds of frames per connection made a slice grow,
// and the garbage of that growth cost the collector), and an empty queue
// holds nothing. The caller serializes access (Conn.mu).
type frameQueue struct {
	head, tail *chunk
	n          int32 // frames queued
	hi, ti     uint8 // first frame in head; next free slot in tail
}

func (q *frameQueue) len() int { return int(q.n) }

// front returns the first frame; the queue must not be empty.
func (q *frameQueue) front() *outFrame { return &q.head.frames[q.hi] }

// push appends fr.
func (q *frameQueue) push(fr outFrame, cc *chunkCache) {
	if q.tail == nil {
		q.head = cc.get()
		q.tail, q.hi, q.ti = q.head, 0, 0
	} else if q.ti == chunkFrames {
		ch := cc.get()
		q.tail.next = ch
		q.tail, q.ti = ch, 0
	}
	q.tail.frames[q.ti] = fr
	q.ti++
	q.n++
}

// popFront drops the first frame; the queue must not be empty.
func (q *frameQueue) popFront(cc *chunkCache) {
	q.head.frames[q.hi] = outFrame{}
	q.hi++
	q.n--
	if q.n == 0 {
		cc.put(q.head)
		*q = frameQueue{}
		return
	}
	if q.hi == chunkFrames {
		old := q.head
		q.head, q.hi = old.next, 0
		cc.put(old)
	}
}

// each calls f with the frames in order until f returns false.
func (q *frameQueue) each(f func(*outFrame) bool) {
	ch, i := q.head, int(q.hi)
	for left := q.n; left > 0; left-- {
		if i == chunkFrames {
			ch, i = ch.next, 0
		}
		if !f(&ch.frames[i]) {
			return
		}
		i++
	}
}

// truncate keeps the first keep frames (0 or 1) and drops the rest,
// returning the payload bytes dropped.
func (q *frameQueue) truncate(keep int, cc *chunkCache) (dropped int) {
	if int(q.n) <= keep {
		return 0
	}
	if keep == 0 {
		return q.reset(cc)
	}
	// Keep the head frame only.
	n := 0
	first := true
	q.each(func(fr *outFrame) bool {
		if first {
			first = false
			return true
		}
		n += len(fr.payload)
		*fr = outFrame{}
		return true
	})
	for ch := q.head.next; ch != nil; {
		next := ch.next
		cc.put(ch)
		ch = next
	}
	q.head.next = nil
	q.tail, q.ti, q.n = q.head, q.hi+1, 1
	return n
}

// reset empties the queue, returning the payload bytes dropped.
func (q *frameQueue) reset(cc *chunkCache) (dropped int) {
	q.each(func(fr *outFrame) bool {
		dropped += len(fr.payload)
		*fr = outFrame{}
		return true
	})
	for ch := q.head; ch != nil; {
		next := ch.next
		cc.put(ch)
		ch = next
	}
	*q = frameQueue{}
	return dropped
}

// chunkCache keeps free chunks across garbage collections (a sync.Pool is
// emptied by them, and the collector runs often with the hub's GOGC), up to
// a bound; chunks beyond it are left to the collector.
type chunkCache struct {
	mu   sync.Mutex
	free []*chunk
	max  int
}

func (cc *chunkCache) get() *chunk {
	cc.mu.Lock()
	if n := len(cc.free); n > 0 {
		ch := cc.free[n-1]
		cc.free[n-1] = nil
		cc.free = cc.free[:n-1]
		cc.mu.Unlock()
		return ch
	}
	cc.mu.Unlock()
	return new(chunk)
}

// put takes back a chunk whose frames are already cleared.
func (cc *chunkCache) put(ch *chunk) {
	ch.next = nil
	cc.mu.Lock()
	if len(cc.free) < cc.max {
		cc.free = append(cc.free, ch)
	}
	cc.mu.Unlock()
}
