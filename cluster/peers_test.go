package cluster

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A server with clustered JetStream gets the system user, and a client
// port that was open stays open: a client without credentials still
// connects and publishes, while the system user reads the meta group.
// Without clustered JetStream there is no system user.
func TestEmbedded_SystemUserKeepsAnOpenPortOpen(t *testing.T) {
	route, route2 := freeAddr(t), freeAddr(t)
	e, err := StartEmbedded(EmbeddedOptions{Name: "s1", Listen: "127.0.0.1:0", ClusterListen: route,
		Routes: []string{route2}, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	e2, err := StartEmbedded(EmbeddedOptions{Name: "s2", Listen: "127.0.0.1:0", ClusterListen: route2,
		Routes: []string{route}, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Shutdown()
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatalf("a client without credentials: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("a round trip through the open port: %v", err)
	}
	var meta *JSMeta
	for end := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		meta, err = e.JetStreamMeta(ctx)
		cancel()
		if err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil || len(meta.Peers) != 2 {
		t.Fatalf("meta %+v, %v", meta, err)
	}
	// Routes change after the reload that added the user: still open.
	if err := e.SetRoutes([]string{route2}); err != nil {
		t.Fatal(err)
	}
	nc2, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatalf("after a routes reload: %v", err)
	}
	nc2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.RemovePeer(ctx, "nope"); !errors.Is(err, ErrNotPeer) {
		t.Fatalf("removing an unknown peer: %v", err)
	}

	plain, err := StartEmbedded(EmbeddedOptions{Name: "s3", Listen: "127.0.0.1:0", JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown()
	if _, err := plain.JetStreamMeta(context.Background()); !errors.Is(err, ErrNoSystemUser) {
		t.Fatalf("standalone JetStream: %v", err)
	}
}

// With users configured, the system user is one more: the hub's own user
// still signs in, a client without credentials does not.
func TestEmbedded_SystemUserBesideUsers(t *testing.T) {
	route := freeAddr(t)
	e, err := StartEmbedded(EmbeddedOptions{Name: "s1", Listen: "127.0.0.1:0", ClusterListen: route,
		Routes: []string{route}, JetStream: true, StoreDir: t.TempDir(),
		Clients: []ClientUser{{Name: HubUser, Password: "pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	if nc, err := nats.Connect(e.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected")
	}
	nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(HubUser, "pw"))
	if err != nil {
		t.Fatalf("the hub user: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(SystemUser, "guess")); err == nil {
		nc.Close()
		t.Fatal("the system user with a guessed password connected")
	}
}
