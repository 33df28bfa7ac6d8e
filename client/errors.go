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
// code and reason (1000 reply_end, 1001 shutdown, 4000 kicked, 4001 timeout,
// 1008 slow_consumer or rate_limit, 1002/1003/1007/1009 protocol errors).
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
	CodeNormal    = 1000 // reply_end: the backend ended the conversation; no reconnect
	CodeGoingAway = 1001 // the node is shutting down; reconnect
	CodeAbnormal  = 1006 // lost without a close frame; reconnect
	CodeKicked    = 4000 // closed through the API; no reconnect
	CodeTimeout   = 4001 // no pong in time; reconnect
)
