package client

import (
	"errors"
	"strconv"
)

// Client-side failures.
var (
	// ErrClosed: the client was closed by Close or ended for good.
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected: the connection was lost before the server answered
	// the request; it may or may not have been carried out.
	ErrDisconnected = errors.New("client: disconnected before the answer")
)

// Error is an error frame from the hub: Code and Message come from its
// error table (100-199 request errors, 200-299 refusals by policy, 500
// internal).
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	return "hub: " + e.Message + " (" + strconv.Itoa(e.Code) + ")"
}

// CloseError says how the server ended a connection: the WebSocket close
// code and reason (1000 reply_end, 1001 shutdown, 1008 slow_consumer or
// rate_limit, 1002/1003/1007/1009 protocol errors, 4000-4499 "reconnect"
// codes such as 4001 timeout and 4002 token_expired, 4500-4999 "do not
// reconnect" codes such as 4500 kicked and 4501 connection_limit).
// Code 1006 means the connection ended without a close frame.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return "client: connection closed: " + strconv.Itoa(e.Code) + " " + e.Reason
}

// Close codes the hub uses that change what the client does.
const (
	CodeNormal          = 1000 // reply_end: the backend ended the conversation; no reconnect
	CodeGoingAway       = 1001 // the node is shutting down; reconnect
	CodeAbnormal        = 1006 // lost without a close frame; reconnect
	CodeReconnect       = 4000 // a backend asked for a reconnect
	CodeTimeout         = 4001 // no pong in time; reconnect
	CodeTokenExpired    = 4002 // the token expired without a refresh; reconnect with a new token
	CodeMaxAge          = 4003 // max_connection_age reached; reconnect
	CodeSubChanged      = 4004 // a refresh token named another user; reconnect with it
	CodeKicked          = 4500 // closed through the API; no reconnect
	CodeConnectionLimit = 4501 // the user has too many connections; no reconnect
)

// Reconnects reports whether the client dials again after the hub closed
// the connection with code: always except after 1000 and 4500-4999.
func Reconnects(code int) bool {
	return code != CodeNormal && (code < 4500 || code > 4999)
}
