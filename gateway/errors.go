package gateway

import "errors"

// Sentinel errors.
var (
	// ErrServerClosed is returned by Start after Shutdown.
	ErrServerClosed = errors.New("gateway: server closed")
	// ErrUnsupported is what the epoll code's stubs return off Linux, where
	// the portable gateway serves instead.
	ErrUnsupported = errors.New("gateway: platform not supported")
)

// HTTPError is what Handler.Authenticate returns to refuse an upgrade with a
// given HTTP status and message (sent as {"error":Message}). Any other error
// refuses with 401.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return e.Message }
