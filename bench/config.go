package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Case names, in the order "all" runs them.
const (
	CaseIdle        = "idle"
	CaseConnect     = "connect"
	CaseBurst       = "burst"
	CasePaced       = "paced"
	CaseCluster     = "cluster"
	CaseChat        = "chat"
	CaseSustained   = "sustained"
	CaseCompression = "compression"

	// The history cases (history.go): the burst on one node (R1) and the
	// sustained case on three (R3), each beside the same run in a room
	// without history, and the recovery storm.
	CaseHistoryBurst     = "history-burst"
	CaseHistorySustained = "history-sustained"
	CaseRecovery         = "recovery"
)

// HistoryCases is what -case history runs.
var HistoryCases = []string{CaseHistoryBurst, CaseHistorySustained, CaseRecovery}

// AllCases is what -case all runs. The connect figure of "all" comes from
// the idle case, which opens the same connections the same way.
var AllCases = []string{CaseIdle, CaseBurst, CasePaced, CaseSustained, CaseCompression, CaseChat, CaseCluster}

// Config configures a run. The zero value of every number means the
// PERF.md default given beside it.
type Config struct {
	Cases []string // cases to run, from the Case constants; default AllCases

	// Hubs to measure: spawned, or given.
	Spawn       bool     // start hubs on loopback and stop them at the end
	HubExe      string   // executable for spawned hubs; default os.Executable()
	HubArgs     []string // extra flags for spawned hubs
	URLs        []string // ws:// URLs of running hubs (cluster: one per node)
	NATSURLs    []string // NATS URL to publish to, per hub; the first is used for one node
	MetricsURLs []string // /metrics URL per hub; default the WebSocket host's /metrics
	PIDs        []int    // PID per hub, to read /proc instead of /metrics (same machine only)

	// Client processes.
	ChildExe    string   // executable for clients; default os.Executable() with ChildArgs "bench -child"
	ChildArgs   []string // arguments for ChildExe
	PerChild    int      // sockets per client process; default 15,000; at most 19,000
	Concurrency int      // upgrades in flight per client process; default 128
	ConnectRate float64  // new connections per second per client process; 0 for as fast as accepted
	LocalAddr   string   // source IP of clients; default 127.0.0.2 for a loopback hub, else any
	// BrowserHeaders makes every client send a desktop Chrome's upgrade
	// headers (about 700 bytes with a cookie) instead of the minimal set;
	// the idle case then measures only that set instead of both.
	BrowserHeaders bool

	// Case sizes.
	Conns         int           // idle and connect: connections; default 15,000
	Rooms         int           // idle and connect: rooms the connections spread over; default 100
	Members       int           // burst and paced: members of the room; default 10,000
	Messages      int           // burst and cluster: messages published; default 200
	Size          int           // payload bytes; default 128 (at least 43: the timestamp and sequence)
	Rate          float64       // paced: messages per second; default 5
	SustainedRate float64       // sustained: messages per second; default 50
	Duration      time.Duration // paced: how long; default 10s
	ClusterNodes  int           // cluster: nodes; default 3
	ClusterConns  int           // cluster: members per node; default 3,000
	Publish       []string      // burst: "nats", "http" or both (default both)
	ChatConns     int           // chat: connections; default 10,000
	ChatRoomSize  int           // chat: members per room; default 10
	ChatRate      float64       // chat: messages per second per connection; default 1
	ChatDuration  time.Duration // chat: how long every connection sends; default 20s
	NoFloor       bool          // do not run the floor server beside the hub (spawned runs)

	// History cases (spawned hubs only).
	HistoryNodes     int    // history-sustained: nodes; default 3 (R3)
	HistoryStorage   string // the namespace's storage, "file" or "memory"; default "file"
	RecoveryMessages int    // recovery: messages published while the members are away; default 1,000

	SubjectPrefix string        // hub NATS subject prefix; default "hub"
	APIKey        string        // bearer key for the HTTP API, if the hub needs one
	Quiet         time.Duration // a delivery run ends this long after the last delivery; default 5s
	Settle        time.Duration // idle: wait before reading RSS after opening; default 2s
	Timeout       time.Duration // every run together; default 5m (15m with Runs > 1)
	Runs          int           // repeat the cases this many times and report medians; default 1

	Stderr io.Writer // progress lines; default io.Discard
}

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if len(c.Cases) == 0 {
		c.Cases = AllCases
	}
	def(&c.PerChild, 15000)
	def(&c.Concurrency, 128)
	def(&c.Conns, 15000)
	def(&c.Rooms, 100)
	def(&c.Members, 10000)
	def(&c.Messages, 200)
	def(&c.Size, 128)
	def(&c.ClusterNodes, 3)
	def(&c.ClusterConns, 3000)
	def(&c.ChatConns, 10000)
	def(&c.ChatRoomSize, 10)
	def(&c.HistoryNodes, 3)
	def(&c.RecoveryMessages, 1000)
	if c.HistoryStorage == "" {
		c.HistoryStorage = "file"
	}
	if c.ChatRate <= 0 {
		c.ChatRate = 1
	}
	if c.ChatDuration <= 0 {
		c.ChatDuration = 20 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 5
	}
	if c.SustainedRate <= 0 {
		c.SustainedRate = 50
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if len(c.Publish) == 0 {
		c.Publish = []string{"nats", "http"}
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "hub"
	}
	if c.Quiet <= 0 {
		c.Quiet = 5 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
		if c.Runs > 1 {
			c.Timeout = 15 * time.Minute
		}
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
}

// ExpandCases replaces "fanout" in names by its two modes, burst (as fast as
// the hub accepts) and paced (at Config.Rate), and "history" by
// HistoryCases.
func ExpandCases(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "fanout" {
			out = append(out, CaseBurst, CasePaced)
		} else if n == "history" {
			out = append(out, HistoryCases...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	for _, k := range c.Cases {
		if !slices.Contains([]string{CaseIdle, CaseConnect, CaseBurst, CasePaced, CaseSustained, CaseCompression, CaseChat, CaseCluster}, k) && !slices.Contains(HistoryCases, k) {
			errs = append(errs, fmt.Errorf("unknown case %q (idle, connect, burst, paced, sustained, compression, chat, cluster, history-burst, history-sustained, recovery, history or all)", k))
		}
		if slices.Contains(HistoryCases, k) && !c.Spawn {
			errs = append(errs, fmt.Errorf("case %s needs -spawn: the tool configures the hubs' history namespace", k))
		}
	}
	for _, p := range c.Publish {
		if p != "nats" && p != "http" {
			errs = append(errs, fmt.Errorf("unknown publish path %q (nats or http)", p))
		}
	}
	if c.HistoryStorage != "" && c.HistoryStorage != "file" && c.HistoryStorage != "memory" {
		errs = append(errs, fmt.Errorf("history storage %q: file or memory", c.HistoryStorage))
	}
	if c.PerChild > 19000 {
		errs = append(errs, fmt.Errorf("per-child %d: a process may hold 20,000 descriptors", c.PerChild))
	}
	if !c.Spawn && len(c.URLs) == 0 {
		errs = append(errs, errors.New("give -spawn, or -url of a running hub"))
	}
	if c.Spawn && len(c.URLs) > 0 {
		errs = append(errs, errors.New("-spawn and -url exclude each other"))
	}
	if !c.Spawn && slices.Contains(c.Cases, CaseCluster) && len(c.URLs) < 2 {
		errs = append(errs, errors.New("cluster case: give -spawn, or one -url per node (comma-separated)"))
	}
	if !c.Spawn && (slices.Contains(c.Cases, CaseBurst) || slices.Contains(c.Cases, CasePaced) || slices.Contains(c.Cases, CaseSustained) || slices.Contains(c.Cases, CaseCompression) || slices.Contains(c.Cases, CaseCluster)) &&
		slices.Contains(c.Publish, "nats") && len(c.NATSURLs) == 0 {
		errs = append(errs, errors.New("publishing through NATS to a running hub needs -nats"))
	}
	return errors.Join(errs...)
}
