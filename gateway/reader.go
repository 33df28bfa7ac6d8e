package gateway

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// frameSink receives what frameReader.feed decodes. All slices are valid only
// during the call.
type frameSink interface {
	onText(msg []byte)
	onPing(payload []byte)
	onPong()
	// onClose is called for a valid client close frame; code is 1005 when the
	// frame carried no status.
	onClose(code uint16)
	// stopped reports whether the sink wants no more frames (it is closing).
	stopped() bool
}

// parseScratch is per-goroutine state reused by feed so that parsing does not
// allocate. It is owned by one worker (or by the upgrading goroutine).
type parseScratch struct {
	br  bytes.Reader
	hdr [ws.MaxHeaderSize]byte
	// inflateMax bounds an inflated message (Config.MaxInflatedBytes); 0
	// means the message limit given to feed.
	inflateMax int
	inflated   []byte // inflate's output, kept while small
}

// frameReader is the inbound half of a connection. It is one pointer, nil
// while the connection is idle: the state of an incomplete frame or
// fragmented message (or, during the handshake, of an incomplete request
// head) lives in a readState allocated when one starts and dropped when it
// completes, so an idle Conn does not carry its two slices and flags
// (gateway.Conn 224 → 160 bytes with the rest of its layout).
type frameReader struct {
	st *readState
}

// readState is what a connection keeps between reads while something is
// incomplete. It is never kept with partial and frag both empty and no
// message started.
type readState struct {
	partial  []byte // bytes of an incomplete frame (header and masked payload), or request head
	frag     []byte // unmasked payload of the fragments of a message so far
	fragging bool   // a non-final text frame started a message
	fragZ    bool   // that message is compressed
}

// state returns the readState, allocating it if there is none.
func (r *frameReader) state() *readState {
	if r.st == nil {
		r.st = new(readState)
	}
	return r.st
}

// partial returns the bytes of an incomplete frame or request head, nil
// when none.
func (r *frameReader) partial() []byte {
	if r.st == nil {
		return nil
	}
	return r.st.partial
}

// setPartial keeps p as the incomplete frame or request head; nil drops
// it, and with it the readState when no message is incomplete either.
func (r *frameReader) setPartial(p []byte) {
	if len(p) == 0 {
		if r.st != nil {
			r.st.partial = nil
			r.tidy()
		}
		return
	}
	r.state().partial = p
}

// tidy drops the readState once nothing is incomplete.
func (r *frameReader) tidy() {
	if st := r.st; st != nil && len(st.partial) == 0 && !st.fragging {
		r.st = nil
	}
}

// reset drops every incomplete frame and message.
func (r *frameReader) reset() { r.st = nil }

// rsv1 is the RSV1 bit of ws.Header.Rsv: the permessage-deflate bit.
var rsv1 = ws.Rsv(true, false, false)

// headerLen returns the size of the frame header at the start of p, or 0 if p
// is too short to tell.
func headerLen(p []byte) int {
	if len(p) < 2 {
		return 0
	}
	n := 2
	switch p[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if p[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// validCloseCode reports whether a client may send code in a close frame.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// feed decodes every complete frame of in (preceded by any partial frame kept
// from earlier) and hands messages and control frames to sink. It unmasks in
// place, so in must be owned by the caller. deflate says permessage-deflate
// was negotiated (RSV1 then marks a compressed message). It returns a
// nonzero reason when the peer broke the protocol or a limit; the
// connection must then close with that reason and feed must not be called
// again.
func (r *frameReader) feed(sc *parseScratch, in []byte, maxMsg int, deflate bool, sink frameSink) CloseReason {
	data := in
	if p := r.partial(); len(p) > 0 {
		r.st.partial = append(p, in...)
		data = r.st.partial
	}
	for len(data) > 0 {
		if sink.stopped() {
			r.reset()
			return 0
		}
		hl := headerLen(data)
		if hl == 0 || len(data) < hl {
			break
		}
		sc.br.Reset(data[:hl])
		h, err := ws.ReadHeaderBuffer(&sc.br, sc.hdr[:])
		if err != nil {
			return ReasonProtocolError
		}
		if reason := r.check(h, maxMsg, deflate); reason != 0 {
			return reason
		}
		total := hl + int(h.Length)
		if len(data) < total {
			break
		}
		payload := data[hl:total]
		data = data[total:]
		ws.Cipher(payload, h.Mask, 0)
		if reason := r.dispatch(sc, h, payload, maxMsg, sink); reason != 0 {
			return reason
		}
	}
	switch p := r.partial(); {
	case len(data) == 0:
		r.setPartial(nil)
	case len(p) > 0:
		// data is a tail of the partial bytes: move it to the front.
		r.st.partial = p[:copy(p, data)]
	default:
		r.setPartial(append([]byte(nil), data...))
	}
	return 0
}

// check validates a frame header before its payload is there, so that an
// oversized frame is refused without buffering it.
func (r *frameReader) check(h ws.Header, maxMsg int, deflate bool) CloseReason {
	st := r.st
	fragging := st != nil && st.fragging
	if (h.Rsv != 0 && !(deflate && h.Rsv == rsv1 && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary))) || !h.Masked {
		return ReasonProtocolError
	}
	switch h.OpCode {
	case ws.OpClose, ws.OpPing, ws.OpPong:
		if h.Length > 125 || !h.Fin {
			return ReasonProtocolError
		}
		return 0
	case ws.OpText, ws.OpBinary:
		if fragging {
			return ReasonProtocolError
		}
		if h.OpCode == ws.OpBinary {
			return ReasonUnsupportedData
		}
		if h.Length > int64(maxMsg) {
			return ReasonTooBig
		}
		return 0
	case ws.OpContinuation:
		if !fragging {
			return ReasonProtocolError
		}
		if h.Length > int64(maxMsg-len(st.frag)) {
			return ReasonTooBig
		}
		return 0
	}
	return ReasonProtocolError
}

func (r *frameReader) dispatch(sc *parseScratch, h ws.Header, payload []byte, maxMsg int, sink frameSink) CloseReason {
	switch h.OpCode {
	case ws.OpText:
		if h.Fin {
			return text(sc, payload, h.Rsv != 0, maxMsg, sink)
		}
		st := r.state()
		st.fragging, st.fragZ = true, h.Rsv != 0
		st.frag = append(make([]byte, 0, 2*len(payload)+64), payload...)
	case ws.OpContinuation:
		st := r.st // check saw the message started
		st.frag = append(st.frag, payload...)
		if h.Fin {
			msg, z := st.frag, st.fragZ
			st.frag, st.fragging, st.fragZ = nil, false, false
			// The readState stays until feed is done with the bytes
			// (they may be its partial ones).
			return text(sc, msg, z, maxMsg, sink)
		}
	case ws.OpPing:
		sink.onPing(payload)
	case ws.OpPong:
		sink.onPong()
	case ws.OpClose:
		code := uint16(1005)
		switch {
		case len(payload) == 1:
			return ReasonProtocolError
		case len(payload) >= 2:
			code = binary.BigEndian.Uint16(payload)
			if !validCloseCode(code) {
				return ReasonProtocolError
			}
			if !utf8.Valid(payload[2:]) {
				return ReasonInvalidUTF8
			}
		}
		sink.onClose(code)
	}
	return 0
}

// text hands a complete text message to sink, inflating it first when
// compressed: past the inflate bound it is too big (1009), corrupt deflate
// data is a protocol error.
func text(sc *parseScratch, msg []byte, compressed bool, maxMsg int, sink frameSink) CloseReason {
	if compressed {
		max := sc.inflateMax
		if max <= 0 {
			max = maxMsg
		}
		out, err := inflate(sc.inflated, msg, max)
		if cap(out) <= 64<<10 {
			sc.inflated = out[:0]
		} else {
			sc.inflated = nil
		}
		switch err {
		case nil:
		case errInflatedTooBig:
			return ReasonTooBig
		default:
			return ReasonProtocolError
		}
		msg = out
	}
	if !utf8.Valid(msg) {
		return ReasonInvalidUTF8
	}
	sink.onText(msg)
	return 0
}
