package node

import (
	"html"
	"net/http"
	"strings"

	hubclient "github.com/hubrt/hub/client/js"
	"github.com/hubrt/hub/node/demo"
)

// favicon is the demo page's icon, also answered at /favicon.ico so that
// browsers asking for it get no 404.
var favicon = []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f6fed"/><circle cx="16" cy="16" r="5" fill="white"/><circle cx="7" cy="9" r="3" fill="white"/><circle cx="25" cy="9" r="3" fill="white"/><circle cx="16" cy="26" r="3" fill="white"/></svg>`)

// mountDemo serves the demo chat (node/demo) at "/" and the JavaScript
// client it uses at /client/hub-client.js. The page connects to this
// node's WebSocket path on the host it was loaded from.
func mountDemo(mux *http.ServeMux, n *Node) {
	index, err := demo.FS.ReadFile("index.html")
	if err != nil {
		panic("node: demo page missing from the binary: " + err.Error())
	}
	js := hubclient.Source
	page := []byte(strings.NewReplacer(
		`name="hub-ws-path" content="/ws"`,
		`name="hub-ws-path" content="`+html.EscapeString(n.cfg.WebSocket.Path)+`"`,
		`name="hub-auth" content="dev"`,
		`name="hub-auth" content="`+n.auth.mode()+`"`,
	).Replace(string(index)))
	static := func(ctype string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /{$}", static("text/html; charset=utf-8", page))
	mux.HandleFunc("GET /client/hub-client.js", static("text/javascript; charset=utf-8", js))
	mux.HandleFunc("GET /favicon.ico", static("image/svg+xml", favicon))
}
