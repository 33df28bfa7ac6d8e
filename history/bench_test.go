package history_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/history"
	"github.com/hubrt/hub/namespace"
)

// startJS starts a single JetStream server in process and connects to it.
func startJS(b testing.TB) *nats.Conn {
	b.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	b.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// BenchmarkPublish compares one message to a room without history (a core
// NATS publish, flushed) with one stored in a single-server JetStream (R1),
// acknowledged: the cost history adds per message, not per delivery.
func BenchmarkPublish(b *testing.B) {
	data := []byte(`{"text":"hello, room"}`)
	b.Run("core", func(b *testing.B) {
		nc := startJS(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := nc.Publish("hub.room.plain", data); err != nil {
				b.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
	})
	for _, storage := range []namespace.Storage{namespace.StorageMemory, namespace.StorageFile} {
		b.Run("stored-R1-"+string(storage), func(b *testing.B) {
			nc := startJS(b)
			set, _ := namespace.New([]namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"},
				History: &namespace.History{Size: 100, MaxBytes: -1, Storage: storage}}})
			st, err := history.New(history.Config{Conn: nc, Prefix: "hub", Namespaces: set, Create: true, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := st.Publish(ctx, "chat.lobby", "", "", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
