//go:build ignore

// gen writes hub-client.cjs, the CommonJS build of hub-client.js, for
// projects that require() the client (a default `npm init` project, Node 20
// and earlier). Run it with `go generate ./client/js` after changing
// hub-client.js; TestCJSCurrent fails while the two differ.
package main

import (
	"fmt"
	"os"

	"github.com/hubrt/hub/client/js/cjs"
)

func main() {
	src, err := os.ReadFile("hub-client.js")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := cjs.Convert(src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub-client.js:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("hub-client.cjs", out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
