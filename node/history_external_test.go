package node_test

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
)

// startJetStreamCluster runs 3 clustered JetStream NATS servers in process
// and returns their client URLs, comma-separated.
func startJetStreamCluster(t *testing.T) string {
	t.Helper()
	var routes []string
	for range 3 {
		routes = append(routes, freeAddr(t))
	}
	var urls []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 3 {
		host, port, _ := net.SplitHostPort(routes[i])
		p, _ := strconv.Atoi(port)
		o := &server.Options{ServerName: fmt.Sprintf("js%d", i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(), Cluster: server.ClusterOpts{Name: "ext", Host: host, Port: p}}
		for _, r := range routes {
			u, _ := url.Parse("nats://" + r)
			o.Routes = append(o.Routes, u)
		}
		ns, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		t.Cleanup(ns.Shutdown)
		wg.Go(func() {
			if !ns.ReadyForConnections(10 * time.Second) {
				t.Error("nats server not ready")
				return
			}
			mu.Lock()
			urls = append(urls, ns.ClientURL())
			mu.Unlock()
		})
	}
	wg.Wait()
	return strings.Join(urls, ",")
}

// SPEC §10, Done 5: with an external NATS (a 3-server JetStream cluster),
// the hub creates its R3 stream there; offsets, replay and recovery work as
// with the embedded NATS, across two hub nodes.
func TestHistory_ExternalJetStreamCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-server test")
	}
	urls := startJetStreamCluster(t)
	var nodes []*nodeT
	for i := range 2 {
		c := historyConfig(t, 1000, namespace.StorageFile)
		c.Namespaces[0].History.Replicas = 3
		c.NATS.URL = urls
		n := hubtest.Start(t, c)
		nodes = append(nodes, &nodeT{n.WSURL(), n.HTTPURL()})
		hubtest.Eventually(t, fmt.Sprintf("node %d ready", i), func() bool { ok, _ := n.Ready(); return ok })
		if i == 0 {
			if r := n.StreamReplicas("chat"); r != 3 {
				t.Fatalf("stream replicas %d, want 3", r)
			}
		}
	}
	a := &recoverer{t: t, room: "chat.ext"}
	a.connect(nodes[0].ws)
	a.pump(200 * time.Millisecond)
	var want []int
	for i := 1; i <= 20; i++ {
		if code, _ := hubtest.HTTP(t, "POST", nodes[i%2].http+"/api/rooms/chat.ext/messages", "", strconv.Itoa(i)); code != 202 {
			t.Fatalf("publish %d: %d", i, code)
		}
		want = append(want, i)
		if i == 10 {
			// a drops out and comes back on the other node for the rest.
			end := time.Now().Add(10 * time.Second)
			for a.pump(50*time.Millisecond) && time.Now().Before(end) {
				if len(a.got) == 10 {
					a.cl.Close()
				}
			}
		}
	}
	a.connect(nodes[1].ws)
	for end := time.Now().Add(10 * time.Second); len(a.got) < 20 && time.Now().Before(end); {
		a.pump(100 * time.Millisecond)
	}
	checkExact(t, "the client", a.got, want)
	if last := a.acks[len(a.acks)-1]; last["recovered"] != true {
		t.Fatalf("recovery ack %v, want recovered:true", last["_raw"])
	}
}

type nodeT struct{ ws, http string }
