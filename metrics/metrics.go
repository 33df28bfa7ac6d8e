// Package metrics holds the hub's Prometheus metrics. Every name starts with
// "hub_". The collectors are package globals registered on Registry, which
// also carries the Go runtime and process collectors (RSS, CPU, open files);
// /metrics serves Registry.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is what /metrics serves.
var Registry = prometheus.NewRegistry()

var (
	Connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_connections", Help: "Open WebSocket connections on this node."})
	ConnectionsAccepted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_connections_accepted_total", Help: "WebSocket connections accepted."})
	SSERejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_sse_rejected_total", Help: "SSE requests refused, by HTTP status."}, []string{"status"})
	Disconnections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_disconnections_total", Help: "Connections ended, by reason."}, []string{"reason"})
	Rooms = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_rooms", Help: "Rooms with at least one member on this node."})
	Users = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_users", Help: "Users with at least one connection on this node."})
	ClientFrames = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_client_frames_total", Help: "Frames received from clients, by type."}, []string{"type"})
	ClientErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_client_errors_total", Help: "Error frames sent to clients, by code."}, []string{"code"})
	Deliveries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_deliveries_total", Help: "Message frames queued to client connections."})
	DeliveriesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_deliveries_dropped_total", Help: "Message frames not queued because the connection was closing or too slow."})
	Routed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_routed_messages_total", Help: "Messages handed to local connections for delivery (from NATS, or from a local client), by target kind."}, []string{"kind"})
	Events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_events_published_total", Help: "Events published for backends, by event."}, []string{"event"})
	EventsUnwanted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_events_unwanted_total", Help: "Events neither encoded nor published: no subscriber on NATS, no flow from a ws source, no backend taking them, by event."}, []string{"event"})
	Replies = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_replies_total", Help: "Backend replies delivered to connections."})
	APIRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_api_requests_total", Help: "HTTP API requests, by route and status."}, []string{"route", "status"})
	FlowMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_flow_messages_total", Help: "Messages carried by each configured flow."}, []string{"flow"})
	ClusterMembers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_cluster_members", Help: "Alive members of the gossip cluster, this node included."})
	NATSConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_nats_connected", Help: "1 while the node's NATS connection is up."})
	NATSSubscriptions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_nats_subscriptions", Help: "NATS subscriptions this node holds for rooms, users and itself."})
	NATSErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_nats_errors_total", Help: "Errors reported by the NATS connection (publish failures, permission errors, disconnects)."})
	HistoryRecoveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_history_recoveries_total",
		Help: "Joins to history rooms that asked to recover, by outcome: cache, store (replayed, recovered:true), trimmed (recovered:false), error (store unavailable).",
	}, []string{"outcome"})
	HistoryGaps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_history_gaps_total",
		Help: "Live stored messages that showed a gap (a lost republish), filled from the store.",
	})
	HistoryDuplicates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_history_duplicates_total",
		Help: "Live stored messages dropped because the room's members already had them.",
	})
	HistoryResyncs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_history_resyncs_total",
		Help: "resync frames sent to a room's members: a hole in its history the hub could not fill.",
	})
	HistoryReads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_history_reads_total",
		Help: "Reads of a history room's messages from the store for its members: the recovering joins waiting at the time, or a gap.",
	})
	HistoryPublishes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_history_publishes_total",
		Help: "Messages to history rooms, by result: stored or refused (not stored, not delivered).",
	}, []string{"result"})
	FanoutSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hub_fanout_seconds", Help: "Time from a message reaching the node to its frame being queued to every local member.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}})
	NATSDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_nats_dropped_total", Help: "Messages NATS dropped for this node because it fell behind."})
	SlowConsumers = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_slow_consumers_total", Help: "Connections closed because their write queue overflowed."})
	BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hub_build_info", Help: "Always 1; labels say the version and node."}, []string{"version", "node"})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "hub"}),
		Connections, ConnectionsAccepted, SSERejected, Disconnections, Rooms, Users,
		ClientFrames, ClientErrors, Deliveries, DeliveriesDropped, Routed, Events, EventsUnwanted, Replies,
		APIRequests, FlowMessages, ClusterMembers, NATSConnected, NATSSubscriptions, NATSDropped, NATSErrors, FanoutSeconds,
		HistoryRecoveries, HistoryGaps, HistoryDuplicates, HistoryResyncs, HistoryPublishes, HistoryReads,
		SlowConsumers, BuildInfo,
	)
}

// Metrics of the HTTP backends (and of proxies over NATS), by connector.
var (
	BackendRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_backend_requests_total", Help: "Requests to backends, by connector, event (connect, join, message, webhook) and outcome (2xx, 4xx, 5xx, error)."},
		[]string{"connector", "event", "outcome"})
	BackendLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hub_backend_request_seconds", Help: "Time from a request to a backend to its answer (or failure), by connector.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"connector"})
	BackendErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_backend_errors_total", Help: "Failed requests to backends, by connector and kind (timeout, unavailable, overloaded, status, bad_response, rejected)."},
		[]string{"connector", "kind"})
	BackendQueueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hub_backend_queue_depth", Help: "Events waiting to be posted to a backend on this node, by connector and queue (webhook, message)."},
		[]string{"connector", "queue"})
	BackendRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_backend_retries_total", Help: "Webhook requests sent again after a failure, by connector."}, []string{"connector"})
	BackendDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_backend_dropped_total", Help: "Events given up on, by connector and reason (overflow: the queue was full; expired: retried for retry_for; rejected: a 4xx answer; shutdown: not drained in time)."},
		[]string{"connector", "reason"})
)

func init() {
	Registry.MustRegister(BackendRequests, BackendLatency, BackendErrors, BackendQueueDepth, BackendRetries, BackendDropped)
}

// Metrics of presence (package presence).
var (
	PresenceRooms = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_presence_rooms", Help: "Presence rooms this node watches (local members, owner or standby)."})
	PresenceMembers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hub_presence_members", Help: "Connections of this node in presence rooms."})
	PresenceMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_presence_messages_total", Help: "Presence messages between nodes, by kind (diff_out, diff_in, request, slice_out, slice_in)."}, []string{"kind"})
	PresenceGaps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_presence_gaps_total", Help: "Lost presence diffs detected (each fetches the node's slice again)."})
	PresenceFrames = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_presence_frames_total", Help: "Presence frames (join, leave, presence_diff, presence answers) handed to local rooms or connections."})
)

func init() {
	Registry.MustRegister(PresenceRooms, PresenceMembers, PresenceMessages, PresenceGaps, PresenceFrames)
}

func init() {
	// The events every node can publish start at zero, so that a dashboard
	// shows 0 rather than no data on a node whose events nobody wants.
	for _, e := range []string{"connect", "message", "disconnect"} {
		Events.WithLabelValues(e)
		EventsUnwanted.WithLabelValues(e)
	}
	for _, k := range []string{"diff_out", "diff_in", "request", "slice_out", "slice_in"} {
		PresenceMessages.WithLabelValues(k)
	}
}
