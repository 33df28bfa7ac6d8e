package node_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

// TestStart_TakenPortFailsFast: a node whose embedded NATS port, WebSocket
// port or gossip port is taken refuses to start at once, naming the port
// and the setting that moves it.
func TestStart_TakenPortFailsFast(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	tests := []struct {
		name string
		set  func(c *config.Config)
		want []string
	}{
		{"nats client", func(c *config.Config) { c.NATS.Listen = addr }, []string{"embedded NATS client port " + addr + " is already in use", "-nats-listen"}},
		{"websocket", func(c *config.Config) { c.WebSocket.Host = "127.0.0.1"; c.WebSocket.Port, _ = strconv.Atoi(port) }, []string{"WebSocket port " + addr + " is already in use", "-port"}},
		{"gossip", func(c *config.Config) { c.Cluster.Bind = addr; c.Cluster.Secret = hubtest.ClusterSecret }, []string{"gossip port " + addr + " is already in use", "-gossip-bind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hubtest.Config(t)
			tt.set(cfg)
			n, err := node.New(cfg, hubtest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = n.Start(context.Background())
			if err == nil {
				n.Shutdown(context.Background())
				t.Fatal("Start succeeded with a taken port")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Start took %v to fail, want at once", d)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Start error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A clustered history node whose first boot gives up waiting for its
// bootstrap_expect members (before its NATS starts) fails Start with the
// reason, and leaves nothing behind: its teardown has no NATS to flush.
func TestStart_BootstrapGivesUp(t *testing.T) {
	cfg := historyConfig(t, 100, namespace.StorageMemory)
	cfg.Cluster.Bind = "127.0.0.1:0"
	cfg.Cluster.Secret = hubtest.ClusterSecret
	cfg.Cluster.BootstrapExpect = 2
	n, err := node.New(cfg, hubtest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = n.Start(ctx)
	if err == nil {
		n.Shutdown(context.Background())
		t.Fatal("Start succeeded without its bootstrap_expect members")
	}
	t.Logf("Start: %v", err)
}
