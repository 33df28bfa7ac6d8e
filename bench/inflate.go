package bench

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"
)

// inflater undoes permessage-deflate for the load clients, when the hub
// negotiated it (clients with -browser-headers offer it, as Chrome does):
// a frame with RSV1 carries one message compressed without context
// takeover.
type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser
	out []byte
}

var deflateTail = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// inflate returns the message of a compressed payload (valid until the next
// call), or nil when it does not inflate.
func (z *inflater) inflate(p []byte) []byte {
	z.src.Reset(append(append(z.out[:0:0], p...), deflateTail...))
	if z.fr == nil {
		z.fr = flate.NewReader(&z.src)
	} else if z.fr.(flate.Resetter).Reset(&z.src, nil) != nil {
		return nil
	}
	z.out = z.out[:0]
	buf := bytes.NewBuffer(z.out)
	if _, err := io.Copy(buf, z.fr); err != nil {
		return nil
	}
	z.out = buf.Bytes()
	return z.out
}
