package history_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hubrt/hub/history"
	"github.com/hubrt/hub/namespace"
)

// A read returns as soon as it has the room's messages up to its last
// offset: a batch that is not full must not wait for the fetch to expire
// (it did: 2 s per read, which every recovering join from the store paid).
func TestRead_DoesNotWaitForAFullBatch(t *testing.T) {
	nc := startJS(t)
	set, _ := namespace.New([]namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"},
		History: &namespace.History{Size: 1000, MaxBytes: -1, Storage: namespace.StorageMemory}}})
	st, err := history.New(history.Config{Conn: nc, Prefix: "hub", Namespaces: set, Create: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// 300 messages: one full batch of 256 and one that is not; another
	// room's messages in between.
	var offs []uint64
	for i := range 300 {
		off, err := st.Publish(ctx, "chat.a", "", "", []byte(`{"i":1}`))
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
		if i%50 == 0 {
			if _, err := st.Publish(ctx, "chat.b", "", "", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Three reads, each of a batch that is not full: waiting for each
	// fetch to expire would take 6 s, far more than the bound.
	start := time.Now()
	for _, from := range []uint64{offs[10], offs[200], offs[299]} {
		r := st.Read(ctx, "chat.a", from, 0)
		if r.Err != nil || !r.Reaches || r.Last != offs[299] || len(r.Msgs) == 0 || r.Msgs[0].Seq != from || r.Msgs[len(r.Msgs)-1].Seq != offs[299] {
			t.Fatalf("read from %d: err %v, reaches %v, last %d, %d msgs", from, r.Err, r.Reaches, r.Last, len(r.Msgs))
		}
		for i, m := range r.Msgs {
			if want := offs[indexOf(offs, from)+i]; m.Seq != want {
				t.Fatalf("read from %d: message %d at offset %d, want %d", from, i, m.Seq, want)
			}
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("three reads took %s: each waited for its fetch to expire", d)
	}
}

func indexOf(s []uint64, v uint64) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
