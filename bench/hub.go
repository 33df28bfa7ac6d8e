package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hub is one hub process under test: where to reach it and how to read its
// CPU and memory.
type hub struct {
	name    string
	ws      string // ws://host:port/ws
	http    string // http://host:port
	nats    string // nats://host:port, "" when not known
	metrics string // http://host:port/metrics
	gossip  string // gossip address, spawned hubs only
	pid     int    // 0 when unknown: CPU and RSS come from metrics

	cmd     *exec.Cmd      // spawned hubs only
	in      io.WriteCloser // the floor server's standard input: closing it stops it
	logPath string
	exited  chan struct{}
}

// cpuSeconds is the hub's user+system CPU time so far.
func (h *hub) cpuSeconds(ctx context.Context) (float64, error) {
	if h.pid != 0 {
		return procCPU(h.pid)
	}
	return h.metric(ctx, "hub_process_cpu_seconds_total")
}

// rssBytes is the hub's resident set size.
func (h *hub) rssBytes(ctx context.Context) (float64, error) {
	if h.pid != 0 {
		return procRSS(h.pid)
	}
	return h.metric(ctx, "hub_process_resident_memory_bytes")
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// metric reads one unlabelled sample from the hub's /metrics.
func (h *hub) metric(ctx context.Context, name string) (float64, error) {
	m, err := h.scrape(ctx, name)
	if err != nil {
		return 0, err
	}
	v, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("%s: no %s", h.metrics, name)
	}
	return v, nil
}

// scrape reads the unlabelled samples of the named metrics.
func (h *hub) scrape(ctx context.Context, names ...string) (map[string]float64, error) {
	if h.metrics == "" {
		return nil, errors.New("no metrics URL for " + h.name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.metrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", h.metrics, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", h.metrics, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func (h *hub) goroutines(ctx context.Context) (float64, error) {
	return h.metric(ctx, "go_goroutines")
}

// procCPU reads utime+stime from /proc/PID/stat.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	// After the name: state(0) ... utime(11) stime(12), in clock ticks.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux configuration that matters.
const clockTicks = 100

// procRSS reads VmRSS from /proc/PID/status.
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// freePorts returns n distinct free TCP ports on host.
func freePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// spawnHub starts a hub on 127.0.0.1 with free ports. join is the gossip
// address of a member to join, "" for the first node.
func spawnHub(ctx context.Context, cfg *Config, name, join string) (*hub, error) {
	const host = "127.0.0.1"
	// ws, nats client, nats routes; gossip needs UDP too, checked below.
	ports, err := freePorts(host, 4)
	if err != nil {
		return nil, fmt.Errorf("free ports: %w", err)
	}
	if pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(ports[3]))); err == nil {
		pc.Close()
	} else {
		return nil, fmt.Errorf("gossip port %d: %w", ports[3], err)
	}
	exe := cfg.HubExe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
	}
	gossip := net.JoinHostPort(host, strconv.Itoa(ports[3]))
	args := []string{
		"-node-name", name,
		"-host", host, "-port", strconv.Itoa(ports[0]),
		"-nats-listen", net.JoinHostPort(host, strconv.Itoa(ports[1])),
		"-nats-cluster-listen", net.JoinHostPort(host, strconv.Itoa(ports[2])),
		"-gossip-bind", gossip,
		"-log-level", "warn",
		// Spawned hubs are a loopback cluster of one machine; a secret
		// would only make the load tool sign in.
		"-cluster-insecure",
	}
	if join != "" {
		args = append(args, "-join", join)
	}
	args = append(args, cfg.HubArgs...)
	logf, err := os.CreateTemp("", "hub-bench-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hub %s: %w", exe, err)
	}
	base := "http://" + net.JoinHostPort(host, strconv.Itoa(ports[0]))
	h := &hub{
		name: name, ws: "ws://" + net.JoinHostPort(host, strconv.Itoa(ports[0])) + "/ws",
		http: base, nats: "nats://" + net.JoinHostPort(host, strconv.Itoa(ports[1])),
		metrics: base + "/metrics", gossip: gossip, pid: cmd.Process.Pid,
		cmd: cmd, logPath: logf.Name(), exited: make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	fmt.Fprintf(cfg.Stderr, "started hub %s: pid %d, %s, nats %s, log %s\n", name, h.pid, h.ws, h.nats, filepath.Base(h.logPath))
	// A node with history in a new cluster is ready once the others have
	// joined it and JetStream has elected its leaders (bootstrap_expect).
	if err := h.waitReady(ctx, 60*time.Second); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

// waitReady polls /readyz.
func (h *hub) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if h.exited != nil {
			select {
			case <-h.exited:
				return fmt.Errorf("hub %s exited at start: %s", h.name, h.logTail())
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.http+"/readyz", nil)
		if resp, err := httpClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hub %s not ready after %s", h.name, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (h *hub) logTail() string {
	b, _ := os.ReadFile(h.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop ends a spawned hub by PID: SIGTERM, then SIGKILL after 10 s.
func (h *hub) stop() {
	if h == nil || h.cmd == nil {
		return
	}
	if h.in != nil {
		_ = h.in.Close()
		select {
		case <-h.exited:
		case <-time.After(2 * time.Second):
		}
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
	if h.cmd.ProcessState != nil && h.cmd.ProcessState.Success() {
		_ = os.Remove(h.logPath)
	}
	h.cmd = nil
}

// targetHubs describes hubs given on the command line.
func targetHubs(cfg *Config) ([]*hub, error) {
	var hs []*hub
	for i, ws := range cfg.URLs {
		u, err := url.Parse(ws)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("-url %q: not a ws:// URL", ws)
		}
		h := &hub{name: fmt.Sprintf("node%d", i+1), ws: ws, http: "http://" + u.Host}
		h.metrics = h.http + "/metrics"
		if i < len(cfg.MetricsURLs) {
			h.metrics = cfg.MetricsURLs[i]
		}
		if i < len(cfg.NATSURLs) {
			h.nats = cfg.NATSURLs[i]
		}
		if i < len(cfg.PIDs) {
			h.pid = cfg.PIDs[i]
		}
		hs = append(hs, h)
	}
	if len(hs) == 0 {
		return nil, errors.New("no hub: give -url or -spawn")
	}
	return hs, nil
}

// spawnFloor starts the floor server (floor_linux.go) on 127.0.0.1 with a
// free port: a client process's executable with FloorEnv set. It serves
// until its standard input closes (stop closes it, then signals).
func spawnFloor(ctx context.Context, cfg *Config) (*hub, error) {
	const host = "127.0.0.1"
	ports, err := freePorts(host, 1)
	if err != nil {
		return nil, fmt.Errorf("free ports: %w", err)
	}
	exe, args := cfg.ChildExe, cfg.ChildArgs
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		args = []string{"bench", "-child"}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(ports[0]))
	logf, err := os.CreateTemp("", "hub-bench-floor-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1", FloorEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start floor server: %w", err)
	}
	h := &hub{
		name: "floor", ws: "ws://" + addr + "/ws", http: "http://" + addr, pid: cmd.Process.Pid,
		cmd: cmd, in: in, logPath: logf.Name(), exited: make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	fmt.Fprintf(cfg.Stderr, "started floor server: pid %d, %s\n", h.pid, h.ws)
	if err := h.waitReady(ctx, 10*time.Second); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}
