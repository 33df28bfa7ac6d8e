package actors

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hubrt/hub/protocol"
)

// BenchmarkConnMemory reports the live heap one idle connection actor costs,
// joined to one of 100 rooms, with the headers a browser-less client sends
// (minimal), the same with a permessage-deflate offer, and those a desktop
// Chrome leaves in the events (browser).
func BenchmarkConnMemory(b *testing.B) {
	minimal := map[string][]string{
		"Host": {"127.0.0.1:8080"}, "Upgrade": {"websocket"}, "Connection": {"Upgrade"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"},
	}
	b.Run("headers=minimal", func(b *testing.B) { benchConnMemory(b, minimal) })
	deflate := maps.Clone(minimal)
	deflate["Sec-Websocket-Extensions"] = []string{"permessage-deflate; client_max_window_bits"}
	b.Run("headers=minimal+deflate", func(b *testing.B) { benchConnMemory(b, deflate) })
	b.Run("headers=browser", func(b *testing.B) { benchConnMemory(b, browserHeaders("127.0.0.1:8080")) })
}

func benchConnMemory(b *testing.B, hdr map[string][]string) {
	const conns = 20000
	for range b.N {
		s, _ := newSystem(b)
		before := heapInUse()
		keep := make([]*Conn, 0, conns)
		for i := range conns {
			peer := fmt.Sprintf("127.0.0.2:%d", 1024+i)
			c := s.Open(&countSink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{Peer: peer, Method: "GET", Path: "/ws", Headers: hdr}})
			c.Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, Room: fmt.Sprintf("r%d", i%100)})
			keep = append(keep, c)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			n := 0
			for r := range 100 {
				n += s.RoomMembers(fmt.Sprintf("r%d", r))
			}
			if n == conns {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d joined", n, conns)
			}
			time.Sleep(5 * time.Millisecond)
		}
		after := heapInUse()
		if f := os.Getenv("HUB_HEAP_PROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			_ = pprof.WriteHeapProfile(out)
			out.Close()
		}
		b.ReportMetric(float64(after-before)/conns, "B/conn")
		runtime.KeepAlive(keep)
	}
}

func init() {
	if os.Getenv("HUB_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// An idle connection actor is what limits connections per node: the Conn
// must stay in the 160-byte size class. What only some connections have
// belongs behind a pointer (lifetime), what a connection needs only while
// messages wait in its queue's backlog.
func TestConn_Size(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 160 {
		t.Fatalf("actors.Conn is %d bytes, want at most 160 (its size class)", got)
	}
}

// A queue keeps its backlog only while messages wait: once a run has taken
// them all, an idle actor holds nothing but the queue's three words.
func TestQueue_DropsBacklogWhenEmpty(t *testing.T) {
	r := &recorder{disp: actor.NewDefaultDispatcher(300), entered: make(chan struct{}), gate: make(chan struct{})}
	r.post("block", false)
	<-r.entered
	for i := range 100 {
		r.post(i, i%10 == 0)
	}
	r.mu.Lock()
	held := r.b != nil
	r.mu.Unlock()
	if !held {
		t.Fatal("no backlog with 100 messages waiting")
	}
	close(r.gate)
	eventually(t, "every message", func() bool { return r.users() == 0 && !r.isRunning() })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.b != nil {
		t.Fatalf("idle queue keeps a backlog of %d messages", len(r.b.msgs))
	}
	if len(r.got) != 101 {
		t.Fatalf("%d messages run, want 101", len(r.got))
	}
}

type nopInvoker struct{}

func (nopInvoker) InvokeSystemMessage(any)  {}
func (nopInvoker) InvokeUserMessage(any)    {}
func (nopInvoker) EscalateFailure(_, _ any) {}

// BenchmarkQueue_WakeUp posts one message to an idle queue and runs it, as
// a frame to an idle connection does: the backlog's allocation is the cost
// of keeping an idle queue at three words.
func BenchmarkQueue_WakeUp(b *testing.B) {
	var q queue
	msg := any(&userJoined{})
	b.ReportAllocs()
	for b.Loop() {
		if q.push(msg, false) {
			q.run(nopInvoker{}, 300)
		}
	}
}
