package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse_Backends(t *testing.T) {
	src := `connector "app" {
  type          = "http"
  url           = "https://app.internal/hub"
  secret_file   = "/etc/hub/backend.key"
  timeout       = "3s"
  max_in_flight = 16
  batch         = 50
}
connector "audit" { type = "http" url = "http://127.0.0.1:9000" secret_file = "k" }
proxy "connect" { connector = "app" target = "/connect" on_error = "allow" }
proxy "join"    { connector = "bus" target = "app.join" rooms = ["private.>"] }
flow "chat_to_app" {
  from { connector = "ws"  operation = "message" }
  to   { connector = "app" target = "/messages" }
}
flow "audit" {
  from { connector = "ws"    operation = "disconnect" }
  to   { connector = "audit" target = "/events" }
}
`
	c, err := Parse([]byte(src), "b.hcl")
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := []HTTPConnector{
		{Name: "app", URL: "https://app.internal/hub", SecretFile: "/etc/hub/backend.key", Timeout: 3 * time.Second,
			MaxInFlight: 16, Batch: 50, QueueSize: 10000, RetryFor: time.Minute, Pos: "b.hcl:1"},
		{Name: "audit", URL: "http://127.0.0.1:9000", SecretFile: "k", Timeout: 2 * time.Second,
			MaxInFlight: 64, Batch: 1, QueueSize: 10000, RetryFor: time.Minute, Pos: "b.hcl:9"},
	}
	if !reflect.DeepEqual(c.HTTP, want) {
		t.Errorf("HTTP = %+v\nwant %+v", c.HTTP, want)
	}
	wantP := []Proxy{
		{Kind: "connect", Connector: "app", Target: "/connect", OnError: "allow", Pos: "b.hcl:10"},
		{Kind: "join", Connector: "bus", Target: "app.join", OnError: "refuse", Rooms: []string{"private.>"}, Pos: "b.hcl:11"},
	}
	if !reflect.DeepEqual(c.Proxies, wantP) {
		t.Errorf("Proxies = %+v\nwant %+v", c.Proxies, wantP)
	}
	if c.Flows[0].To.Kind != KindHTTP || c.Flows[1].To.Kind != KindHTTP || c.Flows[1].To.Target != "/events" {
		t.Errorf("flows = %+v", c.Flows)
	}
	if c.Proxy(ProxyJoin) == nil || c.HTTPConnector("audit") == nil || c.HTTPConnector("nope") != nil {
		t.Error("lookups failed")
	}
	r := c.Redacted()
	r.Proxies[1].Rooms[0] = "x"
	if c.Proxies[1].Rooms[0] != "private.>" {
		t.Error("Redacted shares the rooms slice")
	}
}

func TestParse_BackendErrors(t *testing.T) {
	const app = "connector \"app\" {\n  type = \"http\"\n  url = \"http://a\"\n  secret_file = \"k\"\n}\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"no url", "connector \"app\" {\n  type = \"http\"\n  secret_file = \"k\"\n}\n", []string{"e.hcl:1,1-16: Missing URL"}},
		{"bad url", "connector \"app\" {\n  type = \"http\"\n  url = \"ftp://a\"\n  secret_file = \"k\"\n}\n", []string{"e.hcl:3,9-18: Invalid URL"}},
		{"no secret", "connector \"app\" {\n  type = \"http\"\n  url = \"http://a\"\n}\n", []string{"e.hcl:1,1-16: Missing secret file"}},
		{"zero timeout", "connector \"app\" {\n  type = \"http\"\n  url = \"http://a\"\n  secret_file = \"k\"\n  timeout = \"0s\"\n}\n", []string{"e.hcl:5,13-17: Invalid timeout"}},
		{"batch", "connector \"app\" {\n  type = \"http\"\n  url = \"http://a\"\n  secret_file = \"k\"\n  batch = 0\n}\n", []string{"e.hcl:5,11-12: Invalid batch"}},
		{"unknown attr", "connector \"app\" {\n  type = \"http\"\n  url = \"http://a\"\n  secret_file = \"k\"\n  port = 1\n}\n", []string{"e.hcl:5,3-7: Unsupported argument"}},
		{"name taken", "connector \"ws\" {\n  type = \"http\"\n  url = \"http://a\"\n  secret_file = \"k\"\n}\n", []string{"Duplicate connector name"}},
		{"proxy kind", app + "proxy \"rpc\" {\n  connector = \"app\"\n}\n", []string{"e.hcl:6,7-12: Unknown proxy"}},
		{"proxy twice", app + "proxy \"connect\" {\n  connector = \"app\"\n  target = \"/c\"\n}\nproxy \"connect\" {\n  connector = \"app\"\n  target = \"/c\"\n}\n", []string{"e.hcl:10,1-16: Duplicate proxy block"}},
		{"proxy connector", app + "proxy \"connect\" {\n  connector = \"nope\"\n  target = \"/c\"\n}\n", []string{"e.hcl:7,15-21: Unknown connector"}},
		{"proxy target", app + "proxy \"connect\" {\n  connector = \"app\"\n  target = \"c\"\n}\n", []string{"e.hcl:8,12-15: Invalid target"}},
		{"proxy nats target", "proxy \"connect\" {\n  connector = \"bus\"\n  target = \"a.*\"\n}\n", []string{"e.hcl:3,12-17: Invalid target"}},
		{"on_error", app + "proxy \"connect\" {\n  connector = \"app\"\n  target = \"/c\"\n  on_error = \"ignore\"\n}\n", []string{"e.hcl:9,14-22: Invalid on_error"}},
		{"join rooms", app + "proxy \"join\" {\n  connector = \"app\"\n  target = \"/j\"\n}\n", []string{"e.hcl:6,1-13: Missing rooms"}},
		{"join pattern", app + "proxy \"join\" {\n  connector = \"app\"\n  target = \"/j\"\n  rooms = [\"a.>.b\"]\n}\n", []string{"e.hcl:9,11-20: Invalid room pattern"}},
		{"rooms on connect", app + "proxy \"connect\" {\n  connector = \"app\"\n  target = \"/c\"\n  rooms = [\"a\"]\n}\n", []string{"e.hcl:9,3-8: Unsupported argument"}},
		{"flow target", app + "flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"app\" target = \"x\" }\n}\n", []string{"e.hcl:8,", "Invalid target"}},
		{"flow from http", app + "flow \"f\" {\n  from { connector = \"app\" operation = \"message\" }\n  to { connector = \"ws\" operation = \"broadcast\" }\n}\n", []string{"Invalid flow direction", "only takes flows from websocket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "e.hcl")
			if err == nil {
				t.Fatalf("Parse(%q) = nil, want an error", tt.src)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) = %q, want it to contain %q", tt.src, err, w)
				}
			}
		})
	}
}
