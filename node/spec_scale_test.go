package node_test

// The design regression test of issue 2: idle connections hold no goroutine.

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/hubrt/hub/internal/hubtest"
)

// scaleConn is a client connection and the reader of its frames.
type scaleConn struct {
	net.Conn
	rw io.ReadWriter
}

// openJoined dials url, joins room and waits for the acknowledgement. It
// starts no goroutine that outlives it.
func openJoined(url, room string) (*scaleConn, error) {
	conn, br, _, err := hubtest.Dialer.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	c := &scaleConn{Conn: conn, rw: struct {
		io.Reader
		io.Writer
	}{r, conn}}
	fail := func(err error) (*scaleConn, error) { conn.Close(); return nil, err }
	if err := wsutil.WriteClientText(conn, []byte(`{"type":"join_room","room":"`+room+`","id":1}`)); err != nil {
		return fail(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(hubtest.Wait))
	p, op, err := wsutil.ReadServerData(c.rw)
	if err != nil {
		return fail(err)
	}
	if op != ws.OpText || string(p) != `{"type":"ack","id":1}` {
		return fail(fmt.Errorf("join %s: got %q", room, p))
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c, nil
}

func TestScale_NoGoroutinePerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections; skipped with -short")
	}
	const conns, rooms, dialers = 2000, 50, 8
	// Budget for everything that is not per connection: NATS, workers,
	// flushers, HTTP, and runtime noise.
	const slack = 100

	n := startNode(t, nil)
	// Let the node settle, then count.
	hubtest.Eventually(t, "node ready", func() bool { ok, _ := n.Ready(); return ok })
	base := runtime.NumGoroutine()

	start := time.Now()
	all := make([]*scaleConn, conns)
	errs := make(chan error, dialers)
	var wg sync.WaitGroup
	for d := 0; d < dialers; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < conns; i += dialers {
				c, err := openJoined(n.WSURL(), fmt.Sprintf("room-%d", i%rooms))
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				all[i] = c
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range all {
			if c != nil {
				c.Close()
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	took := time.Since(start)
	if got := n.NumConns(); got != conns {
		t.Fatalf("node has %d connections, want %d", got, conns)
	}
	_, m := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/room-7", "", "")
	if m["members"] != float64(conns/rooms) {
		t.Fatalf("room-7: %v, want %d members", m, conns/rooms)
	}

	// The dialers have returned; what is left is the node's.
	var now int
	hubtest.Eventually(t, "goroutines settle", func() bool {
		now = runtime.NumGoroutine()
		return now < base+slack
	})
	t.Logf("%d connections in %d rooms (opened and joined in %v): %d goroutines, %d before the first connection (+%d)",
		conns, rooms, took.Round(time.Millisecond), now, base, now-base)

	// Still working: a room message reaches its 40 members.
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/room-3/messages", "", `"tick"`)
	for i := 3; i < conns; i += rooms {
		_ = all[i].SetReadDeadline(time.Now().Add(hubtest.Wait))
		p, _, err := wsutil.ReadServerData(all[i].rw)
		if err != nil || string(p) != `{"type":"message","room":"room-3","data":"tick"}` {
			t.Fatalf("member %d: %q %v", i, p, err)
		}
	}
}
