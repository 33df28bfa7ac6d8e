package node_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// BenchmarkAdmin_Nodes is one GET /api/nodes on a two-node cluster: the
// gather over NATS and both nodes describing themselves.
func BenchmarkAdmin_Nodes(b *testing.B) {
	a := hubtest.Start(b, hubtest.ClusterConfig(b))
	c := hubtest.Start(b, hubtest.ClusterConfig(b, a.GossipAddr()))
	hubtest.Eventually(b, "cluster formed", func() bool {
		return a.ClusterSize() == 2 && c.ClusterSize() == 2 && a.NATSRoutes() == 1
	})
	get := func(n *node.Node) {
		resp, err := http.Get(n.HTTPURL() + "/api/nodes")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	get(a)
	b.ReportAllocs()
	for b.Loop() {
		get(a)
	}
}
