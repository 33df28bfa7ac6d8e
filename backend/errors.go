package backend

import "errors"

// Errors of a request to a backend. A Caller returns one of the first four
// (wrapped) when no answer came; Kind names it for metrics.
var (
	ErrTimeout     = errors.New("backend: timed out")
	ErrUnavailable = errors.New("backend: unavailable")
	ErrOverloaded  = errors.New("backend: too many requests in flight")
	ErrBadResponse = errors.New("backend: bad response")
	ErrClosed      = errors.New("backend: closed")

	ErrBadSignature   = errors.New("backend: signature does not match")
	ErrStaleSignature = errors.New("backend: signature time out of tolerance")
)

// Error kinds, the "kind" label of hub_backend_errors_total.
const (
	KindTimeout     = "timeout"
	KindUnavailable = "unavailable" // refused, reset, no responders
	KindOverloaded  = "overloaded"  // max_in_flight reached for the whole timeout
	KindStatus      = "status"      // a 5xx answer (or 3xx)
	KindBadResponse = "bad_response"
	KindRejected    = "rejected" // a 4xx answer to a webhook: not retried
)

// Kind returns the error kind of err, "" for nil.
func Kind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTimeout):
		return KindTimeout
	case errors.Is(err, ErrOverloaded):
		return KindOverloaded
	case errors.Is(err, ErrBadResponse):
		return KindBadResponse
	}
	return KindUnavailable
}
