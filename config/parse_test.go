package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"ws addr", c.WSAddr(), "0.0.0.0:8080"},
		{"ws path", c.WebSocket.Path, "/ws"},
		{"ws name", c.WebSocket.Name, "ws"},
		{"nats name", c.NATS.Name, "bus"},
		{"nats url", c.NATS.URL, ""},
		{"nats listen", c.NATS.Listen, "127.0.0.1:4222"},
		{"subject prefix", c.NATS.SubjectPrefix, "hub"},
		{"ping", c.WebSocket.PingInterval, 30 * time.Second},
		{"pong", c.WebSocket.PongTimeout, 10 * time.Second},
		{"max frame", c.WebSocket.MaxFrameBytes, 65536},
		{"rooms", c.WebSocket.MaxRoomsPerConnection, 100},
		{"rate", c.WebSocket.MaxMessagesPerSecond, 50.0},
		{"burst", c.WebSocket.MessageBurst, 100},
		{"queue bytes", c.WebSocket.WriteQueueBytes, 1 << 20},
		{"queue frames", c.WebSocket.WriteQueueFrames, 1024},
		{"compression", c.WebSocket.Compression, false},
		{"compression level", c.WebSocket.CompressionLevel, 1},
		{"compression min bytes", c.WebSocket.CompressionMinBytes, 256},
		{"log level", c.Node.LogLevel, "info"},
		{"log format", c.Node.LogFormat, "auto"},
		{"dev", c.Node.Dev, false},
		{"client publish", c.Node.ClientPublish, true},
		{"client direct", c.Node.ClientDirect, true},
		{"shutdown", c.Node.ShutdownTimeout, 10 * time.Second},
		{"leeway", c.Auth.JWTLeeway, 5 * time.Second},
		{"gossip bind", c.Cluster.Bind, "0.0.0.0:7946"},
		{"rejoin", c.Cluster.RejoinInterval, 10 * time.Second},
		{"metrics", c.Metrics.Listen, ""},
		{"source", c.Source, ""},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if c.Node.Name == "" {
		t.Error("Node.Name is empty, want the host name")
	}
}

func TestParse_SpecExample(t *testing.T) {
	c, err := LoadFile("testdata/spec.hcl")
	if err != nil {
		t.Fatalf("LoadFile(spec.hcl) = %v", err)
	}
	if c.NATS.URL != "nats://nats:4222" || c.WebSocket.Port != 8080 || c.WebSocket.Path != "/ws" {
		t.Errorf("connectors = %+v %+v", c.WebSocket, c.NATS)
	}
	want := []Flow{
		{
			Name: "live_orders",
			From: Endpoint{Connector: "bus", Kind: KindNATS, Operation: "order.updated"},
			To:   Endpoint{Connector: "ws", Kind: KindWebSocket, Operation: "broadcast"},
			Pos:  "testdata/spec.hcl:16",
		},
		{
			Name: "room_notification",
			From: Endpoint{Connector: "bus", Kind: KindNATS, Operation: "room.event"},
			To:   Endpoint{Connector: "ws", Kind: KindWebSocket, Operation: "send_to_room", Target: "input.room", TargetPath: []string{"room"}},
			Pos:  "testdata/spec.hcl:20",
		},
		{
			Name: "handle_chat",
			From: Endpoint{Connector: "ws", Kind: KindWebSocket, Operation: "message"},
			To:   Endpoint{Connector: "bus", Kind: KindNATS, Target: "chat.messages"},
			Pos:  "testdata/spec.hcl:24",
		},
	}
	if !reflect.DeepEqual(c.Flows, want) {
		t.Errorf("Flows =\n%+v\nwant\n%+v", c.Flows, want)
	}
}

// The one-line blocks of SPEC §2 are not native HCL; the rewrite must keep
// every reported position where the user wrote it.
func TestParse_SingleLinePositions(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // substring of the error
	}{
		{
			"bad value after split",
			`flow "f" {
  from { connector = "bus" operation = 5 target = [] }
  to   { connector = "ws"  operation = "broadcast" }
}
`,
			`x.hcl:2,51-53: Unsuitable value type`,
		},
		{
			"unknown attribute after split",
			`flow "f" {
  from { connector = "bus" operation = "a" colour = "red" }
  to   { connector = "ws"  operation = "broadcast" }
}
`,
			`x.hcl:2,44-50: Unsupported argument`,
		},
		{
			"validation after split",
			`flow "f" {
  from { connector = "bus" operation = "a" }
  to   { connector = "ws"  operation = "explode" }
}
`,
			`x.hcl:3,40-49: Invalid operation`,
		},
		{
			"three on one line",
			`connector "ws" { type = "websocket" port = 99999 path = "/x" }`,
			`x.hcl:1,44-49: Invalid port`,
		},
		{
			"no spaces",
			`connector "ws" { type = "websocket"port = 99999 }`,
			`x.hcl:1,43-48: Invalid port`,
		},
		{
			"split line with later lines",
			"flow \"f\" { \n from { connector = \"bus\" operation = \"a\" }\n to { connector = \"ws\" operation = \"broadcast\" }\n}\nnode { log_level = \"loud\" }\n",
			`x.hcl:5,20-26: Invalid log level`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "x.hcl")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestParse_SingleLineForms(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"one attribute", `node { log_level = "debug" }`},
		{"empty block", `node {}`},
		{"multi-line with two per line", "node {\n  log_level = \"debug\" log_format = \"json\"\n}\n"},
		{"comment after", "node { log_level = \"debug\" log_format = \"json\" } # trailing\n"},
		{"block comment", "node { log_level = \"debug\" /* c */ log_format = \"json\" }"},
		{"list and string template", `connector "ws" { type = "websocket" allowed_origins = ["a", "${"b"}"] path = "/ws" }`},
		{"nested object", `cluster { join = [for s in ["a:1"] : s] bind = "0.0.0.0:1" }`},
		{"comma separated", "node {\n  log_level = \"debug\"\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.src), "x.hcl"); err != nil {
				t.Fatalf("Parse(%q) = %v", tt.src, err)
			}
		})
	}
}

func TestParse_AllAttributes(t *testing.T) {
	src := `
node {
  name = "n1"
  dev = true
  log_level = "debug"
  log_format = "json"
  demo = true
  client_publish = false
  client_direct = false
  shutdown_timeout = "3s"
}
connector "front" {
  type = "websocket"
  host = "127.0.0.1"
  port = 9000
  path = "/ws/{tenant}"
  ping_interval = "20s"
  pong_timeout = "5s"
  handshake_timeout = "2s"
  write_timeout = "1s"
  allowed_origins = ["https://a.example", "https://*.b.example"]
  max_frame_bytes = 1024
  max_rooms_per_connection = 7
  max_messages_per_second = 2.5
  message_burst = 3
  max_connections = 1000
  max_connections_per_ip = 10
  max_connections_per_user = 3
  user_limit_policy = "close_oldest"
  max_connection_age = "1h"
  write_queue_bytes = 4096
  write_queue_frames = 16
  compression = true
  compression_level = 6
  compression_min_bytes = 100
  max_inflated_bytes = 1000000
  gateway = "portable"
}
connector "nats" {
  type = "nats"
  url = "nats://u:p@n1:4222,nats://n2:4222"
  subject_prefix = "app.hub"
  listen = "127.0.0.1:4333"
  cluster_listen = "0.0.0.0:6333"
  credentials = "/etc/hub/nats.creds"
}
auth {
  jwt_public_key_file = "/etc/hub/jwt.pem"
  jwt_leeway = "1s"
  token_grace = "20s"
  api_key = "k"
  admin_token = "adm"
}
cluster {
  bind = "0.0.0.0:7000"
  advertise = "10.0.0.1:7000"
  join = ["a:7000", "hub-headless"]
  rejoin_interval = "1m"
  failure_grace = "5s"
  secret_file = "/etc/hub/cluster.key"
  insecure = true
}
metrics { listen = "127.0.0.1:9100" }
flow "x" {
  from { connector = "nats" operation = "orders.>" }
  to   { connector = "front" operation = "send_to_user" target = "input.user.id" }
}
`
	c, err := Parse([]byte(src), "all.hcl")
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	want := Default()
	want.Source = "all.hcl"
	want.Node = Node{Name: "n1", Dev: true, LogLevel: "debug", LogFormat: "json", Demo: true, ShutdownTimeout: 3 * time.Second}
	want.WebSocket = WebSocket{
		Name: "front", Host: "127.0.0.1", Port: 9000, Path: "/ws/{tenant}",
		PingInterval: 20 * time.Second, PongTimeout: 5 * time.Second, HandshakeTimeout: 2 * time.Second, WriteTimeout: time.Second,
		AllowedOrigins: []string{"https://a.example", "https://*.b.example"},
		MaxFrameBytes:  1024, MaxRoomsPerConnection: 7, MaxMessagesPerSecond: 2.5, MessageBurst: 3,
		MaxConnections: 1000, MaxConnectionsPerIP: 10, WriteQueueBytes: 4096, WriteQueueFrames: 16,
		Compression: true, CompressionLevel: 6, CompressionMinBytes: 100, MaxInflatedBytes: 1000000, Gateway: "portable",
		MaxConnectionsPerUser: 3, UserLimitPolicy: "close_oldest", MaxConnectionAge: time.Hour,
	}
	want.NATS = NATS{Name: "nats", URL: "nats://u:p@n1:4222,nats://n2:4222", SubjectPrefix: "app.hub",
		Listen: "127.0.0.1:4333", ClusterListen: "0.0.0.0:6333", Credentials: "/etc/hub/nats.creds"}
	want.Auth = Auth{JWTPublicKeyFile: "/etc/hub/jwt.pem", JWTLeeway: time.Second, TokenGrace: 20 * time.Second, APIKey: "k", AdminToken: "adm"}
	want.Cluster = Cluster{Bind: "0.0.0.0:7000", Advertise: "10.0.0.1:7000", Join: []string{"a:7000", "hub-headless"}, RejoinInterval: time.Minute, FailureGrace: 5 * time.Second,
		SecretFile: "/etc/hub/cluster.key", Insecure: true}
	want.Metrics = Metrics{Listen: "127.0.0.1:9100"}
	want.Flows = []Flow{{
		Name: "x",
		From: Endpoint{Connector: "nats", Kind: KindNATS, Operation: "orders.>"},
		To:   Endpoint{Connector: "front", Kind: KindWebSocket, Operation: "send_to_user", Target: "input.user.id", TargetPath: []string{"user", "id"}},
		Pos:  "all.hcl:64",
	}}
	c.origins, want.origins = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse() =\n%+v\nwant\n%+v", c, want)
	}
}

// Every problem names file:line,col and says what is wrong.
func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings, all required
	}{
		{"syntax", "node {\n  log_level = \n}\n", []string{"e.hcl:2,"}},
		{"unknown block", "nodes {}\n", []string{"e.hcl:1,1-6: Unsupported block type", `"nodes"`}},
		{"unknown attribute", "node {\n  colour = 1\n}\n", []string{"e.hcl:2,3-9: Unsupported argument", `"colour"`}},
		{"top-level attribute", "port = 1\n", []string{"e.hcl:1,1-5: Unsupported argument"}},
		{"nested block", "node {\n  x {}\n}\n", []string{"e.hcl:2,3-4: Unsupported block type"}},
		{"bad duration", "connector \"ws\" {\n  type = \"websocket\"\n  ping_interval = \"30x\"\n}\n", []string{"e.hcl:3,19-24: Invalid duration", `"30x"`}},
		{"number duration", "node {\n  shutdown_timeout = 30\n}\n", []string{"e.hcl:2,22-24: Invalid duration"}},
		{"wrong type", "connector \"ws\" {\n  type = \"websocket\"\n  port = \"http\"\n}\n", []string{"e.hcl:3,10-16: Unsuitable value type", "port"}},
		{"fractional int", "connector \"ws\" {\n  type = \"websocket\"\n  port = 1.5\n}\n", []string{"e.hcl:3,10-13: Unsuitable value type"}},
		{"null", "node {\n  name = null\n}\n", []string{"e.hcl:2,10-14: Unsuitable value type", "null"}},
		{"variable", "node {\n  name = foo\n}\n", []string{"e.hcl:2,10-13: Variables not allowed"}},
		{"missing type", "connector \"x\" {\n  port = 1\n}\n", []string{"e.hcl:1,1-14: Missing connector type"}},
		{"bad type", "connector \"x\" {\n  type = \"kafka\"\n}\n", []string{"e.hcl:2,10-17: Unknown connector type", `"kafka"`}},
		{"attr of other type", "connector \"x\" {\n  type = \"nats\"\n  port = 1\n}\n", []string{"e.hcl:3,3-7: Unsupported argument"}},
		{"two websockets", "connector \"a\" {\n  type = \"websocket\"\n}\nconnector \"b\" {\n  type = \"websocket\"\n}\n", []string{"e.hcl:5,10-21: Duplicate websocket connector", "e.hcl:1"}},
		{"same name", "connector \"a\" {\n  type = \"websocket\"\n}\nconnector \"a\" {\n  type = \"nats\"\n}\n", []string{"e.hcl:4,11-14: Duplicate connector name"}},
		{"two node blocks", "node {}\nnode {}\n", []string{"e.hcl:2,1-5: Duplicate node block", "e.hcl:1"}},
		{"port range", "connector \"ws\" {\n  type = \"websocket\"\n  port = 70000\n}\n", []string{"e.hcl:3,10-15: Invalid port", "70000"}},
		{"path", "connector \"ws\" {\n  type = \"websocket\"\n  path = \"ws\"\n}\n", []string{"e.hcl:3,10-14: Invalid path"}},
		{"route param", "connector \"ws\" {\n  type = \"websocket\"\n  path = \"/ws/{a\"\n}\n", []string{"e.hcl:3,10-18: Invalid path"}},
		{"ping zero", "connector \"ws\" {\n  type = \"websocket\"\n  ping_interval = \"0s\"\n}\n", []string{"e.hcl:3,19-23: Invalid ping interval"}},
		{"pong negative", "connector \"ws\" {\n  type = \"websocket\"\n  pong_timeout = \"-1s\"\n}\n", []string{"e.hcl:3,18-23: Invalid pong timeout"}},
		{"negative limit", "connector \"ws\" {\n  type = \"websocket\"\n  max_connections = -1\n}\n", []string{"e.hcl:3,21-23: Invalid max connections"}},
		{"zero frame", "connector \"ws\" {\n  type = \"websocket\"\n  max_frame_bytes = 0\n}\n", []string{"e.hcl:3,21-22: Invalid max frame bytes"}},
		{"bad gateway", "connector \"ws\" {\n  type = \"websocket\"\n  gateway = \"kqueue\"\n}\n", []string{"e.hcl:3,13-21: Invalid gateway"}},
		{"bad compression level", "connector \"ws\" {\n  type = \"websocket\"\n  compression_level = 10\n}\n", []string{"e.hcl:3,23-25: Invalid compression level"}},
		{"log level", "node {\n  log_level = \"loud\"\n}\n", []string{"e.hcl:2,15-21: Invalid log level", `"loud"`}},
		{"log format", "node {\n  log_format = \"xml\"\n}\n", []string{"e.hcl:2,16-21: Invalid log format"}},
		{"node name", "node {\n  name = \"a.b\"\n}\n", []string{"e.hcl:2,10-15: Invalid node name"}},
		{"both jwt keys", "auth {\n  jwt_secret = \"s\"\n  jwt_public_key_file = \"k.pem\"\n}\n", []string{"e.hcl:2,16-19: Conflicting JWT keys"}},
		{"prefix wildcard", "connector \"bus\" {\n  type = \"nats\"\n  subject_prefix = \"hub.*\"\n}\n", []string{"e.hcl:3,20-27: Invalid subject prefix"}},
		{"listen", "connector \"bus\" {\n  type = \"nats\"\n  listen = \"4222\"\n}\n", []string{"e.hcl:3,12-18: Invalid address"}},
		{"creds without url", "connector \"bus\" {\n  type = \"nats\"\n  credentials = \"x.creds\"\n}\n", []string{"e.hcl:3,17-26: Credentials without URL"}},
		{"gossip bind", "cluster {\n  bind = \"nowhere\"\n}\n", []string{"e.hcl:2,10-19: Invalid address"}},
		{"rejoin", "cluster {\n  rejoin_interval = \"0s\"\n}\n", []string{"e.hcl:2,21-25: Invalid rejoin interval"}},
		{"join type", "cluster {\n  join = \"a:1\"\n}\n", []string{"e.hcl:2,10-15: Unsuitable value type"}},
		{"metrics", "metrics {\n  listen = \":x\"\n}\n", []string{"e.hcl:2,12-16: Invalid address"}},
		{"flow unknown connector",
			"flow \"f\" {\n  from { connector = \"kafka\" operation = \"x\" }\n  to { connector = \"ws\" operation = \"broadcast\" }\n}\n",
			[]string{"e.hcl:2,22-29: Unknown connector", `"kafka"`}},
		{"flow unknown after rename",
			"connector \"front\" {\n  type = \"websocket\"\n}\nflow \"f\" {\n  from { connector = \"bus\" operation = \"x\" }\n  to { connector = \"ws\" operation = \"broadcast\" }\n}\n",
			[]string{"e.hcl:6,20-24: Unknown connector", `"front"`}},
		{"flow same side",
			"flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"ws\" operation = \"broadcast\" }\n}\n",
			[]string{"e.hcl:3,20-24: Invalid flow direction", "websocket to nats or from nats to websocket"}},
		{"flow duplicate name",
			"flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"bus\" target = \"a\" }\n}\nflow \"f\" {\n  from { connector = \"ws\" operation = \"connect\" }\n  to { connector = \"bus\" target = \"b\" }\n}\n",
			[]string{"e.hcl:5,6-9: Duplicate flow name", "e.hcl:1"}},
		{"flow bad name",
			"flow \"live orders\" {\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"bus\" target = \"a\" }\n}\n",
			[]string{"e.hcl:1,6-19: Invalid flow name"}},
		{"flow missing to", "flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n}\n", []string{"e.hcl:1,1-9: Missing to block"}},
		{"flow missing connector", "flow \"f\" {\n  from { operation = \"message\" }\n  to { connector = \"bus\" target = \"a\" }\n}\n", []string{"e.hcl:2,3-7: Missing connector"}},
		{"flow two from", "flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"bus\" target = \"a\" }\n}\n", []string{"e.hcl:3,3-7: Duplicate from block"}},
		{"ws source op",
			"flow \"f\" {\n  from { connector = \"ws\" operation = \"typing\" }\n  to { connector = \"bus\" target = \"a\" }\n}\n",
			[]string{"e.hcl:2,39-47: Invalid operation", "connect, message, disconnect, join"}},
		{"ws target op",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a\" }\n  to { connector = \"ws\" operation = \"send\" }\n}\n",
			[]string{"e.hcl:3,37-43: Invalid operation", "broadcast, send_to_room"}},
		{"send_to_room without target",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a\" }\n  to { connector = \"ws\" operation = \"send_to_room\" }\n}\n",
			[]string{"e.hcl:3,3-5: Missing target", "input.<field>"}},
		{"bad literal target",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a\" }\n  to { connector = \"ws\" operation = \"send_to_user\" target = \"no way\" }\n}\n",
			[]string{"e.hcl:3,61-69: Invalid target"}},
		{"empty input path",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a\" }\n  to { connector = \"ws\" operation = \"send_to_connection\" target = \"input.\" }\n}\n",
			[]string{"e.hcl:3,67-75: Invalid target"}},
		{"nats target missing",
			"flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"bus\" }\n}\n",
			[]string{"e.hcl:3,3-5: Missing target", "subject"}},
		{"nats target wildcard",
			"flow \"f\" {\n  from { connector = \"ws\" operation = \"message\" }\n  to { connector = \"bus\" target = \"a.*\" }\n}\n",
			[]string{"e.hcl:3,35-40: Invalid target", "without wildcards"}},
		{"nats source bad subject",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a..b\" }\n  to { connector = \"ws\" operation = \"broadcast\" }\n}\n",
			[]string{"e.hcl:2,40-46: Invalid operation"}},
		{"nats source with target",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a\" target = \"b\" }\n  to { connector = \"ws\" operation = \"broadcast\" }\n}\n",
			[]string{"e.hcl:2,53-56: Unexpected target"}},
		{"broadcast with target",
			"flow \"f\" {\n  from { connector = \"bus\" operation = \"a\" }\n  to { connector = \"ws\" operation = \"broadcast\" target = \"r\" }\n}\n",
			[]string{"e.hcl:3,58-61: Unexpected target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "e.hcl")
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tt.src, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) = %q, want it to contain %q", tt.src, err, w)
				}
			}
			var d *hcl.Diagnostic
			if !errors.As(err, &d) {
				t.Errorf("errors.As(%v, *hcl.Diagnostic) = false", err)
			}
		})
	}
}

func TestParse_AllProblemsAtOnce(t *testing.T) {
	src := "node {\n  log_level = \"loud\"\n  log_format = \"xml\"\n}\nconnector \"ws\" {\n  type = \"websocket\"\n  port = -1\n}\n"
	_, err := Parse([]byte(src), "m.hcl")
	if err == nil {
		t.Fatal("Parse() = nil, want errors")
	}
	for _, w := range []string{"m.hcl:2,", "m.hcl:3,", "m.hcl:7,"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Parse() = %q, want it to contain %q", err, w)
		}
	}
}

func TestLoadFile_Missing(t *testing.T) {
	_, err := LoadFile("testdata/nope.hcl")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadFile(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Auth.JWTSecret = "topsecret"
	c.Auth.APIKey = "apikey123"
	c.Auth.AdminToken = "admintok789"
	c.NATS.URL = "nats://user:pass123@n1:4222,nats://tok456@n2:4222"
	c.Cluster.Join = []string{"a"}
	r := c.Redacted()
	s := strings.Join([]string{r.Auth.JWTSecret, r.Auth.APIKey, r.Auth.AdminToken, r.NATS.URL}, " ")
	for _, secret := range []string{"topsecret", "apikey123", "admintok789", "pass123", "tok456"} {
		if strings.Contains(s, secret) {
			t.Errorf("Redacted() shows %q: %s", secret, s)
		}
	}
	if r.Auth.JWTSecret != "***" || r.Auth.APIKey != "***" || !strings.Contains(r.NATS.URL, "user:***@n1") {
		t.Errorf("Redacted() = %q %q %q", r.Auth.JWTSecret, r.Auth.APIKey, r.NATS.URL)
	}
	if c.Auth.JWTSecret != "topsecret" {
		t.Error("Redacted() changed the original")
	}
	r.Cluster.Join[0] = "b"
	if c.Cluster.Join[0] != "a" {
		t.Error("Redacted() shares slices with the original")
	}
	if e := Default().Redacted(); e.Auth.JWTSecret != "" || e.Auth.APIKey != "" {
		t.Errorf("Redacted() of empty secrets = %q %q, want empty", e.Auth.JWTSecret, e.Auth.APIKey)
	}
}

func TestNodeName(t *testing.T) {
	tests := []struct{ host, want string }{
		{"", "hub"},
		{"hub-0", "hub-0"},
		{"hub-0.hub-headless.default.svc", "hub-0-hub-headless-default-svc"},
		{"ünï", "--n--"},
		{strings.Repeat("a", 200), strings.Repeat("a", 128)},
	}
	for _, tt := range tests {
		got := nodeName(tt.host)
		if got != tt.want {
			t.Errorf("nodeName(%q) = %q, want %q", tt.host, got, tt.want)
		}
		if c := Default(); tt.host != "" {
			c.Node.Name = got
			if err := c.Validate(); err != nil {
				t.Errorf("nodeName(%q) = %q, which does not validate: %v", tt.host, got, err)
			}
		}
	}
}
