// Package namespace holds the options of groups of rooms (SPEC §9) and the
// NATS-style token patterns that select them. It is pure: no I/O, no
// goroutines, no clocks, no logging; it imports only protocol.
//
// A pattern is dot-separated tokens: "*" matches exactly one token, ">" as
// the last token matches one or more tokens, anything else matches itself.
// A wildcard never crosses a dot. The same patterns select a namespace's
// rooms and the rooms a JWT's "rooms" claim allows.
//
// A room belongs to the first namespace (in config order) with a matching
// pattern (Set.Lookup). Two namespaces overlap when one pattern of each can
// match a common room name (Overlap: compared token by token, literals
// must be equal, "*" agrees with one token, ">" with any non-empty rest);
// New refuses overlapping namespaces, so in a valid Set "first" is also
// "only" and the order of namespaces never changes the result.
//
// Hot path: Set.Lookup runs on every join and every client room message.
// It scans the namespaces' patterns in order without allocating; with the
// handful of namespaces a deployment has, that is tens of nanoseconds
// (BenchmarkLookup: `go test -run '^$' -bench Lookup ./namespace`).
//
// A Set is immutable once built and safe for concurrent use.
package namespace
