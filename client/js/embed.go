// Package js holds the JavaScript client of the hub (hub-client.js) and
// gives it to Go: nodes started with -demo serve Source at
// /client/hub-client.js.
package js

//go:generate go run gen.go

import _ "embed"

// Source is hub-client.js.
//
//go:embed hub-client.js
var Source []byte
