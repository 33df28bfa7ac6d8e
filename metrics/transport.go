package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubrt/hub/gateway"
)

// The WebSocket transport counts in its own atomics (gateway.Stats); this
// collector reads them at scrape time, summed over the gateways of the
// process (one in production, several in tests).
var transport = &transportCollector{sources: map[*gateway.Server]struct{}{}}

func init() { Registry.MustRegister(transport) }

// AddGateway adds a gateway's counters to /metrics; RemoveGateway takes
// them away (its counts so far stay in the totals).
func AddGateway(s *gateway.Server) {
	transport.mu.Lock()
	transport.sources[s] = struct{}{}
	transport.mu.Unlock()
}

// RemoveGateway stops reading s, keeping what it counted.
func RemoveGateway(s *gateway.Server) {
	transport.mu.Lock()
	if _, ok := transport.sources[s]; ok {
		transport.gone = add(transport.gone, s.Stats())
		delete(transport.sources, s)
	}
	transport.mu.Unlock()
}

type transportCollector struct {
	mu      sync.Mutex
	sources map[*gateway.Server]struct{}
	gone    gateway.Stats
}

var (
	descFramesIn  = prometheus.NewDesc("hub_frames_received_total", "WebSocket frames received from clients.", nil, nil)
	descFramesOut = prometheus.NewDesc("hub_frames_sent_total", "WebSocket frames sent to clients.", nil, nil)
	descBytesIn   = prometheus.NewDesc("hub_bytes_received_total", "Bytes received from WebSocket clients.", nil, nil)
	descBytesOut  = prometheus.NewDesc("hub_bytes_sent_total", "Bytes sent to WebSocket clients.", nil, nil)
	descWrites    = prometheus.NewDesc("hub_socket_writes_total", "write(2) calls to client sockets; frames_sent/socket_writes is the coalescing factor.", nil, nil)
	descRejected  = prometheus.NewDesc("hub_upgrades_rejected_total", "WebSocket upgrades refused, by reason (limits, origin, auth, draining).", []string{"reason"}, nil)
	descClosed    = prometheus.NewDesc("hub_transport_closed_total", "WebSocket connections closed by the transport, by reason.", []string{"reason"}, nil)
	descDeflate   = prometheus.NewDesc("hub_compression_negotiated_total", "WebSocket upgrades that negotiated permessage-deflate.", nil, nil)
	descCompress  = prometheus.NewDesc("hub_compressions_total", "Outbound messages compressed with permessage-deflate: one per message per node, however many members get it.", nil, nil)
)

func (c *transportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFramesIn, descFramesOut, descBytesIn, descBytesOut, descWrites, descRejected, descClosed, descDeflate, descCompress} {
		ch <- d
	}
}

func (c *transportCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sum := add(gateway.Stats{}, c.gone)
	for s := range c.sources {
		sum = add(sum, s.Stats())
	}
	c.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descFramesIn, sum.FramesIn)
	counter(descFramesOut, sum.FramesOut)
	counter(descBytesIn, sum.BytesIn)
	counter(descBytesOut, sum.BytesOut)
	counter(descWrites, sum.Writes)
	counter(descDeflate, sum.Deflate)
	counter(descCompress, sum.Compressions)
	for _, r := range []string{gateway.RejectDraining, gateway.RejectBadRequest, gateway.RejectMaxConns,
		gateway.RejectMaxPerIP, gateway.RejectOrigin, gateway.RejectAuth, gateway.RejectHandshake, gateway.RejectBusy} {
		counter(descRejected, sum.Rejected[r], r)
	}
	for r, v := range sum.Closed {
		counter(descClosed, v, r)
	}
}

func add(a, b gateway.Stats) gateway.Stats {
	out := gateway.Stats{
		Accepted: a.Accepted + b.Accepted, BytesIn: a.BytesIn + b.BytesIn, BytesOut: a.BytesOut + b.BytesOut,
		FramesIn: a.FramesIn + b.FramesIn, FramesOut: a.FramesOut + b.FramesOut, Writes: a.Writes + b.Writes,
		SlowConsumers: a.SlowConsumers + b.SlowConsumers,
		Deflate:       a.Deflate + b.Deflate, Compressions: a.Compressions + b.Compressions,
		Rejected: map[string]uint64{}, Closed: map[string]uint64{},
	}
	for _, m := range []map[string]uint64{a.Rejected, b.Rejected} {
		for k, v := range m {
			out.Rejected[k] += v
		}
	}
	for _, m := range []map[string]uint64{a.Closed, b.Closed} {
		for k, v := range m {
			out.Closed[k] += v
		}
	}
	return out
}
