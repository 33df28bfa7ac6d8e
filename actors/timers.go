package actors

import (
	"container/heap"
	"sync"
	"time"
)

// timerKind says what a connection's deadline is for.
type timerKind uint8

const (
	timerNotice timerKind = iota + 1 // send refresh_required: the token expires soon
	timerExpire                      // close 4002: the token expired and the grace is over
	timerMaxAge                      // close 4003: max_connection_age reached
)

// fired is posted to a connection when one of its deadlines is due. exp is
// the token expiry the deadline was set for: a refresh since then changed
// the connection's expiry, and the connection ignores the stale deadline.
type fired struct {
	kind timerKind
	exp  int64
}

type deadline struct {
	at   int64 // unix nanoseconds
	c    *Conn
	exp  int64
	kind timerKind
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return d
}

// timers holds every connection's next deadlines (token notice and expiry,
// maximum age) in one min-heap served by one goroutine: no timer per
// connection, and connections without a deadline cost nothing. A deadline
// is never removed before it is due; a connection that ended or refreshed
// its token ignores it (a deadline costs 32 bytes until then).
type timers struct {
	mu   sync.Mutex
	h    deadlineHeap
	wake chan struct{} // size 1: a deadline earlier than the one waited for was added
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// slack is how late a deadline may run: the loop takes every deadline due
// within it in one wake-up.
const slack = 5 * time.Millisecond

func (t *timers) start() {
	t.wake = make(chan struct{}, 1)
	t.quit = make(chan struct{})
	t.wg.Go(t.loop)
}

func (t *timers) stop() {
	t.once.Do(func() {
		if t.quit != nil {
			close(t.quit)
			t.wg.Wait()
		}
	})
}

// add schedules kind for c at at.
func (t *timers) add(c *Conn, at time.Time, kind timerKind, exp int64) {
	d := deadline{at: at.UnixNano(), c: c, exp: exp, kind: kind}
	t.mu.Lock()
	heap.Push(&t.h, d)
	first := t.h[0].at == d.at
	t.mu.Unlock()
	if first {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

func (t *timers) loop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []deadline
	for {
		now := time.Now().UnixNano()
		next := int64(-1)
		due = due[:0]
		t.mu.Lock()
		for len(t.h) > 0 && t.h[0].at <= now+int64(slack) {
			due = append(due, heap.Pop(&t.h).(deadline))
		}
		if len(t.h) > 0 {
			next = t.h[0].at
		}
		t.mu.Unlock()
		for i := range due {
			d := &due[i]
			d.c.post(&fired{kind: d.kind, exp: d.exp})
			d.c = nil
		}
		wait := time.Hour
		if next >= 0 {
			wait = time.Duration(next - now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-t.wake:
		case <-t.quit:
			return
		}
	}
}
