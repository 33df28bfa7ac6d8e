package node_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// value returns the sum of a metric's samples whose line matches re.
func value(text, re string) float64 {
	sum := 0.0
	for _, m := range regexp.MustCompile(`(?m)^`+re+`(?:\{[^}]*\})? ([0-9.e+-]+)$`).FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}

func TestMetrics(t *testing.T) {
	c := hubtest.Config(t)
	c.WebSocket.AllowedOrigins = []string{"https://ok.example"}
	n := hubtest.Start(t, c)
	before := scrape(t, n.HTTPURL())
	for _, name := range []string{
		"hub_connections", "hub_connections_accepted_total", "hub_rooms", "hub_users", "hub_cluster_members",
		"hub_nats_connected", "hub_nats_subscriptions", "hub_frames_received_total", "hub_frames_sent_total",
		"hub_bytes_received_total", "hub_bytes_sent_total", "hub_socket_writes_total", "hub_upgrades_rejected_total",
		"hub_process_resident_memory_bytes", "hub_process_cpu_seconds_total", "go_goroutines", "hub_build_info",
		"hub_fanout_seconds_bucket",
	} {
		if !regexp.MustCompile(`(?m)^` + name + `[ {]`).MatchString(before) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// A backend subscribes: events nobody subscribes to are not published.
	hubtest.Events(t, hubtest.NATS(t, n.NATSURL()), "hub.events.>")
	a := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	b := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	a.Join("r")
	b.Join("r")
	a.Send(`{"type":"message","room":"r","data":1}`)
	b.Expect("message")
	a.Send(`{"type":"nope"}`)
	a.Expect("error")
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/r/messages", "", `2`)
	a.Expect("message")
	b.Expect("message")
	if _, status, _ := hubtest.TryDial(t, n.WSURL(), http.Header{"Origin": {"https://evil.example"}}); status != 403 {
		t.Fatalf("origin refusal: %d", status)
	}
	b.Close()
	b.Closed()
	hubtest.Eventually(t, "bob's disconnect to be counted", func() bool {
		return value(scrape(t, n.HTTPURL()), `hub_disconnections_total\{reason="client_close"\}`) >= 1
	})
	after := scrape(t, n.HTTPURL())
	for _, name := range []string{
		"hub_connections_accepted_total", `hub_client_frames_total\{type="join_room"\}`, `hub_client_errors_total\{code="101"\}`,
		"hub_deliveries_total", "hub_frames_received_total", "hub_frames_sent_total", "hub_bytes_sent_total",
		"hub_socket_writes_total", `hub_upgrades_rejected_total\{reason="origin"\}`, `hub_routed_messages_total\{kind="room"\}`,
		`hub_events_published_total\{event="message"\}`, "hub_fanout_seconds_count", `hub_api_requests_total\{route="room_messages",status="202"\}`,
	} {
		if value(after, name) <= value(before, name) {
			t.Errorf("%s did not move: %v → %v", name, value(before, name), value(after, name))
		}
	}
}
