// Package demo holds the demo chat page a node serves when started with
// -demo: plain HTML, CSS and JavaScript embedded in the binary, no build
// step. The JavaScript client it loads comes from package client/js.
package demo

import "embed"

// FS holds index.html.
//
//go:embed index.html
var FS embed.FS
