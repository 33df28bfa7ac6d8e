// Package config loads a hub node's configuration: built-in defaults, then an
// HCL file (SPEC §2), then HUB_* environment variables, then command-line
// flags, each overriding the one before.
//
// The file has node, connector, auth, cluster, metrics and flow blocks:
//
//	connector "ws"  { type = "websocket" port = 8080 path = "/ws" }
//	connector "bus" { type = "nats" url = "nats://nats:4222" }
//	flow "room_notification" {
//	  from { connector = "bus" operation = "room.event" }
//	  to   { connector = "ws"  operation = "send_to_room" target = "input.room" }
//	}
//
// Unlike plain HCL, a block written on one line may hold several arguments
// separated by spaces, as above. Unknown blocks and arguments are errors.
// Every error names where the bad value was written: "file:line,col-col:
// summary; detail" for the file (an *hcl.Diagnostic inside the error, found
// with errors.As), "flag -port: ..." or "env HUB_PORT=...: ..." for overrides.
// All problems are reported at once (errors.Join).
//
// The package reads the config file and the host name, and nothing else: it
// starts no goroutines and keeps no global state beyond constant tables.
// Functions are safe for concurrent use; a *Config is plain data, safe to
// share once nobody changes it.
package config
