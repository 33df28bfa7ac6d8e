//go:build linux

package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// fuzzSink checks what the parser emits.
type fuzzSink struct {
	t      *testing.T
	max    int
	closed bool
}

func (s *fuzzSink) onText(msg []byte) {
	if len(msg) > s.max {
		s.t.Fatalf("message of %d bytes over the %d limit", len(msg), s.max)
	}
	if !utf8.Valid(msg) {
		s.t.Fatalf("message %q is not UTF-8", msg)
	}
}
func (s *fuzzSink) onPing(p []byte) {
	if len(p) > 125 {
		s.t.Fatalf("ping payload of %d bytes", len(p))
	}
}
func (s *fuzzSink) onPong()        {}
func (s *fuzzSink) onClose(uint16) { s.closed = true }
func (s *fuzzSink) stopped() bool  { return s.closed }

// checkIdleState fails unless the reader keeps its readState only while a
// frame or a message is incomplete: an idle connection must hold nothing.
func checkIdleState(t *testing.T, r *frameReader) {
	t.Helper()
	if st := r.st; st != nil && len(st.partial) == 0 && !st.fragging {
		t.Fatalf("readState kept with nothing incomplete: %+v", *st)
	}
	if st := r.st; st != nil && !st.fragging && st.frag != nil {
		t.Fatalf("fragment buffer kept with no message started: %d bytes", len(st.frag))
	}
}

func maskedFrame(op ws.OpCode, fin bool, p string) []byte {
	b, _ := ws.CompileFrame(ws.MaskFrame(ws.NewFrame(op, fin, []byte(p))))
	return b
}

func FuzzReadFrames(f *testing.F) {
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	f.Add(byte(0), maskedFrame(ws.OpText, true, "hello"))
	f.Add(byte(3), cat(maskedFrame(ws.OpText, false, "he"), maskedFrame(ws.OpPing, true, "p"), maskedFrame(ws.OpContinuation, true, "llo")))
	f.Add(byte(1), cat(maskedFrame(ws.OpClose, true, "\x03\xe8bye"), maskedFrame(ws.OpText, true, "after")))
	f.Add(byte(7), maskedFrame(ws.OpBinary, true, "\x00\x01"))
	f.Add(byte(2), rawFrame(0x81, true, 10<<20, nil))
	f.Add(byte(5), rawFrame(0x81, true, 300, make([]byte, 300)))
	f.Add(byte(0), []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, split byte, data []byte) {
		const max = 1024
		var r frameReader
		var sc parseScratch
		sink := &fuzzSink{t: t, max: max}
		in := append([]byte(nil), data...)
		step := int(split)%64 + 1
		for len(in) > 0 {
			n := min(step, len(in))
			reason := r.feed(&sc, in[:n], max, false, sink)
			in = in[n:]
			if reason != 0 {
				if reason.String() == "unknown" {
					t.Fatalf("unknown reason %d", reason)
				}
				return
			}
			checkIdleState(t, &r)
			if st := r.st; st != nil && len(st.partial) > max+ws.MaxHeaderSize+step {
				t.Fatalf("partial buffer of %d bytes", len(st.partial))
			}
			if st := r.st; st != nil && len(st.frag) > max {
				t.Fatalf("fragment buffer of %d bytes", len(st.frag))
			}
		}
	})
}

// FuzzReadDeflateFrames feeds arbitrary bytes to a frame reader that
// negotiated permessage-deflate: compressed messages are inflated within
// their bound, and nothing the peer sends makes it panic or hand on a
// message over the bound or not UTF-8.
func FuzzReadDeflateFrames(f *testing.F) {
	compressed := func(msg string, fin bool) []byte {
		fr := ws.NewFrame(ws.OpText, fin, newDeflateCache(1).compress([]byte(msg)))
		fr.Header.Rsv = rsv1
		b, _ := ws.CompileFrame(ws.MaskFrame(fr))
		return b
	}
	long := strings.Repeat("hello, compressed world ", 40)
	f.Add(byte(0), compressed(long, true))
	f.Add(byte(5), append(compressed(long, false), maskedFrame(ws.OpContinuation, true, "")...))
	f.Add(byte(1), compressed(strings.Repeat(" ", 100000), true))
	f.Add(byte(3), append(maskedFrame(ws.OpText, true, "plain"), compressed(long, true)...))
	f.Add(byte(2), rawFrame(0x81|0x40, true, 5, []byte{0xff, 0xff, 0xff, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, split byte, data []byte) {
		const max = 2048
		var r frameReader
		sc := parseScratch{inflateMax: max}
		sink := &fuzzSink{t: t, max: max}
		in := append([]byte(nil), data...)
		step := int(split)%64 + 1
		for len(in) > 0 {
			n := min(step, len(in))
			reason := r.feed(&sc, in[:n], max, true, sink)
			in = in[n:]
			if reason != 0 {
				return
			}
			checkIdleState(t, &r)
		}
	})
}
