package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netlab is a set of network namespaces made by a test: one bridge
// namespace holding a bridge, and one namespace per node joined to it by a
// veth pair (node side eth0 with 10.77.0.<i>/24, bridge side v<i>). Taking
// a bridge-side veth down cuts that node off; the test removes everything
// when it ends.
type netlab struct {
	t      *testing.T
	bridge string
	nodes  []string // namespace names, index i for node i+1
}

// needNetlab skips the test, saying why, where network namespaces cannot
// be made.
func needNetlab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := os.Stat(ipPath); err != nil {
		t.Skipf("needs %s to create network namespaces: %v", ipPath, err)
	}
}

func newNetlab(t *testing.T, nodes int) *netlab {
	t.Helper()
	needNetlab(t)
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	l := &netlab{t: t, bridge: "hubbr" + id}
	t.Cleanup(l.remove)
	l.ip("netns", "add", l.bridge)
	l.ip("-n", l.bridge, "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.bridge, "link", "set", "br0", "up")
	for i := 1; i <= nodes; i++ {
		ns := fmt.Sprintf("hubn%d-%s", i, id)
		l.nodes = append(l.nodes, ns)
		l.ip("netns", "add", ns)
		l.ip("-n", ns, "link", "set", "lo", "up")
		l.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", fmt.Sprintf("v%d", i), "netns", l.bridge)
		l.ip("-n", l.bridge, "link", "set", fmt.Sprintf("v%d", i), "master", "br0", "up")
		l.ip("-n", ns, "addr", "add", l.addr(i)+"/24", "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
	}
	return l
}

// addr is node i's address (i from 1).
func (l *netlab) addr(i int) string { return fmt.Sprintf("10.77.0.%d", i) }

// ns is node i's namespace (i from 1).
func (l *netlab) ns(i int) string { return l.nodes[i-1] }

// cut takes node i's link down (true) or up again (false).
func (l *netlab) cut(i int, down bool) {
	state := "up"
	if down {
		state = "down"
	}
	l.ip("-n", l.bridge, "link", "set", fmt.Sprintf("v%d", i), state)
}

func (l *netlab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(ipPath, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *netlab) remove() {
	for _, ns := range append(l.nodes, l.bridge) {
		_ = exec.Command(ipPath, "netns", "del", ns).Run()
	}
}

// nsDialer opens connections from inside a network namespace: the socket
// is made by a thread switched into the namespace, and stays there.
type nsDialer struct{ ns string }

func netnsDialer(t *testing.T, ns string) *nsDialer {
	t.Helper()
	return &nsDialer{ns: ns}
}

func (d *nsDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d *nsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is left in the namespace only while the socket is
		// made; it is not reused afterwards (no UnlockOSThread), so no
		// other goroutine runs on a thread in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + d.ns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", d.ns, err)}
			return
		}
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
