package gateway

// CloseReason says why a connection ended. It maps to a WebSocket close code
// and to the reason string given to Handler.OnClose (also a metric label).
type CloseReason int

// Close reasons. Callers of Conn.Close may pass any other reason string.
const (
	ReasonClientClose     CloseReason = iota + 1 // the client sent a close frame; its code is echoed
	ReasonConnectionLost                         // EOF or reset, 1006, no close frame sent
	ReasonTimeout                                // no pong within PongTimeout, 4001
	ReasonShutdown                               // server shutting down, 1001
	ReasonProtocolError                          // RFC 6455 violation, 1002
	ReasonUnsupportedData                        // binary frame, 1003
	ReasonInvalidUTF8                            // text not UTF-8, 1007
	ReasonTooBig                                 // message over MaxFrameBytes, 1009
	ReasonSlowConsumer                           // write queue over its bounds, 1008
	ReasonWriteError                             // outbound data stuck for WriteTimeout, 1006
)

// Close codes used by the gateway beyond the RFC 6455 ones.
const (
	CodeTimeout uint16 = 4001
)

var reasonInfo = [...]struct {
	s    string
	code uint16
}{
	ReasonClientClose:     {"client_close", 1000},
	ReasonConnectionLost:  {"connection_lost", 1006},
	ReasonTimeout:         {"timeout", CodeTimeout},
	ReasonShutdown:        {"shutdown", 1001},
	ReasonProtocolError:   {"protocol_error", 1002},
	ReasonUnsupportedData: {"unsupported_data", 1003},
	ReasonInvalidUTF8:     {"invalid_utf8", 1007},
	ReasonTooBig:          {"too_big", 1009},
	ReasonSlowConsumer:    {"slow_consumer", 1008},
	ReasonWriteError:      {"write_error", 1006},
}

// String returns the reason label passed to Handler.OnClose.
func (r CloseReason) String() string {
	if r <= 0 || int(r) >= len(reasonInfo) {
		return "unknown"
	}
	return reasonInfo[r].s
}

// Code returns the WebSocket close code of r.
func (r CloseReason) Code() uint16 {
	if r <= 0 || int(r) >= len(reasonInfo) {
		return 1011
	}
	return reasonInfo[r].code
}
