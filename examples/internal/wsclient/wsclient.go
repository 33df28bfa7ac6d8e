// Package wsclient is the small WebSocket client the examples share: dial,
// send a JSON frame, read the next server frame. It answers pings, and it
// is safe to Send from one goroutine while another reads.
package wsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Frame is one server frame: a message, an ack or an error.
type Frame struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Room    string          `json:"room,omitempty"`
	From    string          `json:"from,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Code    int             `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
}

// Text returns Data as text: a JSON string unquoted, anything else as JSON.
func (f Frame) Text() string {
	var s string
	if json.Unmarshal(f.Data, &s) == nil {
		return s
	}
	return string(f.Data)
}

// CloseError is the server's close frame.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("closed by the hub: %d %s", e.Code, e.Reason) }

// Conn is a client connection to a hub.
type Conn struct {
	nc net.Conn
	rw io.ReadWriter

	mu sync.Mutex // serialises writes: Send, pongs from Read, Close
}

// Dial connects to a hub's WebSocket URL, e.g. ws://127.0.0.1:8080/ws?user=alice.
func Dial(ctx context.Context, url string, header http.Header) (*Conn, error) {
	d := ws.Dialer{}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	var r io.Reader = nc
	if br != nil {
		r = io.MultiReader(br, nc)
	}
	c := &Conn{nc: nc}
	c.rw = struct {
		io.Reader
		io.Writer
	}{r, lockedWriter{c}}
	return c, nil
}

type lockedWriter struct{ c *Conn }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.nc.Write(p)
}

// Send writes v as one JSON text frame.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return wsutil.WriteClientText(c.rw, b)
}

// Read returns the next server frame. It blocks; Close unblocks it. When the
// hub closes the connection the error is a *CloseError.
func (c *Conn) Read() (Frame, error) {
	for {
		p, err := wsutil.ReadServerText(c.rw)
		if err != nil {
			var ce wsutil.ClosedError
			if ok := asClosed(err, &ce); ok {
				return Frame{}, &CloseError{Code: int(ce.Code), Reason: ce.Reason}
			}
			return Frame{}, err
		}
		var f Frame
		if err := json.Unmarshal(p, &f); err != nil {
			return Frame{}, fmt.Errorf("hub sent %q: %w", p, err)
		}
		return f, nil
	}
}

func asClosed(err error, ce *wsutil.ClosedError) bool {
	switch e := err.(type) {
	case wsutil.ClosedError:
		*ce = e
		return true
	case *wsutil.ClosedError:
		*ce = *e
		return true
	}
	return false
}

// Close says goodbye with 1000 and closes the socket.
func (c *Conn) Close() error {
	_ = wsutil.WriteClientMessage(c.rw, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))
	return c.nc.Close()
}
