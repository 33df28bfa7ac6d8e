package node_test

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// stays checks that cond holds for the whole of d: the only way to show
// that something does not happen (a join, a route).
func stays(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s: no longer true", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bare is a node's NATS client URL without its credentials.
func bare(t *testing.T, n *node.Node) string {
	u, err := url.Parse(n.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	if u.User == nil {
		t.Fatalf("NATS URL %s carries no credentials: the server does not require them", n.NATSURL())
	}
	u.User = nil
	return u.String()
}

// A node with another secret, or none, does not become a member: gossip
// from it is refused and the members never list it.
func TestCluster_WrongOrMissingSecretCannotJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startCluster(t, 2, "")
	wrong := hubtest.ClusterConfig(t, nodes[0].GossipAddr())
	wrong.Cluster.Secret = "another-secret-of-enough-length"
	w := hubtest.Start(t, wrong)
	none := hubtest.Config(t)
	none.Cluster.Join = []string{nodes[0].GossipAddr()}
	none.Cluster.Insecure = true
	o := hubtest.Start(t, none)
	stays(t, "nobody joined", 3*time.Second, func() bool {
		return nodes[0].ClusterSize() == 2 && nodes[1].ClusterSize() == 2 && w.ClusterSize() == 1 && o.ClusterSize() == 1 &&
			nodes[0].NATSRoutes() == 1 && nodes[1].NATSRoutes() == 1
	})
	if ok, checks := w.Ready(); ok {
		t.Errorf("the node with the wrong secret is ready: %v", checks)
	}
}

// A node configured to join without a secret refuses to start unless
// insecure is set; one node alone needs nothing and opens no cluster port.
func TestCluster_NoSecretRefusesToStart(t *testing.T) {
	c := hubtest.Config(t)
	c.Cluster.Join = []string{"127.0.0.1:1"}
	if _, err := node.New(c, hubtest.Logger(t)); err == nil || !strings.Contains(err.Error(), "no cluster secret") {
		t.Fatalf("New without a secret: %v", err)
	}
	c.Cluster.Secret = "short"
	if _, err := node.New(c, hubtest.Logger(t)); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("New with a short secret: %v", err)
	}
	single := hubtest.Start(t, hubtest.Config(t))
	if single.GossipAddr() != "" || single.NATSRouteAddr() != "" {
		t.Fatalf("a single node opened gossip %q and routes %q", single.GossipAddr(), single.NATSRouteAddr())
	}
	if strings.Contains(single.NATSURL(), "@") {
		t.Fatalf("a single node on loopback wants NATS credentials: %s", single.NATSURL())
	}
	// The secret from a file, two keys, one a line.
	f := t.TempDir() + "/cluster.key"
	if err := os.WriteFile(f, []byte("# rotated 2026-12-01\n"+hubtest.ClusterSecret+"\nthe-next-key-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = hubtest.Config(t)
	c.Cluster.SecretFile = f
	s, err := node.LoadSecret(c)
	if err != nil || s.Keys() != 2 {
		t.Fatalf("LoadSecret from a file: %v, %d keys", err, s.Keys())
	}
}

// The embedded NATS of a secured cluster refuses a client without
// credentials and a route that does not present the secret's; a backend
// user may publish to clients and read events, nothing else.
func TestCluster_EmbeddedNATSRequiresCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := hubtest.ClusterConfig(t)
	c.NATS.Users = []string{"orders:orders-password"}
	n := hubtest.Start(t, c)
	peer := startMember(t, []*node.Node{n}, "")
	waitFormed(t, []*node.Node{n, peer}, true)

	if nc, err := nats.Connect(bare(t, n), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without credentials was let in")
	} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("connect without credentials: %v", err)
	}
	u, _ := url.Parse(bare(t, n))
	u.User = url.UserPassword("orders", "wrong")
	if nc, err := nats.Connect(u.String(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client with a wrong password was let in")
	}

	// A NATS server that routes to the node without the secret's
	// credentials never gets a route.
	stranger, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: "hub", Host: "127.0.0.1", Port: -1},
		Routes:  server.RoutesFromStr("nats://" + n.NATSRouteAddr() + ",nats://hub-route:guess@" + n.NATSRouteAddr())})
	if err != nil {
		t.Fatal(err)
	}
	go stranger.Start()
	t.Cleanup(stranger.Shutdown)
	if !stranger.ReadyForConnections(10 * time.Second) {
		t.Fatal("stranger did not start")
	}
	stays(t, "no route from the stranger", 2*time.Second, func() bool {
		if r := n.NATSRoutes(); r != 1 {
			t.Logf("the node has routes to %d servers", r)
			return false
		}
		return true
	})

	// The backend user: clients' subjects and events, nothing else.
	u.User = url.UserPassword("orders", "orders-password")
	var mu sync.Mutex
	var denied []string
	backend, err := nats.Connect(u.String(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		denied = append(denied, err.Error())
		mu.Unlock()
	}))
	if err != nil {
		t.Fatalf("backend user: %v", err)
	}
	defer backend.Close()
	member := hubtest.Dial(t, peer.WSURL()+"?user=ann", nil)
	member.Join("r")
	events, err := backend.SubscribeSync("hub.events.>")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = backend.SubscribeSync("hub.internal.>")
	if err := backend.Publish("hub.room.r", []byte(`"from the backend"`)); err != nil {
		t.Fatal(err)
	}
	_ = backend.Publish("hub.internal.node."+n.Name()+".kick", []byte("x"))
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	if m := member.Expect("message"); m.JSON("data") != `"from the backend"` {
		t.Fatalf("got %v", m["_raw"])
	}
	member.Send(`{"type":"message","room":"r","data":"hi"}`)
	if _, err := events.NextMsg(hubtest.Wait); err != nil {
		t.Fatalf("backend gets no events: %v", err)
	}
	hubtest.Eventually(t, "both violations reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(denied) >= 2
	})
	mu.Lock()
	for _, d := range denied {
		if !strings.Contains(strings.ToLower(d), "permissions violation") {
			t.Errorf("backend error %q, want a permissions violation", d)
		}
	}
	mu.Unlock()
}

// Readiness holds its promise: right after every node of a new cluster
// says ready, a message published on any node reaches the members on every
// node, members that joined before the cluster formed included.
func TestCluster_ReadyMeansRoutesCarryTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	runs := 5
	if os.Getenv("HUB_SOAK") != "" {
		runs = 20
	} else {
		t.Log("5 cluster starts; HUB_SOAK=1 runs 20")
	}
	for run := 0; run < runs; run++ {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			var nodes []*node.Node
			var members []*hubtest.Client
			for i := 0; i < 3; i++ {
				c := hubtest.ClusterConfig(t)
				if i > 0 {
					c.Cluster.Join = []string{nodes[0].GossipAddr()}
				}
				n := hubtest.Start(t, c)
				nodes = append(nodes, n)
				m := hubtest.Dial(t, n.WSURL()+"?user=u"+fmt.Sprint(i), nil)
				m.Join("r") // before the routes exist
				members = append(members, m)
			}
			hubtest.Eventually(t, "every node ready with three members", func() bool {
				for _, n := range nodes {
					if ok, _ := n.Ready(); !ok || n.ClusterSize() != 3 {
						return false
					}
				}
				return true
			})
			for i, n := range nodes {
				nc := hubtest.NATS(t, n.NATSURL())
				if err := nc.Publish("hub.room.r", []byte(fmt.Sprintf(`{"from":%d}`, i))); err != nil {
					t.Fatal(err)
				}
				for j, m := range members {
					if got := m.Expect("message"); got.JSON("data") != fmt.Sprintf(`{"from":%d}`, i) {
						t.Fatalf("member on node %d: got %v for the publish on node %d", j, got["_raw"], i)
					}
				}
			}
		})
	}
}

// Key rotation by rolling restarts, A → A,B → B,A → B: every step keeps the
// cluster whole, and the clients of the nodes that stay up lose nothing.
func TestCluster_KeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	const a, b = "rotation-key-A-0123456789", "rotation-key-B-0123456789"
	cfgs := make([]*config.Config, 3)
	nodes := make([]*node.Node, 3)
	start := func(i int, secret string) {
		c := hubtest.ClusterConfig(t)
		c.Cluster.Secret = secret
		if cfgs[i] != nil {
			c.Node.Name = cfgs[i].Node.Name
		}
		for j, n := range nodes {
			if j != i && n != nil {
				c.Cluster.Join = append(c.Cluster.Join, n.GossipAddr())
			}
		}
		cfgs[i] = c
		nodes[i] = hubtest.Start(t, c)
	}
	for i := range nodes {
		start(i, a)
	}
	waitFormed(t, nodes, true)
	members := make([]*hubtest.Client, 3)
	join := func(i int) {
		members[i] = hubtest.Dial(t, nodes[i].WSURL()+"?user=m"+fmt.Sprint(i), nil)
		members[i].Join("r")
	}
	for i := range nodes {
		join(i)
	}
	seq := 0
	for _, secret := range []string{a + "," + b, b + "," + a, b} {
		for i := range nodes {
			stable := nodes[(i+1)%3]
			nc := hubtest.NATS(t, stable.NATSURL())
			first := seq
			done := make(chan struct{})
			published := make(chan int)
			go func() {
				n := first
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-done:
						_ = nc.Flush()
						published <- n
						return
					case <-tick.C:
						if nc.Publish("hub.room.r", []byte(fmt.Sprint(n))) == nil {
							n++
						}
					}
				}
			}()
			stop(t, nodes[i])
			start(i, secret)
			waitFormed(t, nodes, true)
			hubtest.Eventually(t, "all ready", func() bool {
				for _, n := range nodes {
					if ok, _ := n.Ready(); !ok {
						return false
					}
				}
				return true
			})
			close(done)
			seq = <-published
			for j, m := range members {
				if j == i {
					continue
				}
				for want := first; want < seq; want++ {
					if got := m.Expect("message"); got.JSON("data") != fmt.Sprint(want) {
						t.Fatalf("keys %q, restart of node %d: member on node %d got %v, want %d", secret, i, j, got["_raw"], want)
					}
				}
			}
			t.Logf("keys %q: restarted node %d while %d messages went out", secret, i, seq-first)
			join(i)
		}
	}
}
