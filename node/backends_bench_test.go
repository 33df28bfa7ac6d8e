package node_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
)

// BenchmarkBackends_Connect measures what a connect proxy adds to each
// connection: a WebSocket upgrade and close from 127.0.0.2, without a
// proxy, and with one on a local HTTP backend that accepts (204) or
// answers a user and a server-side join.
//
//	go test -run '^$' -bench Backends_Connect -benchtime 2000x -count 6 ./node
func BenchmarkBackends_Connect(b *testing.B) {
	for _, bc := range []struct{ name, answer string }{{"proxy=none", ""}, {"proxy=http-204", "204"}, {"proxy=http-user-join", "join"}} {
		b.Run(bc.name, func(b *testing.B) {
			c := hubtest.Config(b)
			c.Node.LogLevel = "error"
			if bc.answer != "" {
				be := startBenchBackend(b, func(w http.ResponseWriter, r *http.Request) {
					if bc.answer == "204" {
						w.WriteHeader(204)
						return
					}
					io.WriteString(w, `{"user":"bench","join":["lobby"]}`)
				})
				addConnector(b, c, "bench", be)
				c.Proxies = []config.Proxy{{Kind: config.ProxyConnect, Connector: "bench", Target: "/connect", OnError: config.OnErrorRefuse}}
			}
			n := hubtest.Start(b, c)
			url := n.WSURL()
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				conn, err := hubtest.TryRawDial(url, nil)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
			cpu.report(b)
			b.StopTimer()
			hubtest.Eventually(b, "connections closed", func() bool { return n.NumConns() == 0 })
		})
	}
}

// BenchmarkBackends_Message measures one message and its reply, round
// trip from the client: answered by a NATS backend on the event's reply
// subject, and by an HTTP backend in its response (a message flow).
//
//	go test -run '^$' -bench Backends_Message -benchtime 3s -count 6 ./node
func BenchmarkBackends_Message(b *testing.B) {
	for _, kind := range []string{"nats-reply", "http-flow"} {
		b.Run(kind, func(b *testing.B) {
			c := hubtest.Config(b)
			c.Node.LogLevel = "error"
			c.WebSocket.MaxMessagesPerSecond = 0
			if kind == "http-flow" {
				be := startBenchBackend(b, func(w http.ResponseWriter, r *http.Request) {
					io.WriteString(w, `{"body":"pong"}`)
				})
				addConnector(b, c, "bench", be)
				c.Flows = append(c.Flows, httpFlow("bench", "message", "bench", "/messages"))
			}
			n := hubtest.Start(b, c)
			if kind == "nats-reply" {
				nc := hubtest.NATS(b, n.NATSURL())
				if _, err := nc.Subscribe("hub.events.message", func(m *nats.Msg) { _ = m.Respond([]byte(`{"body":"pong"}`)) }); err != nil {
					b.Fatal(err)
				}
				_ = nc.Flush()
			}
			conn := hubtest.RawDial(b, n.WSURL(), nil)
			msg := []byte(`{"type":"message","data":"ping"}`)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if err := conn.WriteText(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := conn.ReadText(5 * time.Second); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

func startBenchBackend(b *testing.B, h http.HandlerFunc) string {
	srv := newHTTPServer(h)
	b.Cleanup(srv.Close)
	return srv.URL
}

func addConnector(tb testing.TB, c *config.Config, name, url string) {
	key := fmt.Sprintf("%s/%s.key", tb.TempDir(), name)
	if err := writeFile(key, backendSecret); err != nil {
		tb.Fatal(err)
	}
	c.HTTP = append(c.HTTP, config.HTTPConnector{Name: name, URL: url, SecretFile: key, Timeout: 2 * time.Second,
		MaxInFlight: 64, Batch: 1, QueueSize: 10000, RetryFor: time.Minute})
}

// cpuMeter reads the process's CPU time (user and system): the node, the
// client and the in-process backend together, which on a shared machine
// is steadier than the wall time.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-m.start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}
