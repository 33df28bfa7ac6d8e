package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// MaxAPIBody is the largest body the HTTP API accepts.
const MaxAPIBody = 1 << 20

// routes is everything on the WebSocket port except the upgrade path.
func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern, route string, h func(w http.ResponseWriter, r *http.Request) int) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status := http.StatusUnauthorized
			if n.auth.apiAllowed(r) {
				status = h(w, r)
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hub"`)
				writeError(w, status, "missing or wrong API key")
			}
			metrics.APIRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		})
	}
	api("POST /api/broadcast", "broadcast", n.postBroadcast)
	api("POST /api/rooms/{room}/messages", "room_messages", n.postRoom)
	api("POST /api/users/{user}/messages", "user_messages", n.postUser)
	api("POST /api/connections/{id}/messages", "connection_messages", n.postConn)
	api("DELETE /api/connections/{id}", "connection_delete", n.deleteConn)
	api("GET /api/connections/{id}", "connection_get", n.getConn)
	api("GET /api/rooms/{room}", "room_get", n.getRoom)
	api("GET /api/rooms/{room}/history", "room_history_get", n.getHistory)
	api("DELETE /api/rooms/{room}/history", "room_history_delete", n.deleteHistory)
	api("GET /api/rooms/{room}/presence", "room_presence", n.getPresence)
	api("GET /api/users/{user}", "user_get", n.getUser)
	n.mountControl(api)
	api("/api/", "unknown", func(w http.ResponseWriter, r *http.Request) int {
		if allow := allowedMethods(mux, r); allow != "" {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+" (allowed: "+allow+")")
			return http.StatusMethodNotAllowed
		}
		writeError(w, http.StatusNotFound, "no such API call: "+r.Method+" "+r.URL.Path)
		return http.StatusNotFound
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": n.Name()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, checks := n.Ready()
		status, word := http.StatusOK, "ready"
		if !ok {
			status, word = http.StatusServiceUnavailable, "not ready"
		}
		writeJSON(w, status, map[string]any{"status": word, "node": n.Name(), "checks": checks,
			"cluster_size": n.ClusterSize(), "connections": n.sys.NumConns()})
	})
	if n.cfg.Metrics.Listen == "" {
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	}
	api("GET /api/users/{user}/connections", "user_connections", n.getUserConns)
	n.adminAPI(mux, "GET /api/nodes", "nodes", n.getNodes)
	n.adminAPI(mux, "GET /api/events", "events", n.getEvents)
	n.adminAPI(mux, "GET /api/history/cluster", "history_cluster", n.getHistoryCluster)
	n.adminAPI(mux, "DELETE /api/history/peers/{node}", "history_peer_delete", n.deletePeer)
	mountSSE(mux, n)
	mountAdmin(mux, n)
	if n.cfg.Node.Demo {
		mountDemo(mux, n)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return mux
}

// allowedMethods lists the methods that have an API route for the path of
// r, which matched none: the catch-all would otherwise answer 404 where
// 405 is right.
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// body reads a JSON request body; it answers the error itself and returns
// ok=false when the body is too big or not JSON.
func body(w http.ResponseWriter, r *http.Request) ([]byte, int, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.Itoa(MaxAPIBody)+" bytes")
			return nil, http.StatusRequestEntityTooLarge, false
		}
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return nil, http.StatusBadRequest, false
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || !json.Valid(b) {
		writeError(w, http.StatusBadRequest, "body must be one JSON value")
		return nil, http.StatusBadRequest, false
	}
	return b, 0, true
}

func (n *Node) publish(w http.ResponseWriter, subject string, data []byte) int {
	if err := n.bus.Publish(subject, data); err != nil {
		writeError(w, http.StatusServiceUnavailable, "nats: "+err.Error())
		return http.StatusServiceUnavailable
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted"})
	return http.StatusAccepted
}

func (n *Node) postBroadcast(w http.ResponseWriter, r *http.Request) int {
	data, status, ok := body(w, r)
	if !ok {
		return status
	}
	return n.publish(w, "broadcast", data)
}

func nameParam(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	v := r.PathValue(key)
	if !protocol.ValidName(v) {
		writeError(w, http.StatusBadRequest, "invalid "+key+" name")
		return "", false
	}
	return v, true
}

func (n *Node) postRoom(w http.ResponseWriter, r *http.Request) int {
	room, ok := nameParam(w, r, "room")
	if !ok {
		return http.StatusBadRequest
	}
	data, status, ok := body(w, r)
	if !ok {
		return status
	}
	return n.publishRoom(w, r, room, data)
}

func (n *Node) postUser(w http.ResponseWriter, r *http.Request) int {
	user, ok := nameParam(w, r, "user")
	if !ok {
		return http.StatusBadRequest
	}
	data, status, ok := body(w, r)
	if !ok {
		return status
	}
	return n.publish(w, "user."+user, data)
}

func apiContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 5*time.Second)
}

func (n *Node) connParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !protocol.ValidName(id) || n.queries.ownerOf(id) == "" {
		writeError(w, http.StatusNotFound, "connection not found")
		return "", false
	}
	return id, true
}

func (n *Node) queryFailed(w http.ResponseWriter, err error) int {
	writeError(w, http.StatusServiceUnavailable, "cluster query failed: "+err.Error())
	return http.StatusServiceUnavailable
}

func (n *Node) postConn(w http.ResponseWriter, r *http.Request) int {
	id, ok := n.connParam(w, r)
	if !ok {
		return http.StatusNotFound
	}
	data, status, ok := body(w, r)
	if !ok {
		return status
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	found, err := n.queries.send(ctx, id, data)
	if err != nil {
		return n.queryFailed(w, err)
	}
	if !found {
		writeError(w, http.StatusNotFound, "connection not found")
		return http.StatusNotFound
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted"})
	return http.StatusAccepted
}

func (n *Node) deleteConn(w http.ResponseWriter, r *http.Request) int {
	id, ok := n.connParam(w, r)
	if !ok {
		return http.StatusNotFound
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	found, err := n.queries.kick(ctx, id)
	if err != nil {
		return n.queryFailed(w, err)
	}
	if !found {
		writeError(w, http.StatusNotFound, "connection not found")
		return http.StatusNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

func (n *Node) getConn(w http.ResponseWriter, r *http.Request) int {
	id, ok := n.connParam(w, r)
	if !ok {
		return http.StatusNotFound
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	info, found, err := n.queries.info(ctx, id)
	if err != nil {
		return n.queryFailed(w, err)
	}
	if !found {
		writeError(w, http.StatusNotFound, "connection not found")
		return http.StatusNotFound
	}
	writeJSON(w, http.StatusOK, info)
	return http.StatusOK
}

func (n *Node) getRoom(w http.ResponseWriter, r *http.Request) int {
	return n.getCount(w, r, "room", func(c count) map[string]any {
		return map[string]any{"members": c.total}
	})
}

func (n *Node) getUser(w http.ResponseWriter, r *http.Request) int {
	return n.getCount(w, r, "user", func(c count) map[string]any {
		return map[string]any{"online": c.total > 0, "connections": c.total}
	})
}

// getCount answers a cluster-wide count for the room or user in the path.
func (n *Node) getCount(w http.ResponseWriter, r *http.Request, kind string, fields func(count) map[string]any) int {
	name, ok := nameParam(w, r, kind)
	if !ok {
		return http.StatusBadRequest
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	c, err := n.queries.count(ctx, kind, name)
	if err != nil {
		return n.queryFailed(w, err)
	}
	body := fields(c)
	body[kind], body["nodes"], body["complete"] = name, c.nodes, c.complete
	writeJSON(w, http.StatusOK, body)
	return http.StatusOK
}
