package node

import (
	"html"
	"net/http"
	"strings"

	hubclient "github.com/hubrt/hub/client/js"
	"github.com/hubrt/hub/node/demo"
)

// mountDemo serves the demo chat (node/demo) at "/" and the JavaScript
// client it uses at /client/hub-client.js. The page connects to this
// node's WebSocket path on the host it was loaded from.
func mountDemo(mux *http.ServeMux, n *Node) {
	index, err := demo.FS.ReadFile("index.html")
	if err != nil {
		panic("node: demo page missing from the binary: " + err.Error())
	}
	js := hubclient.Source
	page := []byte(strings.Replace(string(index),
		`name="hub-ws-path" content="/ws"`,
		`name="hub-ws-path" content="`+html.EscapeString(n.cfg.WebSocket.Path)+`"`, 1))
	static := func(ctype string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /{$}", static("text/html; charset=utf-8", page))
	mux.HandleFunc("GET /client/hub-client.js", static("text/javascript; charset=utf-8", js))
}
