package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/internal/hubtest"
)

// These tests run the real binary as separate processes: a 3-node cluster
// on loopback, each node with its own gossip and its own embedded NATS.

// ipPath is the ip tool the network-namespace tests use.
const ipPath = "/usr/sbin/ip"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func hubBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hub-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hub")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	ws     string // host:port
	nats   string
	gossip string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
	logs   chan map[string]any
	httpc  *http.Client      // reaches its listeners (inside its network namespace)
	wsd    ws.Dialer         // dials its WebSocket
	natsd  nats.CustomDialer // dials its NATS; nil for the default
}

// Backends of the process tests sign in on the embedded NATS as this user.
const (
	testNATSUser     = "test"
	testNATSPassword = "test-backend-password"
)

// procOpts vary how startProc runs a hub.
type procOpts struct {
	secret string   // HUB_CLUSTER_SECRET; default hubtest.ClusterSecret, "-" for none
	host   string   // address every listener binds; default 127.0.0.1
	netns  string   // run inside this network namespace (ip netns exec)
	args   []string // more flags
	// gossipOnly: return once the gossip listener is known (a node with
	// clustered history waits for bootstrap_expect members before its
	// other listeners open); awaitListeners waits for the rest.
	gossipOnly bool
}

// startProc starts a hub process and waits until it logs its listeners.
func startProc(t *testing.T, name string, join string) *proc {
	t.Helper()
	return startProcWith(t, name, join, procOpts{})
}

func startProcWith(t *testing.T, name string, join string, o procOpts) *proc {
	t.Helper()
	host := o.host
	if host == "" {
		host = "127.0.0.1"
	}
	args := []string{"-dev", "-node-name", name, "-host", host, "-port", "0",
		"-nats-listen", host + ":0", "-nats-cluster-listen", host + ":0",
		"-gossip-bind", host + ":0", "-log-format", "json", "-shutdown-timeout", "5s",
		"-rejoin-interval", "1s", "-nats-users", testNATSUser + ":" + testNATSPassword}
	if join != "" {
		args = append(args, "-join", join)
	}
	args = append(args, o.args...)
	exe, cargs := hubBinary(t), args
	if o.netns != "" {
		exe, cargs = ipPath, append([]string{"netns", "exec", o.netns, hubBinary(t)}, args...)
	}
	cmd := exec.Command(exe, cargs...)
	secret := o.secret
	if secret == "" {
		secret = hubtest.ClusterSecret
	}
	if secret == "-" {
		secret = ""
	}
	cmd.Env = append(os.Environ(), "HUB_CONFIG=", "HUB_CLUSTER_SECRET="+secret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, exited: make(chan struct{}), logs: make(chan map[string]any, 1000),
		httpc: http.DefaultClient, wsd: hubtest.Dialer}
	if o.netns != "" {
		d := netnsDialer(t, o.netns)
		p.httpc = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 5 * time.Second}
		p.wsd = ws.Dialer{NetDial: d.DialContext, Timeout: 5 * time.Second}
		p.natsd = d
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	var logw io.Writer = io.Discard
	var logf *os.File
	if dir := os.Getenv("HUB_PROC_LOGS"); dir != "" {
		// Keep each process's log, to read after a failure.
		if f, err := os.Create(filepath.Join(dir, name+".log")); err == nil {
			logw, logf = f, f
		}
	}
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stderr, logw))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.logs <- m:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(p.exited)
	}()
	if o.gossipOnly {
		p.await(func() bool { return p.gossip != "" })
	} else {
		p.awaitListeners()
	}
	return p
}

// awaitListeners waits until the process has logged its listeners.
// A node with clustered history opens them once its JetStream streams
// are ready, which a first boot of a new cluster takes seconds to be.
func (p *proc) awaitListeners() {
	p.t.Helper()
	p.await(func() bool { return p.ws != "" && p.nats != "" && p.gossip != "" })
}

func (p *proc) await(done func() bool) {
	p.t.Helper()
	t, name := p.t, p.name
	deadline := time.After(60 * time.Second)
	var last []string
	for !done() {
		select {
		case m := <-p.logs:
			if last = append(last, fmt.Sprint(m["time"], " ", m["msg"], " ", m["err"])); len(last) > 20 {
				last = last[1:]
			}
			switch m["msg"] {
			case "websocket listening":
				p.ws, _ = m["addr"].(string)
			case "embedded nats listening for publishers":
				p.nats, _ = m["url"].(string)
				p.nats = strings.Replace(p.nats, "nats://", "nats://"+testNATSUser+":"+testNATSPassword+"@", 1)
			case "gossip listening":
				p.gossip, _ = m["addr"].(string)
			}
		case <-p.exited:
			t.Fatalf("%s exited early: %v", name, p.err)
		case <-deadline:
			t.Fatalf("%s did not report its listeners; its last lines:\n%s", name, strings.Join(last, "\n"))
		}
	}
}

func (p *proc) url(path string) string { return "http://" + p.ws + path }
func (p *proc) wsURL(q string) string  { return "ws://" + p.ws + "/ws" + q }

// dial opens a WebSocket client to the node, q being the query ("?user=x").
func (p *proc) dial(t *testing.T, q string) *hubtest.Client {
	t.Helper()
	return hubtest.DialWith(t, p.wsd, p.wsURL(q))
}

// natsConn connects to the node's embedded NATS as the test backend.
func (p *proc) natsConn(t *testing.T) *nats.Conn {
	t.Helper()
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	if p.natsd != nil {
		opts = append(opts, nats.SetCustomDialer(p.natsd))
	}
	nc, err := nats.Connect(p.nats, opts...)
	if err != nil {
		t.Fatalf("nats %s: %v", p.name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (p *proc) get(path string) map[string]any {
	resp, err := p.httpc.Get(p.url(path))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func (p *proc) readyz() map[string]any {
	resp, err := p.httpc.Get(p.url("/readyz"))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func (p *proc) clusterSize() int {
	m := p.readyz()
	n, _ := m["cluster_size"].(float64)
	return int(n)
}

func startProcCluster(t *testing.T) []*proc {
	return startProcClusterWith(t, procOpts{})
}

func startProcClusterWith(t *testing.T, o procOpts) []*proc {
	a := startProcWith(t, "pa", "", o)
	b := startProcWith(t, "pb", a.gossip, o)
	c := startProcWith(t, "pc", a.gossip, o)
	ps := []*proc{a, b, c}
	hubtest.Eventually(t, "three members everywhere", func() bool {
		for _, p := range ps {
			if m := p.readyz(); m["cluster_size"] != float64(3) || m["status"] != "ready" {
				return false
			}
		}
		return true
	})
	return ps
}

func TestProcessKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ps := startProcClusterWith(t, procOpts{args: []string{"-failure-grace", "2s"}})
	a, b, c := ps[0], ps[1], ps[2]
	downs := hubtest.Events(t, a.natsConn(t), "hub.events.node_down")
	ca := hubtest.Dial(t, a.wsURL("?user=ann"), nil)
	cb := hubtest.Dial(t, b.wsURL("?user=ben"), nil)
	cc := hubtest.Dial(t, c.wsURL("?user=cid"), nil)
	for _, cl := range []*hubtest.Client{ca, cb, cc} {
		cl.Join("r")
	}
	hubtest.Eventually(t, "cid online", func() bool {
		_, m := hubtest.HTTP(t, "GET", a.url("/api/users/cid"), "", "")
		return m["online"] == true
	})

	killed := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
	hubtest.Eventually(t, "the dead node to be noticed", func() bool {
		return a.clusterSize() == 2 && b.clusterSize() == 2
	})
	took := time.Since(killed)
	t.Logf("kill -9 noticed by both survivors after %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("noticed after %v, want < 5s", took)
	}
	_, m := hubtest.HTTP(t, "GET", b.url("/api/users/cid"), "", "")
	if m["online"] != false {
		t.Errorf("dead node's user still online: %v", m)
	}
	// Reported once, after the grace, by the lowest-named survivor.
	var ev map[string]any
	if err := json.Unmarshal(hubtest.NextMsg(t, downs).Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["node"] != "pc" || ev["reason"] != "failed" || ev["reported_by"] != "pa" {
		t.Fatalf("node_down %v", ev)
	}
	t.Logf("node_down %v after the kill", time.Since(killed).Round(time.Millisecond))
	select {
	case m := <-downs:
		t.Fatalf("a second node_down: %s", m.Data)
	case <-time.After(3 * time.Second): // two more grace periods
	}
	// The survivors keep delivering, every message, in order.
	nc := hubtest.NATS(t, a.nats)
	for i := 0; i < 200; i++ {
		if err := nc.Publish("hub.room.r", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range []*hubtest.Client{ca, cb} {
		for i := 0; i < 200; i++ {
			if m := cl.Expect("message"); m.JSON("data") != fmt.Sprint(i) {
				t.Fatalf("message %d: got %v", i, m["_raw"])
			}
		}
	}
}

func TestProcessSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ps := startProcCluster(t)
	a, b := ps[0], ps[1]
	nc := hubtest.NATS(t, a.nats)
	disconnects := hubtest.Events(t, nc, "hub.events.disconnect")
	downs := hubtest.Events(t, nc, "hub.events.node_down")
	var clients []*hubtest.Client
	for i := 0; i < 5; i++ {
		cl := hubtest.Dial(t, b.wsURL(fmt.Sprintf("?user=u%d", i)), nil)
		cl.Join("r")
		clients = append(clients, cl)
	}
	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, cl := range clients {
		if code, reason := cl.Closed(); code != 1001 || reason != "shutdown" {
			t.Errorf("client closed with %d %q, want 1001 shutdown", code, reason)
		}
	}
	select {
	case <-b.exited:
		if b.err != nil {
			t.Fatalf("exit: %v", b.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not exit within 10s of SIGTERM")
	}
	t.Logf("SIGTERM to exit: %v", time.Since(start).Round(time.Millisecond))
	seen := map[string]bool{}
	for len(seen) < 5 {
		var ev map[string]any
		if err := json.Unmarshal(hubtest.NextMsg(t, disconnects).Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["reason"] != "shutdown" || ev["node"] != "pb" {
			t.Fatalf("disconnect event %v", ev)
		}
		seen[ev["user"].(string)] = true
	}
	var ev map[string]any
	_ = json.Unmarshal(hubtest.NextMsg(t, downs).Data, &ev)
	if ev["node"] != "pb" || ev["reason"] != "left" {
		t.Fatalf("node_down %v", ev)
	}
	hubtest.Eventually(t, "the others to see the node leave", func() bool {
		return a.clusterSize() == 2 && ps[2].clusterSize() == 2
	})
	if !strings.Contains(fmt.Sprint(a.readyz()["status"]), "ready") {
		t.Fatal("survivor not ready")
	}
}

// A rolling restart of a 3-node cluster (SIGTERM, then a new process with
// the same name) loses no message for the clients of the nodes that are up.
func TestProcessRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ps := startProcCluster(t)
	names := []string{"pa", "pb", "pc"}
	clients := make([][]*hubtest.Client, 3)
	connect := func(i int) {
		clients[i] = nil
		for k := 0; k < 3; k++ {
			cl := hubtest.Dial(t, ps[i].wsURL(fmt.Sprintf("?user=%s-%d", names[i], k)), nil)
			cl.Join("r")
			clients[i] = append(clients[i], cl)
		}
	}
	for i := range ps {
		connect(i)
	}
	seq := 0
	for i := range ps {
		stable := ps[(i+1)%3]
		nc := hubtest.NATS(t, stable.nats)
		first := seq
		stopPub := make(chan struct{})
		pubDone := make(chan int)
		go func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			n := first
			for {
				select {
				case <-stopPub:
					_ = nc.Flush()
					pubDone <- n
					return
				case <-tick.C:
					if err := nc.Publish("hub.room.r", []byte(fmt.Sprintf(`{"seq":%d}`, n))); err == nil {
						n++
					}
				}
			}
		}()
		// Restart node i while messages flow.
		if err := ps[i].cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for _, cl := range clients[i] {
			if code, _ := cl.Closed(); code != 1001 {
				t.Fatalf("%s client closed with %d, want 1001", names[i], code)
			}
		}
		<-ps[i].exited
		if ps[i].err != nil {
			t.Fatalf("%s exit: %v", names[i], ps[i].err)
		}
		ps[i] = startProc(t, names[i], stable.gossip)
		hubtest.Eventually(t, names[i]+" back in the cluster", func() bool {
			for _, p := range ps {
				if m := p.readyz(); m["cluster_size"] != float64(3) || m["status"] != "ready" {
					return false
				}
			}
			return true
		})
		connect(i)
		time.Sleep(100 * time.Millisecond) // let traffic flow to the new node's clients too
		close(stopPub)
		seq = <-pubDone
		t.Logf("restarted %s while publishing %d messages", names[i], seq-first)
		// Every client of the two nodes that stayed up got every message, in order.
		for j := range ps {
			if j == i {
				continue
			}
			for _, cl := range clients[j] {
				for want := first; want < seq; want++ {
					m := cl.Expect("message")
					var got struct{ Seq int }
					if err := json.Unmarshal([]byte(m.JSON("data")), &got); err != nil || got.Seq != want {
						t.Fatalf("%s client: got %v, want seq %d", names[j], m["_raw"], want)
					}
				}
			}
		}
		// The restarted node's new clients got a gapless tail.
		for _, cl := range clients[i] {
			last := -1
			for {
				m := cl.Next()
				var got struct{ Seq int }
				_ = json.Unmarshal([]byte(m.JSON("data")), &got)
				if last >= 0 && got.Seq != last+1 {
					t.Fatalf("restarted %s client: seq %d after %d", names[i], got.Seq, last)
				}
				last = got.Seq
				if last == seq-1 {
					break
				}
			}
		}
	}
}
