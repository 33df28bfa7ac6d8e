package protocol

// WebSocket close codes of the hub beyond RFC 6455's. Codes 4000-4499 mean
// "reconnect" (a client dials again, with backoff, asking its application
// for a fresh token), 4500-4999 mean "do not reconnect" (the server wants
// this client gone; reconnecting would be refused again or undo what an
// operator did). Backends that disconnect users through the API may pass
// any code in 4000-4999 and clients act on its range.
const (
	CloseReconnect    uint16 = 4000 // a backend asked the client to reconnect (DELETE /api/users/{user}?code=4000)
	CloseTimeout      uint16 = 4001 // no frame within pong_timeout after a ping
	CloseTokenExpired uint16 = 4002 // the token expired and no valid refresh came within the grace
	CloseMaxAge       uint16 = 4003 // the connection reached max_connection_age; reconnect at once
	CloseSubChanged   uint16 = 4004 // a refresh token named another user; reconnect as that user

	CloseKicked          uint16 = 4500 // closed through the API (DELETE /api/connections/{id}, DELETE /api/users/{user})
	CloseConnectionLimit uint16 = 4501 // the user has max_connections_per_user connections open
)

// Close reasons sent with those codes; each is also the reason of the
// disconnect event and a metric label.
const (
	ReasonReconnect       = "reconnect"
	ReasonTimeout         = "timeout"
	ReasonTokenExpired    = "token_expired"
	ReasonMaxAge          = "max_age"
	ReasonSubChanged      = "sub_changed"
	ReasonKicked          = "kicked"
	ReasonConnectionLimit = "connection_limit"
)

// ReconnectCode reports whether a client should dial again after the hub
// closed its connection with code: always, with backoff, except after 1000
// (the backend ended the conversation) and 4500-4999.
func ReconnectCode(code int) bool {
	return code != 1000 && (code < 4500 || code > 4999)
}
