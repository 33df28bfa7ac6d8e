package metrics

import "github.com/prometheus/client_golang/prometheus"

// Presence metrics (package presence).
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
