//go:build linux

package gateway

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
)

// What an idle connection costs limits connections per node (hub bench
// -case idle, BENCHMARKS.md): the Conn must stay in the 160-byte size
// class. A field that only some connections need, or only for a while,
// belongs in readState or another side struct.
func TestConn_Size(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 160 {
		t.Fatalf("gateway.Conn is %d bytes, want at most 160 (its size class)", got)
	}
	if got := unsafe.Sizeof(frameReader{}); got != unsafe.Sizeof(uintptr(0)) {
		t.Fatalf("frameReader is %d bytes, want one pointer", got)
	}
}

// The reader keeps a readState only while a frame or a message is
// incomplete, and drops it as soon as it completes.
func TestReader_StateOnlyWhileIncomplete(t *testing.T) {
	frame := rawFrame(0x81, true, 5, []byte("hello"))
	tests := []struct {
		name  string
		reads [][]byte
		held  []bool // whether a readState is kept after each read
		texts []string
	}{
		{"whole frame", [][]byte{frame}, []bool{false}, []string{"hello"}},
		{"header split", [][]byte{frame[:1], frame[1:]}, []bool{true, false}, []string{"hello"}},
		{"payload split", [][]byte{frame[:4], frame[4:9], frame[9:]}, []bool{true, true, false}, []string{"hello"}},
		{"frame and a half", [][]byte{append(append([]byte(nil), frame...), frame[:3]...), frame[3:]}, []bool{true, false}, []string{"hello", "hello"}},
		{"fragmented", [][]byte{
			maskedFrame(ws.OpText, false, "he"),
			maskedFrame(ws.OpPing, true, "p"),
			maskedFrame(ws.OpContinuation, false, "ll"),
			maskedFrame(ws.OpContinuation, true, "o"),
		}, []bool{true, true, true, false}, []string{"hello"}},
		{"fragment ends mid-read", [][]byte{
			append(maskedFrame(ws.OpText, false, "he"), maskedFrame(ws.OpContinuation, true, "llo")[:2]...),
			maskedFrame(ws.OpContinuation, true, "llo")[2:],
		}, []bool{true, false}, []string{"hello"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r frameReader
			var sc parseScratch
			sink := &textSink{}
			for i, in := range tt.reads {
				if reason := r.feed(&sc, append([]byte(nil), in...), DefaultMaxFrameBytes, false, sink); reason != 0 {
					t.Fatalf("read %d: feed = %v", i, reason)
				}
				if held := r.st != nil; held != tt.held[i] {
					t.Fatalf("read %d: readState kept %v, want %v", i, held, tt.held[i])
				}
			}
			if fmt.Sprint(sink.texts) != fmt.Sprint(tt.texts) {
				t.Fatalf("texts %q, want %q", sink.texts, tt.texts)
			}
		})
	}
}

type textSink struct{ texts []string }

func (s *textSink) onText(msg []byte) { s.texts = append(s.texts, string(msg)) }
func (s *textSink) onPing([]byte)     {}
func (s *textSink) onPong()           {}
func (s *textSink) onClose(uint16)    {}
func (s *textSink) stopped() bool     { return false }

// readerIdle reports an error while c's reader keeps a readState. It takes
// c.mu and looks only while no worker holds c, so it does not race the
// reader's owner.
func readerIdle(c *Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags&flagBusy != 0 {
		return fmt.Errorf("busy")
	}
	if st := c.rd.st; st != nil {
		return fmt.Errorf("reader keeps %d partial bytes, %d of a message (started %v)", len(st.partial), len(st.frag), st.fragging)
	}
	return nil
}
