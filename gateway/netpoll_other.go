//go:build !linux

package gateway

import (
	"net"
	"net/http"
	"syscall"
	"time"
)

// The epoll gateway needs Linux. Elsewhere Config.Gateway defaults to the
// portable gateway (portable.go), and these stubs are never called.

type workItem struct{}

func (s *Server) openPoller() error           { return ErrUnsupported }
func (s *Server) wakePoller()                 {}
func (s *Server) closePoller()                {}
func (s *Server) register(*Conn) error        { return ErrUnsupported }
func (s *Server) arm(*Conn, bool)             {}
func (s *Server) unregister(*Conn)            {}
func (s *Server) pollLoop()                   {}
func (s *Server) workLoop()                   {}
func sysRead(uintptr, []byte) (int, error)    { return 0, ErrUnsupported }
func sysWrite(uintptr, []byte) (int, error)   { return 0, ErrUnsupported }
func flushWrite(uintptr, []byte) (int, error) { return 0, ErrUnsupported }
func wouldBlock(error) bool                   { return false }
func peerGone(error) bool                     { return false }

// Stubs of the raw-listener path (accept_linux.go); Start fails before any
// of them could run.

type connListener struct{ net.Listener }

func newConnListener(net.Addr) *connListener { return &connListener{} }

type rawResponse struct {
	http.ResponseWriter
	c        *Conn
	rest     []byte
	upgraded bool
	deferred bool
}

func (w *rawResponse) upgrade(*http.Request, bool) bool { return false }
func (s *Server) resumeRaw(*rawResponse)                {}

func (s *Server) openListener(net.Listener) error { return ErrUnsupported }
func (s *Server) closeListener()                  {}
func dupFD(syscall.Conn) (int, error)             { return -1, ErrUnsupported }
func shutdownWrite(int32)                         {}
func sysClose(int32)                              {}
func (c *Conn) writeAll([]byte, time.Duration) bool {
	return false
}
