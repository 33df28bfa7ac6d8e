// Package demo holds the demo chat page a node serves when started with
// -demo: plain HTML, CSS and JavaScript embedded in the binary, no build
// step. hub-client.js is a copy of client/js/hub-client.js (go generate
// refreshes it; TestClientCopyIsCurrent keeps the two identical), because
// go:embed cannot reach outside the package directory.
package demo

import "embed"

//go:generate cp ../../client/js/hub-client.js hub-client.js

// FS holds index.html and hub-client.js.
//
//go:embed index.html hub-client.js
var FS embed.FS
