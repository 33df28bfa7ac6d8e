// Package bench is the logic of the load tool, "hub bench": it opens many
// WebSocket clients against a hub, publishes through NATS or the HTTP API,
// and measures what PERF.md asks for (memory and goroutines per idle
// connection, accept rate, loss, deliveries/s, latency, server CPU per
// delivery, RSS), printing each figure beside its target.
//
// # Processes
//
// A process may hold 20,000 descriptors, so clients live in child processes
// (the same executable re-run with "bench -child", or any command that calls
// RunChild), each holding at most Config.PerChild sockets. The parent talks
// to each child over its stdin and stdout, one JSON object a line: the
// parent sends a command (open, status, reset, report), the child answers
// it, and while opening it also sends progress lines. A child exits when its
// standard input closes, so a parent that dies takes its children with it.
//
// # Clients
//
// A child holds no goroutine per connection. One goroutine owns an epoll
// instance and every socket: it connects without blocking from
// Config.LocalAddr (127.0.0.2 by default, so client ports never collide with
// a listener on 127.0.0.1), writes the WebSocket upgrade request, reads the
// 101 answer, sends one join_room frame and waits for its ack; from then on
// an idle connection is a small struct and no buffer. Received frames are
// parsed in place; a delivery's latency is the time of the read that
// returned it minus the send time (unix nanoseconds) the publisher put in
// the payload, one clock for both since everything runs on one machine.
//
// # Hubs
//
// With Config.Spawn the tool starts the hub processes it measures on
// loopback with free ports and stops them by PID when done. Otherwise it
// targets a running hub, reading its CPU and RSS from /proc when its PID is
// given and from /metrics (the process collector) when not.
//
// # The floor server
//
// With Config.Spawn the tool also starts a floor server (floor_linux.go):
// the leanest WebSocket server of the protocol subset the cases use
// (join_room with its ack, message to a room) possible in Go, with raw
// epoll, gobwas/ws, rooms in a map and coalesced writes, no NATS and no
// events. It runs from the client executable (FloorEnv) and is measured
// with the same clients in the same run, so the hub's accept rate and its
// CPU per inbound chat message are judged against it, not against a
// figure from another day. The burst, paced and sustained cases run against
// it first (burst-floor, paced-floor, sustained-floor): it has no NATS and no
// API, so its publisher is a member of the room sending room messages over
// its WebSocket, which the floor writes to every other member; each hub
// figure then shows its ratio to the floor's CPU per delivery and p99.
//
// # History
//
// The history cases (history.go) spawn hubs with a config file of their
// own: a namespace whose rooms hist.> keep history. Their clients join with
// since after a drop (the drop and reconnect commands), read each join
// ack's epoch, offset and recovered, and count every message by the
// publisher's number in the payload and the hub's offset (seqTrack in
// history_count.go: a gap, a duplicate, a message missing), at the cost
// of two searches per delivery, on history rooms only.
//
// # Compression
//
// The compression case (compression.go) spawns its hubs with compression
// on (-compression; the burst's also with -compression-min-bytes 0, so that
// every message is compressed) and has every client offer permessage-deflate
// with the minimal headers; its idle RSS and burst CPU per delivery are
// judged against the same run's idle and burst without it. The clients inflate what they read (inflate.go), which
// makes them, not the hub, the bound of its deliveries per second.
//
// Every run is bounded: by the counts in Config and by Config.Timeout.
package bench
