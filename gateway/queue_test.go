package gateway

import (
	"strconv"
	"testing"

	"github.com/gobwas/ws"
)

func queued(q *frameQueue) []string {
	var out []string
	q.each(func(fr *outFrame) bool {
		out = append(out, string(fr.payload))
		return true
	})
	return out
}

// The queue keeps order across chunks, gives every chunk back once empty,
// and truncate and reset drop what they say.
func TestFrameQueue(t *testing.T) {
	cc := &chunkCache{max: 100}
	var q frameQueue
	const n = 3*chunkFrames + 4
	for i := range n {
		q.push(outFrame{op: ws.OpText, payload: []byte(strconv.Itoa(i))}, cc)
	}
	if q.len() != n {
		t.Fatalf("len %d", q.len())
	}
	for i := range chunkFrames + 2 {
		if got := string(q.front().payload); got != strconv.Itoa(i) {
			t.Fatalf("front %q, want %d", got, i)
		}
		q.popFront(cc)
	}
	if len(cc.free) != 1 {
		t.Fatalf("%d chunks back after the first emptied, want 1", len(cc.free))
	}
	got := queued(&q)
	if len(got) != n-chunkFrames-2 || got[0] != strconv.Itoa(chunkFrames+2) || got[len(got)-1] != strconv.Itoa(n-1) {
		t.Fatalf("queued %v", got)
	}
	// truncate(1) keeps the head frame only.
	want := 0
	for _, p := range got[1:] {
		want += len(p)
	}
	if d := q.truncate(1, cc); d != want || q.len() != 1 || queued(&q)[0] != got[0] {
		t.Fatalf("truncate dropped %d (want %d), left %v", d, want, queued(&q))
	}
	q.push(outFrame{payload: []byte("x")}, cc)
	if g := queued(&q); len(g) != 2 || g[1] != "x" {
		t.Fatalf("after truncate and push: %v", g)
	}
	q.popFront(cc)
	q.popFront(cc)
	if q.len() != 0 || q.head != nil || q.tail != nil {
		t.Fatalf("not empty: %+v", q)
	}
	// Every chunk is back and cleared.
	if len(cc.free) != 4 {
		t.Fatalf("%d chunks free, want 4", len(cc.free))
	}
	for _, ch := range cc.free {
		for _, fr := range ch.frames {
			if fr.payload != nil {
				t.Fatal("a free chunk still holds a payload")
			}
		}
	}
	for i := range 20 {
		q.push(outFrame{payload: []byte{byte(i)}}, cc)
	}
	if d := q.reset(cc); d != 20 || q.len() != 0 {
		t.Fatalf("reset dropped %d, len %d", d, q.len())
	}
	// The cache is bounded.
	small := &chunkCache{max: 1}
	small.put(new(chunk))
	small.put(new(chunk))
	if len(small.free) != 1 {
		t.Fatalf("cache holds %d, max 1", len(small.free))
	}
}
