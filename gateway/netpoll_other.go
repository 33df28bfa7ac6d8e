//go:build !linux

package gateway

// The gateway needs epoll. On other platforms New succeeds (so that code
// depending on the package builds) and Start returns ErrUnsupported.
// TODO(gateway): a goroutine-per-connection fallback for development on
// macOS.

type workItem struct{}

func (s *Server) openPoller() error         { return ErrUnsupported }
func (s *Server) wakePoller()               {}
func (s *Server) closePoller()              {}
func (s *Server) register(*Conn) error      { return ErrUnsupported }
func (s *Server) arm(*Conn, bool)           {}
func (s *Server) unregister(*Conn)          {}
func (s *Server) pollLoop()                 {}
func (s *Server) workLoop()                 {}
func sysRead(uintptr, []byte) (int, error)  { return 0, ErrUnsupported }
func sysWrite(uintptr, []byte) (int, error) { return 0, ErrUnsupported }
func wouldBlock(error) bool                 { return false }
func peerGone(error) bool                   { return false }
