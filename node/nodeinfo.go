package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Cluster-wide views for the admin page: GET /api/nodes, where every node
// describes itself. A scatter-gather over NATS like the counts of
// queries.go: a request to <prefix>.internal.admin.<op>,
// answered by every node, collected for at most CountWait; "complete" is
// false and "missing" names the members the gossip knows that did not
// answer in time.

// NodeInfo is what a node says about itself in GET /api/nodes.
type NodeInfo struct {
	Node        string          `json:"node"`
	Version     string          `json:"version"`
	Time        time.Time       `json:"time"` // when this answer was made
	StartedAt   time.Time       `json:"started_at"`
	Uptime      float64         `json:"uptime_seconds"`
	Ready       bool            `json:"ready"`
	Checks      map[string]bool `json:"checks"`
	Draining    bool            `json:"draining"`
	Connections int             `json:"connections"`
	Rooms       int             `json:"rooms"`
	Users       int             `json:"users"`
	ClusterSize int             `json:"cluster_size"` // alive gossip members this node sees
	NATS        string          `json:"nats"`         // "embedded" or "external"
	NATSRoutes  int             `json:"nats_routes"`  // embedded only: routes to other nodes' servers
	Addr        string          `json:"addr"`         // WebSocket and HTTP listener
	// CPU: seconds used since start, and percent of one core over the
	// last interval between two answers at least a second apart (since
	// start for the first).
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	// Memory: resident set (Linux; the Go runtime's total otherwise), live
	// heap, and GOMEMLIMIT (0 when none).
	RSS         uint64 `json:"rss_bytes"`
	Heap        uint64 `json:"heap_bytes"`
	MemoryLimit uint64 `json:"memory_limit_bytes"`
	Goroutines  int    `json:"goroutines"`
}

// cpuMeter turns cumulative CPU seconds into a recent percentage without a
// goroutine of its own: each reading at least a second after the previous
// one starts a new interval.
type cpuMeter struct {
	mu      sync.Mutex
	at      time.Time
	seconds float64
	percent float64
}

var processStart = time.Now()

func (m *cpuMeter) read(now time.Time) (seconds, percent float64) {
	seconds = processCPUSeconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.at.IsZero():
		if up := now.Sub(processStart).Seconds(); up > 0 {
			m.percent = 100 * seconds / up
		}
		m.at, m.seconds = now, seconds
	case now.Sub(m.at) >= time.Second:
		m.percent = 100 * (seconds - m.seconds) / now.Sub(m.at).Seconds()
		m.at, m.seconds = now, seconds
	}
	return seconds, m.percent
}

var procCPU cpuMeter

// processCPUSeconds is the user and system CPU time of the process, from
// the Go runtime's own accounting (no /proc needed, every OS).
func processCPUSeconds() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/user:cpu-seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	total := 0.0
	for _, x := range s {
		if x.Value.Kind() == metrics.KindFloat64 {
			total += x.Value.Float64()
		}
	}
	return total
}

func (n *Node) info() NodeInfo {
	now := time.Now()
	ready, checks := n.Ready()
	rooms, users := n.sys.Counts()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu, pct := procCPU.read(now)
	info := NodeInfo{
		Node: n.Name(), Version: Version, Time: now.UTC(), StartedAt: n.started.UTC(),
		Uptime: now.Sub(n.started).Seconds(), Ready: ready, Checks: checks, Draining: n.draining.Load(),
		Connections: n.sys.NumConns(), Rooms: rooms, Users: users, ClusterSize: n.ClusterSize(),
		NATS: "external", NATSRoutes: n.NATSRoutes(), Addr: n.gw.Addr().String(),
		CPUSeconds: cpu, CPUPercent: pct, GOMAXPROCS: runtime.GOMAXPROCS(0),
		RSS: residentBytes(), Heap: ms.HeapAlloc, Goroutines: runtime.NumGoroutine(),
	}
	if info.RSS == 0 {
		info.RSS = ms.Sys - ms.HeapReleased
	}
	if l := debug.SetMemoryLimit(-1); l != int64(^uint64(0)>>1) && l > 0 {
		info.MemoryLimit = uint64(l)
	}
	if n.ns != nil {
		info.NATS = "embedded"
	}
	return info
}

// Operations of the admin scatter-gathers.
const (
	adminOpNodes = "nodes"
)

// answerAdmin answers one admin operation from this node's state.
func (n *Node) answerAdmin(op string, data []byte) any {
	switch op {
	case adminOpNodes:
		return n.info()
	}
	return nil
}

// startAdminQueries subscribes this node to the admin scatter-gathers.
func startAdminQueries(n *Node) (*nats.Subscription, error) {
	prefix := n.bus.Subject("internal.admin.")
	sub, err := n.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		op := strings.TrimPrefix(m.Subject, prefix)
		b, _ := json.Marshal(adminAnswer{Node: n.Name(), Data: mustJSON(n.answerAdmin(op, m.Data))})
		_ = m.Respond(b)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s*: %w", prefix, err)
	}
	return sub, flushIfConnected(n.nc)
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

type adminAnswer struct {
	Node string          `json:"node"`
	Data json.RawMessage `json:"data"`
}

// adminGathered is what the nodes answered, this node's first.
type adminGathered struct {
	answers []adminAnswer
	missing []string // members the gossip knows that did not answer
}

// gatherAdmin asks every node (this one directly) and waits for the
// members gossip knows, at most CountWait.
func (n *Node) gatherAdmin(ctx context.Context, op string, data []byte) (adminGathered, error) {
	g := adminGathered{answers: []adminAnswer{{Node: n.Name(), Data: mustJSON(n.answerAdmin(op, data))}}}
	expect := map[string]bool{}
	if n.members != nil {
		for name := range n.members.Nodes() {
			if name != n.Name() {
				expect[name] = true
			}
		}
	}
	if len(expect) == 0 {
		return g, nil
	}
	inbox := n.nc.NewRespInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return g, err
	}
	defer sub.Unsubscribe()
	if err := n.nc.PublishRequest(n.bus.Subject("internal.admin."+op), inbox, data); err != nil {
		return g, err
	}
	ctx, cancel := context.WithTimeout(ctx, CountWait)
	defer cancel()
	for len(expect) > 0 {
		resp, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break // deadline: answer with what we have
		}
		var a adminAnswer
		if json.Unmarshal(resp.Data, &a) != nil || !expect[a.Node] {
			continue
		}
		delete(expect, a.Node)
		g.answers = append(g.answers, a)
	}
	for name := range expect {
		g.missing = append(g.missing, name)
	}
	slices.Sort(g.missing)
	return g, nil
}

// getNodes answers GET /api/nodes:
//
//	{"nodes":[{NodeInfo},...],"missing":[],"complete":true}
//
// nodes sorted by name.
func (n *Node) getNodes(w http.ResponseWriter, r *http.Request) int {
	ctx, cancel := apiContext(r)
	defer cancel()
	g, err := n.gatherAdmin(ctx, adminOpNodes, nil)
	if err != nil {
		return n.queryFailed(w, err)
	}
	nodes := make([]NodeInfo, 0, len(g.answers))
	for _, a := range g.answers {
		var info NodeInfo
		if json.Unmarshal(a.Data, &info) == nil && info.Node != "" {
			nodes = append(nodes, info)
		}
	}
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return strings.Compare(a.Node, b.Node) })
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes, "missing": nonNil(g.missing), "complete": len(g.missing) == 0})
	return http.StatusOK
}
