//go:build linux

package gateway

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

type nopSink struct{ n int }

func (s *nopSink) onText(msg []byte) { s.n++ }
func (s *nopSink) onPing([]byte)     {}
func (s *nopSink) onPong()           {}
func (s *nopSink) onClose(uint16)    {}
func (s *nopSink) stopped() bool     { return false }

func BenchmarkParse(b *testing.B) {
	for _, size := range []int{16, 128, 4096} {
		b.Run(fmt.Sprintf("payload=%d", size), func(b *testing.B) {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = 'a' + byte(i%26)
			}
			var src []byte
			frames := 0
			for len(src) < 60<<10 {
				src = append(src, rawFrame(0x81, true, uint64(size), msg)...)
				frames++
			}
			buf := make([]byte, len(src))
			var r frameReader
			var sc parseScratch
			sink := &nopSink{}
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, src)
				if reason := r.feed(&sc, buf, DefaultMaxFrameBytes, false, sink); reason != 0 {
					b.Fatalf("feed: %v", reason)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
		})
	}
}

func TestParse_NoAllocs(t *testing.T) {
	src := append(maskedFrame(ws.OpText, true, "hello"), maskedFrame(ws.OpPong, true, "")...)
	buf := make([]byte, len(src))
	var r frameReader
	var sc parseScratch
	sink := &nopSink{}
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, src)
		r.feed(&sc, buf, DefaultMaxFrameBytes, false, sink)
	})
	if allocs != 0 {
		t.Fatalf("feed allocates %v times per call", allocs)
	}
}

// BenchmarkFanout sends one shared payload to 1,000 real loopback
// connections per iteration; clients count the bytes. coalesce=off writes one
// frame per write(2), to show what coalescing buys.
func BenchmarkFanout(b *testing.B) {
	for _, coalesce := range []bool{true, false} {
		name := "coalesce=on"
		if !coalesce {
			name = "coalesce=off"
		}
		b.Run(name, func(b *testing.B) { benchFanout(b, 1000, 128, coalesce) })
	}
}

func benchFanout(b *testing.B, nconns, size int, coalesce bool) {
	h := newRecorder()
	h.echo = false
	s := startServer(b, Config{WriteQueueFrames: 1 << 16, WriteQueueBytes: 64 << 20}, h)
	if !coalesce {
		s.maxBatch = 1
	}
	frameLen := int64(ws.HeaderSize(ws.Header{Length: int64(size)}) + size)
	var received atomic.Int64
	clients := make([]net.Conn, 0, nconns)
	for range nconns {
		c, err := dialErr(s, "/ws", nil)
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		clients = append(clients, c.nc)
		go func(r io.Reader) {
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				received.Add(int64(n))
				if err != nil {
					return
				}
			}
		}(c.r)
	}
	b.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	eventually(b, 10*time.Second, func() error {
		if h.numOpen() != nconns {
			return fmt.Errorf("%d open", h.numOpen())
		}
		return nil
	})
	conns := make([]*Conn, nconns)
	for i := range conns {
		conns[i] = h.conn(i)
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 'x'
	}
	const window = 64 // messages in flight per connection
	st0 := s.Stats()
	received.Store(0)
	sent := int64(0)
	b.SetBytes(int64(nconns) * frameLen)
	b.ReportAllocs()
	for b.Loop() {
		for received.Load() < (sent-window)*int64(nconns)*frameLen {
			time.Sleep(20 * time.Microsecond)
		}
		for _, c := range conns {
			if !c.Send(payload) {
				b.Fatal("Send refused")
			}
		}
		sent++
	}
	for received.Load() < sent*int64(nconns)*frameLen {
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := b.Elapsed()
	st := s.Stats()
	deliveries := float64(sent) * float64(nconns)
	b.ReportMetric(float64(elapsed.Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(st.FramesOut-st0.FramesOut)/float64(st.Writes-st0.Writes), "frames/write")
}
