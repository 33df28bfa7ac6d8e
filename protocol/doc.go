// Package protocol defines Hub's wire formats: the JSON frames clients and the
// server exchange over WebSocket (SPEC §3), the events the hub publishes for
// backends and the replies backends send back (SPEC §4), room and user name
// validation, and the closed table of client-facing errors.
//
// Client to server:
//
//	{"type":"join_room","room":"orders"}
//	{"type":"leave_room","room":"orders"}
//	{"type":"message","data":{...}}                  // for the backends only
//	{"type":"message","room":"orders","data":{...}}  // also to the room's other members
//	{"type":"message","user":"bob","data":{...}}     // also to every connection of bob
//
// Any client frame may carry "id" (a string or a number); the server then
// answers it with {"type":"ack","id":...} or {"type":"error","id":...,"code":N,"message":"..."}.
//
// Server to client:
//
//	{"type":"message","data":...}                    // broadcast, or to this user or connection
//	{"type":"message","room":"orders","data":...}    // to a room this connection joined
//	{"type":"message","from":"alice","data":...}     // from another user (set by the server)
//	{"type":"error","code":N,"message":"..."}
//
// The package is pure: no I/O, no goroutines, no clocks, no logging, and no
// imports outside the standard library. Every function is safe for concurrent
// use. Encoders return fresh slices that callers may share read-only: a room
// encodes a frame once and hands the same bytes to every member.
package protocol
