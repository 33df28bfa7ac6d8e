// Command presencestorm is the client side of the presence join storm
// (cmd/hub's TestProcessPresenceJoinStorm): it opens -n WebSocket
// connections spread over -urls, paced evenly over -over, each joining
// -room as user <-prefix><i>, and counts the presence frames (join, leave,
// presence_diff) each receives. It is a separate process built without
// the race detector so that the storm's O(N²) bytes (every member learns
// every later join) cost what they cost a real client, not the test's.
//
// It prints one JSON line when every connection has joined and no
// presence frame arrived for -quiet:
//
//	{"members":5000,"dial_ms":2013,"frames_max":24,"frames_mean":13.2,"joins_max":4999,"bytes":262144000,"errors":0}
//
// then keeps the connections open until its stdin closes, and exits.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

type member struct {
	frames atomic.Int64 // presence frames
	joins  atomic.Int64 // users those frames said joined
}

func main() {
	urls := flag.String("urls", "", "comma-separated WebSocket URLs (ws://host:port/ws); connection i goes to url i mod len")
	room := flag.String("room", "chat.storm", "the room every connection joins")
	n := flag.Int("n", 5000, "connections")
	over := flag.Duration("over", 2*time.Second, "the joins are paced evenly over this long")
	prefix := flag.String("prefix", "s", "user names are prefix + index")
	quiet := flag.Duration("quiet", time.Second, "report once no presence frame came for this long")
	src := flag.String("src", "127.0.0.2", "source address of the connections")
	flag.Parse()
	targets := strings.Split(*urls, ",")
	if *urls == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "presencestorm: -urls and -n are required")
		os.Exit(2)
	}
	d := ws.Dialer{Timeout: 10 * time.Second, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*src)}, Timeout: 10 * time.Second}
		return nd.DialContext(ctx, network, addr)
	}}
	members := make([]member, *n)
	conns := make([]net.Conn, *n)
	var last atomic.Int64 // unix nanoseconds of the last presence frame
	var bytesIn, errs atomic.Int64
	start := time.Now()
	last.Store(start.UnixNano())
	var wg sync.WaitGroup
	const dialers = 200
	for k := 0; k < dialers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < *n; i += dialers {
				if wait := time.Until(start.Add(time.Duration(i) * *over / time.Duration(*n))); wait > 0 {
					time.Sleep(wait)
				}
				u := targets[i%len(targets)] + "?user=" + *prefix + fmt.Sprint(i)
				c, br, _, err := d.Dial(context.Background(), u)
				if err != nil {
					errs.Add(1)
					fmt.Fprintln(os.Stderr, "presencestorm: dial:", err)
					continue
				}
				frame := fmt.Sprintf(`{"type":"join_room","room":%q}`, *room)
				if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewTextFrame([]byte(frame)))); err != nil {
					errs.Add(1)
					_ = c.Close()
					continue
				}
				conns[i] = c
				var r io.Reader = c
				if br != nil {
					r = io.MultiReader(br, c)
				}
				go read(c, bufio.NewReaderSize(r, 32<<10), &members[i], &last, &bytesIn)
			}
		}()
	}
	wg.Wait()
	dialed := time.Since(start)
	for time.Since(time.Unix(0, last.Load())) < *quiet {
		time.Sleep(50 * time.Millisecond)
	}
	var fmax, jmax, sum int64
	for i := range members {
		f := members[i].frames.Load()
		sum += f
		fmax = max(fmax, f)
		jmax = max(jmax, members[i].joins.Load())
	}
	out, _ := json.Marshal(map[string]any{
		"members": *n, "dial_ms": dialed.Milliseconds(), "frames_max": fmax,
		"frames_mean": float64(sum) / float64(*n), "joins_max": jmax,
		"bytes": bytesIn.Load(), "errors": errs.Load(),
	})
	fmt.Println(string(out))
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

var (
	typeJoin  = []byte(`{"type":"join"`)
	typeLeave = []byte(`{"type":"leave"`)
	typeDiff  = []byte(`{"type":"presence_diff"`)
	userKey   = []byte(`"user":`)
	joinsKey  = []byte(`"joins":[`)
	leavesKey = []byte(`"leaves":`)
)

// read reads frames until the connection ends; it answers pings and counts
// presence frames, and the joins in them, without decoding the JSON.
func read(c net.Conn, r *bufio.Reader, m *member, last, bytesIn *atomic.Int64) {
	var buf []byte
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			return
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(r, p); err != nil {
			return
		}
		bytesIn.Add(h.Length)
		switch h.OpCode {
		case ws.OpPing:
			_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewPongFrame(p)))
			continue
		case ws.OpClose:
			return
		}
		switch {
		case bytes.HasPrefix(p, typeJoin):
			m.joins.Add(1)
		case bytes.HasPrefix(p, typeLeave):
		case bytes.HasPrefix(p, typeDiff):
			// The joins' users come before "leaves" (protocol.EncodePresenceDiff).
			if i := bytes.Index(p, joinsKey); i >= 0 {
				q := p[i:]
				if j := bytes.Index(q, leavesKey); j >= 0 {
					q = q[:j]
				}
				m.joins.Add(int64(bytes.Count(q, userKey)))
			}
		default:
			continue
		}
		m.frames.Add(1)
		last.Store(time.Now().UnixNano())
	}
}
