package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/namespace"
)

func TestParse_Namespaces(t *testing.T) {
	src := `
namespace "chat" {
  rooms          = ["chat.>", "dm.*"]
  client_publish = false
  anonymous      = false
  history  { size = 50  ttl = "10m"  max_bytes = 1048576  storage = "memory"  replicas = 3 }
  presence { join_leave = true  max_list = 200  leave_delay = "500ms" }
  join_proxy = "bus"
}
namespace "news" {
  rooms = ["news.*"]
  history {}
}
`
	c, err := Parse([]byte(src), "ns.hcl")
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := []namespace.Namespace{
		{
			Name: "chat", Rooms: []string{"chat.>", "dm.*"}, ClientPublish: &f, Anonymous: false,
			History:   &namespace.History{Size: 50, TTL: 10 * time.Minute, MaxBytes: 1 << 20, Storage: namespace.StorageMemory, Replicas: 3},
			Presence:  &namespace.Presence{JoinLeave: true, MaxList: 200, LeaveDelay: 500 * time.Millisecond},
			JoinProxy: "bus", Pos: "ns.hcl:2",
		},
		{
			Name: "news", Rooms: []string{"news.*"}, Anonymous: true,
			History: &namespace.History{Size: 100, MaxBytes: 1 << 30, Storage: namespace.StorageFile},
			Pos:     "ns.hcl:10",
		},
	}
	if !reflect.DeepEqual(c.Namespaces, want) {
		t.Fatalf("Namespaces =\n%+v\nwant\n%+v", c.Namespaces, want)
	}
	set, err := c.NamespaceSet()
	if err != nil {
		t.Fatal(err)
	}
	if ns, ok := set.Lookup("dm.bob"); !ok || ns.Name != "chat" {
		t.Fatalf("Lookup(dm.bob) = %v, %v, want chat", ns, ok)
	}
	r := c.Redacted()
	r.Namespaces[0].History.Size = 1
	if c.Namespaces[0].History.Size != 50 {
		t.Fatal("Redacted shares the history block with the original")
	}
}

func TestParse_NamespaceErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"no rooms", "namespace \"a\" {\n}\n", []string{"e.hcl:1,1-14: Missing rooms"}},
		{"bad pattern", "namespace \"a\" {\n  rooms = [\"chat*\"]\n}\n", []string{"e.hcl:2,11-20: Invalid room pattern", "chat*"}},
		{"empty token", "namespace \"a\" {\n  rooms = [\"a..b\"]\n}\n", []string{"e.hcl:2,11-19: Invalid room pattern"}},
		{"bad name", "namespace \"a.b\" {\n  rooms = [\"x\"]\n}\n", []string{"e.hcl:1,11-16: Invalid namespace name"}},
		{"duplicate name", "namespace \"a\" {\n  rooms = [\"x\"]\n}\nnamespace \"a\" {\n  rooms = [\"y\"]\n}\n", []string{"e.hcl:4,11-14: Duplicate namespace name", "e.hcl:1"}},
		{"overlap", "namespace \"a\" {\n  rooms = [\"chat.>\"]\n}\nnamespace \"b\" {\n  rooms = [\"x\", \"*.lobby\"]\n}\n",
			[]string{"e.hcl:5,11-27: Overlapping namespaces", `"chat.lobby"`, "e.hcl:1"}},
		{"history size", "namespace \"a\" {\n  rooms = [\"x\"]\n  history { size = 0 }\n}\n", []string{"e.hcl:3,20-21: Invalid history size"}},
		{"history ttl", "namespace \"a\" {\n  rooms = [\"x\"]\n  history { ttl = \"-1s\" }\n}\n", []string{"e.hcl:3,19-24: Invalid history ttl"}},
		{"history storage", "namespace \"a\" {\n  rooms = [\"x\"]\n  history { storage = \"disk\" }\n}\n", []string{"e.hcl:3,23-29: Invalid history storage"}},
		{"history replicas", "namespace \"a\" {\n  rooms = [\"x\"]\n  history { replicas = 7 }\n}\n", []string{"e.hcl:3,24-25: Invalid history replicas"}},
		{"history max_bytes", "namespace \"a\" {\n  rooms = [\"x\"]\n  history { max_bytes = 0 }\n}\n", []string{"e.hcl:3,25-26: Invalid history max_bytes"}},
		{"history unknown", "namespace \"a\" {\n  rooms = [\"x\"]\n  history { sise = 1 }\n}\n", []string{"e.hcl:3,13-17: Unsupported argument"}},
		{"two histories", "namespace \"a\" {\n  rooms = [\"x\"]\n  history {}\n  history {}\n}\n", []string{"e.hcl:4,3-10: Duplicate history block", "e.hcl:3"}},
		{"presence max_list", "namespace \"a\" {\n  rooms = [\"x\"]\n  presence { max_list = 0 }\n}\n", []string{"e.hcl:3,25-26: Invalid presence max_list"}},
		{"presence leave_delay negative", "namespace \"a\" {\n  rooms = [\"x\"]\n  presence { leave_delay = \"-1s\" }\n}\n", []string{"e.hcl:3,28-33: Invalid presence leave_delay"}},
		{"presence leave_delay too long", "namespace \"a\" {\n  rooms = [\"x\"]\n  presence {\n    leave_delay = \"1h\"\n  }\n}\n", []string{"e.hcl:4,19-23: Invalid presence leave_delay", `"5m0s"`}},
		{"presence leave_delay not a duration", "namespace \"a\" {\n  rooms = [\"x\"]\n  presence { leave_delay = \"2 seconds\" }\n}\n", []string{"e.hcl:3,28-39: Invalid duration"}},
		{"presence leave_delay type", "namespace \"a\" {\n  rooms = [\"x\"]\n  presence { leave_delay = 2 }\n}\n", []string{"e.hcl:3"}},
		{"join proxy", "namespace \"a\" {\n  rooms = [\"x\"]\n  join_proxy = \"nope\"\n}\n", []string{"e.hcl:3,16-22: Unknown connector", `"nope"`}},
		{"join proxy websocket", "namespace \"a\" {\n  rooms = [\"x\"]\n  join_proxy = \"ws\"\n}\n", []string{"e.hcl:3,16-20: Unknown connector"}},
		{"anonymous type", "namespace \"a\" {\n  rooms = [\"x\"]\n  anonymous = \"no\"\n}\n", []string{"e.hcl:3,15-19: Unsuitable value type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "e.hcl")
			if err == nil {
				t.Fatalf("Parse = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error %q does not contain %q", err, w)
				}
			}
		})
	}
}
