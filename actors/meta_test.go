package actors

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hubrt/hub/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/events.golden")

// browserHeaders is what a desktop Chrome's upgrade leaves in the events
// (the cookie and the key are private and never kept).
func browserHeaders(host string) map[string][]string {
	return map[string][]string{
		"Host": {host}, "Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Pragma": {"no-cache"},
		"Cache-Control":            {"no-cache"},
		"User-Agent":               {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		"Origin":                   {"http://" + host},
		"Sec-Websocket-Version":    {"13"},
		"Accept-Encoding":          {"gzip, deflate, br, zstd"},
		"Accept-Language":          {"en-US,en;q=0.9,de;q=0.8,fr;q=0.7"},
		"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
	}
}

// goldenMetas are the connections of the golden test: every field of the
// metadata, empty and full, with values JSON must escape.
func goldenMetas() []protocol.ConnMeta {
	return []protocol.ConnMeta{
		{},
		{User: "alice", Peer: "127.0.0.2", Method: "GET", Path: "/ws", Headers: map[string][]string{
			"Host": {"127.0.0.1:8080"}, "Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
		}},
		{User: "bob", Peer: "10.0.0.1, 192.168.1.2, 127.0.0.2", Method: "GET", Path: "/ws", Headers: browserHeaders("hub.example.com")},
		{User: "bob", Peer: "127.0.0.2", Method: "GET", Path: "/ws", Headers: browserHeaders("hub.example.com")},
		{Peer: "::1", Method: "GET", Path: "/ws/acme", Params: map[string]string{"tenant": "acme", "b": "2"},
			Query:   map[string][]string{"v": {"1", "2"}, "empty": {""}, "x y": {"ü\"\\\n\t\x01"}},
			Headers: map[string][]string{"X-Multi": {"a", "b", "c"}, "X-Odd": {"\xff\xfe<>&\u2028"}, "Empty": {}}},
		{User: "carol", Peer: "127.0.0.2", Method: "GET", Path: "/ws", Headers: map[string][]string{"X-Request-Id": {"5f0c1d2e"}}},
		{User: "carol", Peer: "127.0.0.3", Method: "GET", Path: "/ws", Headers: map[string][]string{"X-Request-Id": {"77aa88bb"}}},
	}
}

// TestEvents_Golden holds the connect, message and disconnect events of
// connections with every kind of metadata to the bytes in
// testdata/events.golden (go test -run Golden -update ./actors rewrites it).
func TestEvents_Golden(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	var mu sync.Mutex
	var got bytes.Buffer
	b := &bus{subs: map[string]bool{}}
	s := New(Options{Node: "n1", Bus: b, ClientPublish: true, ClientDirect: true, Now: func() time.Time { return t0 },
		OnEvent: func(event string, payload []byte, reply string) {
			mu.Lock()
			fmt.Fprintf(&got, "%s %s\n", reply, payload)
			mu.Unlock()
		}})
	b.sys = s
	t.Cleanup(s.Shutdown)
	// Twice each, so that shared values are seen again.
	for round := range 2 {
		for i, m := range goldenMetas() {
			c := s.Open(&sink{}, &OpenRequest{ConnMeta: m})
			eventually(t, "the connect event", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return bytes.Contains(got.Bytes(), []byte(`{"event":"connect","time":"2026-12-01T10:00:00.123456789Z","connection_id":"`+c.ID()+`"`))
			})
			room := fmt.Sprintf("r%d", i)
			c.Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, Room: room})
			c.Frame(&protocol.Frame{Type: protocol.TypeMessage, Room: room, Data: []byte(fmt.Sprintf(`{"n":%d}`, round))})
			c.Closed("client_close")
			eventually(t, "the connection to end", func() bool { return s.NumConns() == 0 })
		}
	}
	path := filepath.Join("testdata", "events.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("events differ from %s:\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
	}
}

// The metadata of many connections with the same headers is kept once:
// each connection keeps a few bytes of references, every piece is counted,
// and the table is empty again once they have all ended.
func TestMetaTable_SharesAndEvicts(t *testing.T) {
	s, _ := newSystem(t)
	const n = 200
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i] = s.Open(&sink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{
			User: fmt.Sprintf("u%d", i), Peer: fmt.Sprintf("127.0.0.2:%d", 1000+i), Method: "GET", Path: "/ws",
			Headers: browserHeaders("127.0.0.1:8080"),
		}})
	}
	full := len(protocol.EncodeMeta(&protocol.ConnMeta{Method: "GET", Path: "/ws", Headers: browserHeaders("127.0.0.1:8080")}))
	for i, c := range conns[1:] {
		if len(c.meta) > 48 {
			t.Fatalf("connection %d keeps %d bytes of metadata (%x), want ≤ 48 (the full encoding is %d)", i+1, len(c.meta), c.meta, full)
		}
	}
	pieces, bytes := s.metas.size()
	if pieces == 0 || bytes > full {
		t.Fatalf("table holds %d pieces of %d bytes, want some, at most the %d of one encoding", pieces, bytes, full)
	}
	for _, c := range conns {
		c.Closed("client_close")
	}
	eventually(t, "every connection to end", func() bool { return s.NumConns() == 0 })
	if pieces, bytes := s.metas.size(); pieces != 0 || bytes != 0 {
		t.Fatalf("after every connection ended the table holds %d pieces of %d bytes, want none", pieces, bytes)
	}
}

// What the table gives back is what protocol.AppendMetaTail encodes,
// whether pieces are shared, written out, evicted or refused because the
// table is full, with connections opening and ending concurrently.
func TestMetaTable_RoundTrip(t *testing.T) {
	tb := newMetaTable()
	tb.maxPieces = 40 // full after a few distinct headers
	metas := goldenMetas()
	for i := range 60 {
		metas = append(metas, protocol.ConnMeta{Method: "GET", Path: fmt.Sprintf("/ws/%d", i%7),
			Query:   map[string][]string{"q": {fmt.Sprint(i % 3)}},
			Headers: map[string][]string{"X-A": {fmt.Sprint(i % 5)}, "X-B": {fmt.Sprint(i)}, "User-Agent": {"ua"}}})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var held []string
			for round := range 50 {
				for i := range metas {
					m := &metas[(i+w*7+round)%len(metas)]
					enc := tb.acquire(m)
					want := protocol.AppendMetaTail(nil, m, nil)
					if got := tb.appendMeta(nil, enc); !bytes.Equal(got, want) {
						t.Errorf("appendMeta(acquire(%+v)) =\n%s\nwant\n%s", m, got, want)
						return
					}
					held = append(held, enc)
					if len(held) > 30 {
						tb.release(held[0])
						held = held[1:]
					}
				}
			}
			for _, enc := range held {
				tb.release(enc)
			}
		})
	}
	wg.Wait()
	if pieces, bytes := tb.size(); pieces != 0 || bytes != 0 {
		t.Fatalf("table holds %d pieces of %d bytes after every release, want none", pieces, bytes)
	}
	if tb.next > uint32(tb.maxPieces) {
		t.Fatalf("handed out %d ids, bound %d", tb.next, tb.maxPieces)
	}
}

// An event about a connection is built without allocating beyond the
// buffer it goes into.
func TestConn_AppendEventNoAlloc(t *testing.T) {
	s, _ := newSystem(t)
	for range 2 { // the second connection's pieces are shared
		s.Open(&sink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{Method: "GET", Path: "/ws", Headers: browserHeaders("h")}})
	}
	c := s.Open(&sink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{User: "alice", Peer: "127.0.0.2", Method: "GET", Path: "/ws", Headers: browserHeaders("h")}})
	buf := make([]byte, 0, 4096)
	x := &protocol.EventExtra{Message: []byte(`{"n":1}`), Room: "lobby"}
	if n := testing.AllocsPerRun(100, func() { buf = c.appendEvent(buf[:0], protocol.EventMessage, x) }); n != 0 {
		t.Fatalf("appendEvent allocates %v times, want 0", n)
	}
}

func BenchmarkConn_AppendEvent(b *testing.B) {
	s, _ := newSystem(b)
	for range 2 {
		s.Open(&sink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{Method: "GET", Path: "/ws", Headers: browserHeaders("h")}})
	}
	c := s.Open(&sink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{User: "alice", Peer: "127.0.0.2", Method: "GET", Path: "/ws", Headers: browserHeaders("h")}})
	buf := make([]byte, 0, 4096)
	x := &protocol.EventExtra{Message: []byte(`{"n":1}`), Room: "lobby"}
	b.ReportAllocs()
	for b.Loop() {
		buf = c.appendEvent(buf[:0], protocol.EventMessage, x)
	}
	b.SetBytes(int64(len(buf)))
}

func TestConn_InfoPeer(t *testing.T) {
	s, _ := newSystem(t)
	for _, peer := range []string{"127.0.0.2", "10.0.0.1, 127.0.0.2", "", `we"ird\`} {
		c := s.Open(&sink{}, &OpenRequest{ConnMeta: protocol.ConnMeta{Peer: peer, Method: "GET", Path: "/ws"}})
		if info, ok := s.Info(c.ID()); !ok || info.Peer != peer {
			t.Fatalf("Info(%s) = %+v, %v; want peer %q", c.ID(), info, ok, peer)
		}
	}
}

// An event nobody wants is not published; one that only OnEvent wants
// reaches only OnEvent.
func TestEvents_Wanted(t *testing.T) {
	var mu sync.Mutex
	var local []string
	want := map[string][2]bool{protocol.EventConnect: {true, false}, protocol.EventMessage: {false, true}, protocol.EventDisconnect: {false, false}}
	b := &bus{subs: map[string]bool{}}
	s := New(Options{Node: "n1", Bus: b, ClientPublish: true,
		OnEvent: func(event string, payload []byte, reply string) {
			mu.Lock()
			local = append(local, event)
			mu.Unlock()
		},
		Wanted: func(event string) (bool, bool) { w := want[event]; return w[0], w[1] },
	})
	b.sys = s
	t.Cleanup(s.Shutdown)
	c := s.Open(&sink{}, &OpenRequest{})
	c.Frame(&protocol.Frame{Type: protocol.TypeMessage, Data: []byte(`1`)})
	c.Closed("client_close")
	eventually(t, "the connection to end", func() bool { return s.NumConns() == 0 })
	b.mu.Lock()
	defer b.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(b.events) != "[connect]" || fmt.Sprint(local) != "[message]" {
		t.Fatalf("bus got %v, OnEvent %v; want [connect] and [message]", b.events, local)
	}
}
