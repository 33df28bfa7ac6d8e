package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

func historyClusterInfo(t *testing.T, url string) node.HistoryCluster {
	t.Helper()
	resp, err := http.Get(url + "/api/history/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hc node.HistoryCluster
	if err := json.NewDecoder(resp.Body).Decode(&hc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/history/cluster: %d %v", resp.StatusCode, err)
	}
	return hc
}

func peerNames(hc node.HistoryCluster) string {
	var names []string
	for _, p := range hc.Peers {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

// streamOn lists the servers holding the chat stream: leader first.
func streamOn(hc node.HistoryCluster) string {
	for _, s := range hc.Streams {
		if s.Namespace == "chat" && s.Leader != "" {
			names := []string{s.Leader}
			for _, f := range s.Followers {
				names = append(names, f.Name)
			}
			return strings.Join(names, ",")
		}
	}
	return ""
}

// A node removed for good (scaling down) leaves the JetStream meta group
// through DELETE /api/history/peers/{node}; the call refuses a live node,
// an unknown one and the node answering. After the removal the stream
// keeps working on the survivors, and a new node that joins takes the
// removed one's place in the meta group and in the stream.
func TestHistoryCluster_PeerRemove(t *testing.T) {
	t0 := time.Now()
	hc := startHistoryCluster(t)
	t.Logf("cluster ready after %v", time.Since(t0))
	url := hc.nodes[0].HTTPURL()
	names := []string{hc.nodes[0].Name(), hc.nodes[1].Name(), hc.nodes[2].Name()}
	info := historyClusterInfo(t, url)
	if info.JetStream != "clustered" || len(info.Peers) != 3 {
		t.Fatalf("cluster info %+v, want 3 clustered peers", info)
	}
	gone := names[2]
	expect := func(method, path string, status int, says string) {
		t.Helper()
		code, m := hubtest.HTTP(t, method, url+path, "", "")
		if code != status || !strings.Contains(m["error"].(string)+"", says) {
			t.Fatalf("%s %s: %d %v, want %d saying %q", method, path, code, m, status, says)
		}
	}
	expect("DELETE", "/api/history/peers/"+gone, 409, "still a live member")
	expect("DELETE", "/api/history/peers/nope", 404, "not a JetStream peer (peers: ")
	expect("DELETE", "/api/history/peers/"+names[0], 409, "the node answering")
	expect("DELETE", "/api/history/peers/a..b", 400, "invalid node name")

	// Scaling down stops the node with SIGTERM: it drains and leaves.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	if err := hc.nodes[2].Shutdown(ctx); err != nil {
		t.Logf("shutdown: %v", err)
	}
	cancel()
	hc.nodes[2] = nil
	t.Logf("stopped after %v", time.Since(t0))
	var code int
	var m map[string]any
	last := ""
	hubtest.Eventually(t, "the stopped node removed", func() bool {
		code, m = hubtest.HTTP(t, "DELETE", url+"/api/history/peers/"+gone, "", "")
		if e, _ := m["error"].(string); code == 409 && e != last {
			t.Logf("%v: %s", time.Since(t0), e)
			last = e
		}
		// 503: the meta group is electing a leader (the node stopped may
		// have led it).
		return code != 409 && code != 503
	})
	if code != 200 || m["status"] != "removed" {
		t.Fatalf("remove %s: %d %v", gone, code, m)
	}
	t.Logf("removed after %v", time.Since(t0))
	for end := time.Now().Add(30 * time.Second); ; {
		info = historyClusterInfo(t, url)
		on := streamOn(info)
		if len(info.Peers) == 2 && !strings.Contains(peerNames(info)+",", gone+",") && len(on) > 0 && !strings.Contains(on+",", gone+",") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after the removal: meta %s, stream on %s: %+v", peerNames(info), on, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("meta %s, stream on %s, replicas %d", peerNames(info), streamOn(info), info.Streams[0].Replicas)
	for i := range 2 {
		code, m := hubtest.HTTP(t, "POST", hc.nodes[i].HTTPURL()+"/api/rooms/chat.after/messages", "", `"x"`)
		if code != 202 || m["offset"] == nil {
			t.Fatalf("publish after the removal: %d %v", code, m)
		}
	}
	expect("DELETE", "/api/history/peers/"+gone, 404, "not a JetStream peer")

	// A new node takes the free place: the meta group has 3 peers again
	// and the stream its third replica.
	c := historyConfig(t, 10000, namespace.StorageFile)
	c.Cluster.Bind = freeAddr(t)
	c.Cluster.Secret = hubtest.ClusterSecret
	c.Cluster.BootstrapExpect = 3
	c.Cluster.Join = []string{hc.cfgs[0].Cluster.Bind, hc.cfgs[1].Cluster.Bind}
	hc.cfgs = append(hc.cfgs, c)
	hc.nodes = append(hc.nodes, nil)
	hc.nodes[3] = hc.start(3)
	hc.waitReady(3)
	fresh := hc.nodes[3].Name()
	hubtest.Eventually(t, "the new node joins the meta group and the stream", func() bool {
		info = historyClusterInfo(t, url)
		return strings.Contains(peerNames(info)+",", fresh+",") && strings.Contains(streamOn(info)+",", fresh+",")
	})
	t.Logf("meta %s, stream on %s after %v", peerNames(info), streamOn(info), time.Since(t0))
}

// Where there is no JetStream peer to remove, the call says why.
func TestHistory_PeerRemoveRefused(t *testing.T) {
	plain := hubtest.Start(t, hubtest.Config(t))
	code, m := hubtest.HTTP(t, "DELETE", plain.HTTPURL()+"/api/history/peers/x", "", "")
	if code != 409 || !strings.Contains(m["error"].(string), "history is off") {
		t.Fatalf("history off: %d %v", code, m)
	}
	single := hubtest.Start(t, historyConfig(t, 10, namespace.StorageMemory))
	code, m = hubtest.HTTP(t, "DELETE", single.HTTPURL()+"/api/history/peers/x", "", "")
	if code != 409 || !strings.Contains(m["error"].(string), "standalone") {
		t.Fatalf("standalone: %d %v", code, m)
	}
	if info := historyClusterInfo(t, single.HTTPURL()); info.JetStream != "standalone" || len(info.Streams) != 1 {
		t.Fatalf("standalone info %+v", info)
	}
	ext, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go ext.Start()
	if !ext.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ext.Shutdown)
	c := historyConfig(t, 10, namespace.StorageMemory)
	c.NATS.URL = ext.ClientURL()
	external := hubtest.Start(t, c)
	code, m = hubtest.HTTP(t, "DELETE", external.HTTPURL()+"/api/history/peers/x", "", "")
	if code != 409 || !strings.Contains(m["error"].(string), "nats server raft peer-remove") {
		t.Fatalf("external: %d %v", code, m)
	}
	// An admin call: with an API key, only with it.
	c = hubtest.Config(t)
	c.Auth.APIKey = "k"
	keyed := hubtest.Start(t, c)
	if code, _ := hubtest.HTTP(t, "DELETE", keyed.HTTPURL()+"/api/history/peers/x", "", ""); code != 401 {
		t.Fatalf("without the key: %d, want 401", code)
	}
	if code, _ := hubtest.HTTP(t, "DELETE", keyed.HTTPURL()+"/api/history/peers/x", "k", ""); code != 409 {
		t.Fatalf("with the key: %d, want 409", code)
	}
}
