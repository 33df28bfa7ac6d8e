// Package admin holds the admin page a node serves at /admin: plain HTML,
// CSS and JavaScript embedded in the binary, no build step, no third-party
// code. The page is a client of the HTTP API only (GET /api/nodes,
// /api/rooms, /api/users/{user}/connections, /api/connections/{id},
// DELETE /api/connections/{id}, POST .../messages, the /api/events stream,
// and a room's history and presence where the node has them), authenticated
// with the admin token or the API key the operator types in; it has no
// access of its own. node/admin.go serves it and guards it.
//
// The package owns no state, I/O or goroutines: it is the files.
package admin

import "embed"

// FS holds index.html, admin.css and admin.js.
//
//go:embed index.html admin.css admin.js
var FS embed.FS
