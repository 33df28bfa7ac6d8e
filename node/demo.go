package node

import "net/http"

// mountDemo serves the demo page; see demo_page.go.
func mountDemo(mux *http.ServeMux, n *Node) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>Hub</title><p>Hub is running. Connect to " + n.cfg.WebSocket.Path))
	})
}
