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

// frameReader is the inbound half of a connection. Both slices are nil while
// the connection is idle: partial only holds an incomplete frame, frag only an
// incomplete fragmented message.
type frameReader struct {
	partial  []byte // bytes of an incomplete frame (header and masked payload)
	frag     []byte // unmasked payload of the fragments of a message so far
	fragging bool   // a non-final text frame started a message
	fragZ    bool   // that message is compressed
	deflate  bool   // permessage-deflate was negotiated: RSV1 marks a compressed message
}

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
// place, so in must be owned by the caller. It returns a nonzero reason when
// the peer broke the protocol or a limit; the connection must then close with
// that reason and feed must not be called again.
func (r *frameReader) feed(sc *parseScratch, in []byte, maxMsg int, sink frameSink) CloseReason {
	data := in
	if len(r.partial) > 0 {
		r.partial = append(r.partial, in...)
		data = r.partial
	}
	for len(data) > 0 {
		if sink.stopped() {
			r.partial, r.frag = nil, nil
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
		if reason := r.check(h, maxMsg); reason != 0 {
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
	switch {
	case len(data) == 0:
		r.partial = nil
	case len(r.partial) > 0:
		// data is a tail of r.partial: move it to the front.
		r.partial = r.partial[:copy(r.partial, data)]
	default:
		r.partial = append([]byte(nil), data...)
	}
	return 0
}

// check validates a frame header before its payload is there, so that an
// oversized frame is refused without buffering it.
func (r *frameReader) check(h ws.Header, maxMsg int) CloseReason {
	if (h.Rsv != 0 && !(r.deflate && h.Rsv == rsv1 && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary))) || !h.Masked {
		return ReasonProtocolError
	}
	switch h.OpCode {
	case ws.OpClose, ws.OpPing, ws.OpPong:
		if h.Length > 125 || !h.Fin {
			return ReasonProtocolError
		}
		return 0
	case ws.OpText, ws.OpBinary:
		if r.fragging {
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
		if !r.fragging {
			return ReasonProtocolError
		}
		if h.Length > int64(maxMsg-len(r.frag)) {
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
		r.fragging, r.fragZ = true, h.Rsv != 0
		r.frag = append(make([]byte, 0, 2*len(payload)+64), payload...)
	case ws.OpContinuation:
		r.frag = append(r.frag, payload...)
		if h.Fin {
			msg, z := r.frag, r.fragZ
			r.frag, r.fragging, r.fragZ = nil, false, false
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
