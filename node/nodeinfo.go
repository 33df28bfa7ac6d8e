package node

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hubrt/hub/actors"
)

// Cluster-wide views for the admin page: GET /api/nodes (every node
// describes itself) and GET /api/users/{user}/connections (every node
// describes the user's connections it holds). Both are commands of the
// cluster-wide gather (queries.go, internal.cmd.<op>): every node answers,
// collected for at most CountWait; "complete" is false when a member the
// gossip knows did not answer in time, and GET /api/nodes names it.

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

// userConnInfo describes the local connections of user, oldest first.
func (n *Node) userConnInfo(user string) []actors.ConnInfo {
	refs := n.sys.UserConnections(user)
	out := make([]actors.ConnInfo, 0, len(refs))
	for _, r := range refs {
		if info, ok := n.sys.Info(r.ID); ok {
			out = append(out, info)
		}
	}
	return out
}

// missingMembers names the members gossip knows that are not in answered.
func (n *Node) missingMembers(answered map[string]bool) []string {
	missing := []string{}
	if n.members != nil {
		for name := range n.members.Nodes() {
			if !answered[name] {
				missing = append(missing, name)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// getNodes answers GET /api/nodes:
//
//	{"nodes":[{NodeInfo},...],"missing":[],"complete":true}
//
// nodes sorted by name; missing names the members gossip knows that did
// not answer within CountWait.
func (n *Node) getNodes(w http.ResponseWriter, r *http.Request) int {
	ctx, cancel := apiContext(r)
	defer cancel()
	g, err := n.queries.gather(ctx, cmdNodes, nil)
	if err != nil {
		return n.queryFailed(w, err)
	}
	nodes := make([]NodeInfo, 0, len(g.answers))
	answered := map[string]bool{}
	for _, a := range g.answers {
		var info NodeInfo
		if json.Unmarshal(a, &info) == nil && info.Node != "" && !answered[info.Node] {
			answered[info.Node] = true
			nodes = append(nodes, info)
		}
	}
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return strings.Compare(a.Node, b.Node) })
	missing := n.missingMembers(answered)
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes, "missing": missing, "complete": g.complete && len(missing) == 0})
	return http.StatusOK
}

// getUserConns answers GET /api/users/{user}/connections:
//
//	{"user":"bob","connections":[{ConnInfo},...],"nodes":3,"complete":true}
//
// every connection of the user in the cluster, oldest first.
func (n *Node) getUserConns(w http.ResponseWriter, r *http.Request) int {
	user, ok := nameParam(w, r, "user")
	if !ok {
		return http.StatusBadRequest
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	b, _ := json.Marshal(command{User: user})
	g, err := n.queries.gather(ctx, cmdUserInfo, b)
	if err != nil {
		return n.queryFailed(w, err)
	}
	conns := []actors.ConnInfo{}
	for _, a := range g.answers {
		var part []actors.ConnInfo
		if json.Unmarshal(a, &part) == nil {
			conns = append(conns, part...)
		}
	}
	slices.SortFunc(conns, func(a, b actors.ConnInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	writeJSON(w, http.StatusOK, map[string]any{"user": user, "connections": conns, "nodes": g.nodes, "complete": g.complete})
	return http.StatusOK
}
