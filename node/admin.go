package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/admin"
	"github.com/hubrt/hub/metrics"
)

// The admin page (/admin, package admin) and the API calls only it needs:
// GET /api/nodes and GET /api/events. Everything else the page does goes
// through the ordinary HTTP API. Admin calls need the admin token or the
// API key; with neither configured they are open in development mode only
// and answer 403 saying how to enable them otherwise (adminAllowed).

// eventsBuffer bounds the events queued for one /api/events stream. A
// viewer that reads slower than the cluster publishes loses events (the
// stream says how many, "event: dropped"); the node never waits for it.
const eventsBuffer = 1024

// eventsPing is how often an idle events stream gets a comment, so proxies
// keep it open.
const eventsPing = 15 * time.Second

// mountAdmin serves the page and its two files.
func mountAdmin(mux *http.ServeMux, n *Node) {
	page := func(name, ctype string) http.HandlerFunc {
		body, err := admin.FS.ReadFile(name)
		if err != nil {
			panic("node: admin page missing from the binary: " + err.Error())
		}
		return func(w http.ResponseWriter, r *http.Request) {
			if !n.auth.adminEnabled() {
				writeError(w, http.StatusForbidden, adminDisabled)
				return
			}
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
			w.Header().Set("Referrer-Policy", "no-referrer")
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /admin/{$}", page("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /admin/admin.js", page("admin.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /admin/admin.css", page("admin.css", "text/css; charset=utf-8"))
}

// adminAPI registers an admin-only API call: like api, but checked with
// adminAllowed.
func (n *Node) adminAPI(mux *http.ServeMux, pattern, route string, h func(w http.ResponseWriter, r *http.Request) int) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, msg := n.auth.adminAllowed(r)
		if status == 0 {
			status = h(w, r)
		} else {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
			}
			writeError(w, status, msg)
		}
		metrics.APIRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	})
}

// eventFilter is one filter of /api/events: a subject below <prefix>.events,
// NATS wildcards allowed as whole tokens ("connect", "*", ">"; not "node_*").
var eventFilter = regexp.MustCompile(`^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$`)

// getEvents streams the events of the whole cluster (<prefix>.events.>, or
// the subjects of ?filter=connect,disconnect) as Server-Sent Events:
//
//	event: ready
//	data: {"node":"n1","filters":[">"]}
//
//	event: connect
//	data: {"event":"connect","connection_id":"n1.k3x",...}
//
// one event per NATS message, named by the subject below <prefix>.events.
// "event: dropped" with {"dropped":N} says N events were not sent because
// the viewer read too slowly. The stream ends when the client goes or the
// node shuts down.
func (n *Node) getEvents(w http.ResponseWriter, r *http.Request) int {
	var filters []string
	for _, v := range r.URL.Query()["filter"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				filters = append(filters, f)
			}
		}
	}
	if len(filters) == 0 {
		filters = []string{">"}
	}
	for _, f := range filters {
		if !eventFilter.MatchString(f) {
			writeError(w, http.StatusBadRequest, "invalid filter "+strconv.Quote(f)+": an event name or a NATS subject below events (connect, *, >, node_down)")
			return http.StatusBadRequest
		}
	}
	ch := make(chan *nats.Msg, eventsBuffer)
	var dropped atomic.Int64
	base := n.bus.Subject("events.")
	for _, f := range filters {
		sub, err := n.nc.Subscribe(base+f, func(m *nats.Msg) {
			select {
			case ch <- m:
			default:
				dropped.Add(1)
			}
		})
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "nats: "+err.Error())
			return http.StatusServiceUnavailable
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	if err := flushIfConnected(n.nc); err != nil {
		writeError(w, http.StatusServiceUnavailable, "nats: "+err.Error())
		return http.StatusServiceUnavailable
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	var buf bytes.Buffer
	hello, _ := json.Marshal(map[string]any{"node": n.Name(), "filters": filters})
	sseEvent(&buf, "ready", hello)
	ping := time.NewTicker(eventsPing)
	defer ping.Stop()
	for {
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return http.StatusOK
			}
			if err := rc.Flush(); err != nil {
				return http.StatusOK
			}
			buf.Reset()
		}
		select {
		case <-r.Context().Done():
			return http.StatusOK
		case <-n.streams:
			return http.StatusOK
		case <-ping.C:
			buf.WriteString(": ping\n\n")
		case m := <-ch:
			// Send what has queued up in one write.
			for more := true; more; {
				if d := dropped.Swap(0); d > 0 {
					sseEvent(&buf, "dropped", []byte(`{"dropped":`+strconv.FormatInt(d, 10)+`}`))
				}
				sseEvent(&buf, strings.TrimPrefix(m.Subject, base), m.Data)
				select {
				case m = <-ch:
				default:
					more = false
				}
			}
		}
	}
}

// sseEvent appends one Server-Sent Event; a payload with line breaks
// becomes several data lines, which the client joins back.
func sseEvent(buf *bytes.Buffer, name string, data []byte) {
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteByte('\n')
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		buf.WriteString("data: ")
		buf.Write(bytes.TrimSuffix(line, []byte("\r")))
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
}
