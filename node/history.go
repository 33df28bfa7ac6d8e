package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/history"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/protocol"
)

// histAdapter is the actors' History: the node's history store with its
// reads and publishes on goroutines of their own, joined at shutdown.
type histAdapter struct {
	st   *history.Store
	nss  *namespace.Set
	quit <-chan struct{} // the node's: reads stop retrying
	wg   sync.WaitGroup
}

// readRetryFor bounds how long a failed store read is tried again before
// the joins waiting for it are answered recovered:false: a stream leader
// election (a node killed, or handing over in a rolling restart) takes up
// to 5-8 s, and a join that waits for it recovers where one answered at
// once would have been told its history is gone.
const readRetryFor = 10 * time.Second

func (a *histAdapter) Has(room string) bool { return a.st.Has(room) }

func (a *histAdapter) PublishAsync(room, from, exclude string, data []byte, done func(uint64, error)) {
	a.st.PublishAsync(room, from, exclude, data, func(off uint64, err error) {
		countPublish(err)
		done(off, err)
	})
}

func countPublish(err error) {
	if err != nil {
		metrics.HistoryPublishes.WithLabelValues("refused").Inc()
	} else {
		metrics.HistoryPublishes.WithLabelValues("stored").Inc()
	}
}

func (a *histAdapter) ReadAsync(room string, from uint64, done func(actors.HistoryRead)) {
	metrics.HistoryReads.Inc()
	a.wg.Go(func() {
		r := a.st.Read(context.Background(), room, from, 0)
		for end := time.Now().Add(readRetryFor); r.Err != nil && time.Now().Before(end); {
			select {
			case <-a.quit:
				end = time.Time{}
				continue
			case <-time.After(250 * time.Millisecond):
			}
			r = a.st.Read(context.Background(), room, from, 0)
		}
		out := actors.HistoryRead{Epoch: r.Epoch, Last: r.Last, Reaches: r.Reaches, Err: r.Err}
		if from == 0 && r.Err == nil {
			// Offset 0 is "before the room's first message": the history
			// reaches back to it only if nothing of the room was ever
			// trimmed, which the hub can be sure of only without a ttl and
			// below the size limit.
			ns, _ := a.nss.Lookup(room)
			out.Reaches = ns != nil && ns.History.TTL == 0 && r.Count < ns.History.Size
		}
		out.Msgs = make([]actors.StoredMsg, len(r.Msgs))
		for i, m := range r.Msgs {
			out.Msgs[i] = actors.StoredMsg{Seq: m.Seq, Prev: m.Prev, From: m.From, Exclude: m.Exclude, Data: m.Data}
		}
		done(out)
	})
}

// historyEnabled reports whether a namespace keeps history.
func (n *Node) historyEnabled() bool { return history.Enabled(n.namespaces) }

// jsClustered reports whether the embedded JetStream runs clustered: with
// history, a node that has peers to join (or waits for some) starts its
// embedded NATS with routes and JetStream after gossip; any other node
// with history runs JetStream standalone, its NATS taking no routes.
func (n *Node) jsClustered() bool {
	c := n.cfg
	return n.historyEnabled() && c.NATS.URL == "" && n.clustered() && (len(c.Cluster.Join) > 0 || c.Cluster.BootstrapExpect > 1)
}

// dataDir is the embedded JetStream's store directory.
func (n *Node) dataDir() string {
	if d := n.cfg.Node.DataDir; d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "hub-"+n.Name())
}

// firstBoot reports whether the embedded JetStream has never run in the
// data directory.
func (n *Node) firstBoot() bool {
	_, err := os.Stat(filepath.Join(n.dataDir(), "jetstream"))
	return errors.Is(err, os.ErrNotExist)
}

// pickRoutePort resolves a route listener with port 0 to a free port, so
// that gossip can announce it before the embedded server starts.
func pickRoutePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("route listener %s: %w", addr, err)
	}
	defer ln.Close()
	return net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)), nil
}

// waitBootstrap waits, on a first boot, until gossip lists
// bootstrap_expect members: two halves of a new cluster that started
// JetStream apart would keep diverging copies of the streams.
func (n *Node) waitBootstrap(ctx context.Context) error {
	want := n.cfg.Cluster.BootstrapExpect
	if want <= 1 || !n.firstBoot() {
		return nil
	}
	last := time.Time{}
	for n.members.Count() < want {
		if time.Since(last) > 5*time.Second {
			n.log.Info("first boot: waiting for the cluster to form before starting JetStream", "members", n.members.Count(), "bootstrap_expect", want)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d members (bootstrap_expect): %w", want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// startHistory creates or checks the history streams, once NATS is up.
func (n *Node) startHistory(ctx context.Context) error {
	if !n.historyEnabled() {
		return nil
	}
	replicas := 1
	if n.jsClustered() && max(n.ClusterSize(), n.cfg.Cluster.BootstrapExpect) >= 3 {
		replicas = 3
	}
	st, err := history.New(history.Config{
		Conn: n.nc, Prefix: n.cfg.NATS.SubjectPrefix, Namespaces: n.namespaces,
		Replicas: replicas, Create: true, Logger: n.log,
	})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := st.Start(sctx); err != nil {
		return err
	}
	n.hist = st
	n.histA = &histAdapter{st: st, nss: n.namespaces, quit: n.quit}
	n.histReady.Store(true)
	n.bg.Go(n.watchHistory)
	return nil
}

// watchHistory keeps the JetStream part of readiness fresh.
func (n *Node) watchHistory() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n.histReady.Store(n.hist.Ready(ctx))
		cancel()
		select {
		case <-n.quit:
			return
		case <-time.After(time.Second):
		}
	}
}

// stopHistory hands stream leadership over (SIGTERM) and waits for the
// store's goroutines.
func (n *Node) stopHistory() {
	if n.hist == nil {
		return
	}
	n.hist.Close()
	n.histA.wg.Wait()
}

// publishRoom publishes an API message to a room: stored first for a
// history room (answering its offset; 503 when it cannot be stored).
func (n *Node) publishRoom(w http.ResponseWriter, r *http.Request, room string, data []byte) int {
	if n.hist == nil || !n.hist.Has(room) {
		return n.publish(w, "room."+room, data)
	}
	off, err := n.hist.Publish(r.Context(), room, "", "", data)
	countPublish(err)
	if err != nil {
		n.log.Warn("history publish refused", "room", room, "err", err)
		writeError(w, http.StatusServiceUnavailable, "message not stored: history unavailable")
		return http.StatusServiceUnavailable
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "offset": off})
	return http.StatusAccepted
}

type historyMsg struct {
	Offset uint64          `json:"offset"`
	From   string          `json:"from,omitempty"`
	Time   time.Time       `json:"time"`
	Data   json.RawMessage `json:"data"`
}

// historyRoom reads the {room} of a history API call; status is not 0
// when the call was answered already (a bad name, a room without history).
func (n *Node) historyRoom(w http.ResponseWriter, r *http.Request) (room string, status int) {
	room, ok := nameParam(w, r, "room")
	if !ok {
		return "", http.StatusBadRequest
	}
	if n.hist == nil || !n.hist.Has(room) {
		writeError(w, http.StatusNotFound, "room "+room+" has no history (its namespace has no history block)")
		return "", http.StatusNotFound
	}
	return room, 0
}

// getHistory answers GET /api/rooms/{room}/history?since=&limit=.
func (n *Node) getHistory(w http.ResponseWriter, r *http.Request) int {
	room, status := n.historyRoom(w, r)
	if status != 0 {
		return status
	}
	q := r.URL.Query()
	var since uint64
	if s := q.Get("since"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since must be an offset (a non-negative integer)")
			return http.StatusBadRequest
		}
		since = v
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 10000 {
			writeError(w, http.StatusBadRequest, "limit must be 1 to 10000")
			return http.StatusBadRequest
		}
		limit = v
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	rd := n.hist.Read(ctx, room, since+1, limit)
	if rd.Err != nil {
		writeError(w, http.StatusServiceUnavailable, "history unavailable")
		return http.StatusServiceUnavailable
	}
	msgs := make([]historyMsg, len(rd.Msgs))
	for i, m := range rd.Msgs {
		msgs[i] = historyMsg{Offset: m.Seq, From: m.From, Time: m.Time.UTC(), Data: json.RawMessage(protocol.Data(m.Data))}
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room, "epoch": rd.Epoch, "offset": rd.Last, "messages": msgs})
	return http.StatusOK
}

// deleteHistory answers DELETE /api/rooms/{room}/history.
func (n *Node) deleteHistory(w http.ResponseWriter, r *http.Request) int {
	room, status := n.historyRoom(w, r)
	if status != 0 {
		return status
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	if err := n.hist.Purge(ctx, room); err != nil {
		writeError(w, http.StatusServiceUnavailable, "history unavailable")
		return http.StatusServiceUnavailable
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "deleted", "room": room})
	return http.StatusOK
}
