package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(out, "hub ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestHelpListsFlagsAndCommands(t *testing.T) {
	code, out, _ := runCmd("-h")
	if code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, want := range []string{"-config", "-dev", "-port", "-join", "HUB_NATS_URL", "publish", "token", "config check", "version", "peer remove NODE"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h does not mention %q", want)
		}
	}
}

func TestBadFlag(t *testing.T) {
	code, _, errs := runCmd("-no-such-flag")
	if code != 2 || !strings.Contains(errs, "no-such-flag") {
		t.Fatalf("bad flag: %d %q", code, errs)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.hcl")
	os.WriteFile(good, []byte(`connector "ws" { type = "websocket" port = 9000 }`+"\n"), 0o600)
	code, out, errs := runCmd("config", "check", good)
	if code != 0 || !strings.Contains(out, "OK") || !strings.Contains(out, "9000") || !strings.Contains(out, `"PingInterval": "30s"`) {
		t.Fatalf("good config: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("connector \"ws\" {\n  type = \"websocket\"\n  port = \"x\"\n}\n"), 0o600)
	code, _, errs = runCmd("config", "check", bad)
	if code != 1 || !strings.Contains(errs, "bad.hcl:3") {
		t.Fatalf("bad config should name file and line: %d %q", code, errs)
	}
}

// The presence block's leave_delay is shown with the default when left
// out, and a bad one is refused with its file and line.
func TestConfigCheck_PresenceLeaveDelay(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ns.hcl")
	os.WriteFile(file, []byte("namespace \"chat\" {\n  rooms = [\"chat.>\"]\n  presence { join_leave = true  leave_delay = \"750ms\" }\n}\nnamespace \"plain\" {\n  rooms = [\"p.>\"]\n  presence {}\n}\n"), 0o600)
	code, out, errs := runCmd("config", "check", file)
	if code != 0 || !strings.Contains(out, `"LeaveDelay": "750ms"`) || !strings.Contains(out, `"LeaveDelay": "2s"`) ||
		!strings.Contains(out, "namespace.0.presence.leave_delay") {
		t.Fatalf("config check: %d %q %q, want both leave delays and where the first came from", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("namespace \"chat\" {\n  rooms = [\"chat.>\"]\n  presence {\n    leave_delay = \"-2s\"\n  }\n}\n"), 0o600)
	code, _, errs = runCmd("config", "check", bad)
	if code != 1 || !strings.Contains(errs, "bad.hcl:4") || !strings.Contains(errs, "Invalid presence leave_delay") {
		t.Fatalf("bad leave_delay: %d %q, want bad.hcl:4 and the reason", code, errs)
	}
}

func TestConfigCheck_Room(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ns.hcl")
	os.WriteFile(file, []byte("namespace \"chat\" {\n  rooms = [\"chat.>\", \"dm.*\"]\n}\n"), 0o600)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"config", "check", file, "-room", "dm.bob"}, 0, `room "dm.bob": namespace "chat" (` + file + `:1)`},
		{[]string{"config", "check", "-room=chat.a.b", "-config", file}, 0, `room "chat.a.b": namespace "chat"`},
		{[]string{"config", "check", file, "--room", "dm.bob.x"}, 0, `room "dm.bob.x": no namespace`},
		{[]string{"config", "check", file, "-room", "bad room"}, 1, `not a valid room name`},
		{[]string{"config", "check", file, "-room"}, 2, `-room needs a room name`},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(tt.args...)
		if code != tt.code || !strings.Contains(out+errs, tt.want) {
			t.Errorf("hub %v = %d %q %q, want %d and %q", tt.args, code, out, errs, tt.code, tt.want)
		}
	}
}

func TestToken(t *testing.T) {
	code, out, errs := runCmd("token", "-secret", "s3cret", "-user", "alice", "-rooms", "orders.*", "-ttl", "1h")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %d %q %q", code, out, errs)
	}
	code, _, errs = runCmd("token", "-user", "alice")
	if code != 2 || !strings.Contains(errs, "secret is required") {
		t.Fatalf("token without secret: %d %q", code, errs)
	}
	code, _, _ = runCmd("token", "-secret", "s", "-user", "bad name")
	if code != 2 {
		t.Fatalf("token with a bad user: %d", code)
	}
}

func TestPublishReachesClients(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	c := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	c.Join("orders")
	code, out, errs := runCmd("publish", "-nats-url", n.NATSURL(), "room", "orders", `{"total":3}`)
	if code != 0 {
		t.Fatalf("publish: %d %q %q", code, out, errs)
	}
	m := c.Expect("message")
	if m.S("room") != "orders" || m.JSON("data") != `{"total":3}` {
		t.Fatalf("got %v", m["_raw"])
	}
	if code, _, _ := runCmd("publish", "-nats-url", n.NATSURL(), "user", "alice", "hello there"); code != 0 {
		t.Fatal("publish to user failed")
	}
	if m := c.Expect("message"); m.JSON("data") != `"hello there"` {
		t.Fatalf("got %v", m["_raw"])
	}
	if code, _, errs := runCmd("publish", "-nats-url", n.NATSURL(), "planet", "x"); code != 2 || !strings.Contains(errs, "unknown target") {
		t.Fatalf("bad target: %d %q", code, errs)
	}
}

// TestEverySubcommandTakesHelp: "hub CMD -h" explains CMD and exits 0.
func TestEverySubcommandTakesHelp(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"version", "-h"}, {"publish", "-h"}, {"token", "-h"},
		{"config", "-h"}, {"config", "check", "-h"}, {"config", "check", "hub.hcl", "--help"}, {"bench", "-h"},
	} {
		code, out, errs := runCmd(args...)
		if code != 0 || !strings.Contains(out+errs, "Usage") {
			t.Errorf("hub %s: exit %d, output %q %q; want exit 0 and a usage", strings.Join(args, " "), code, out, errs)
		}
	}
}

// TestConfigCheck_ResolvesLikeServe: config check applies HUB_* variables
// and flags over the file, as the node does, and says what set each value.
func TestConfigCheck_ResolvesLikeServe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hub.hcl")
	os.WriteFile(file, []byte(`connector "ws" { type = "websocket" port = 9000 }`+"\n"), 0o600)
	t.Setenv("HUB_PING_INTERVAL", "7s")
	t.Setenv("HUB_API_KEY", "k-secret")
	code, out, errs := runCmd("config", "check", file, "-port", "9100")
	if code != 0 {
		t.Fatalf("config check: exit %d %q", code, errs)
	}
	for _, want := range []string{`"Port": 9100`, `"PingInterval": "7s"`, "flag -port", "env HUB_PING_INTERVAL", `"APIKey": "***"`} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "k-secret") {
		t.Errorf("config check printed the API key:\n%s", out)
	}
	t.Setenv("HUB_CONFIG", file)
	code, out, errs = runCmd("config", "check")
	if code != 0 || !strings.Contains(out, file+": OK") || !strings.Contains(out, `"Port": 9000`) {
		t.Fatalf("config check with HUB_CONFIG: exit %d %q %q", code, out, errs)
	}
	t.Setenv("HUB_PORT", "not-a-port")
	if code, _, errs = runCmd("config", "check"); code != 1 || !strings.Contains(errs, "HUB_PORT") {
		t.Fatalf("bad HUB_PORT: exit %d %q, want 1 naming the variable", code, errs)
	}
	if code, _, _ = runCmd("config", "check", "-no-such-flag"); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
}

// hub publish signs in on a secured node's embedded NATS with the cluster
// secret; without it the server refuses it.
func TestPublishWithClusterSecret(t *testing.T) {
	n := hubtest.Start(t, hubtest.ClusterConfig(t))
	c := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	c.Join("orders")
	u, err := url.Parse(n.NATSURL())
	if err != nil || u.User == nil {
		t.Fatalf("secured node's NATS URL %q has no credentials", n.NATSURL())
	}
	u.User = nil
	t.Setenv("HUB_CLUSTER_SECRET", "")
	if code, _, errs := runCmd("publish", "-nats-url", u.String(), "room", "orders", "x"); code != 1 || !strings.Contains(strings.ToLower(errs), "authorization") {
		t.Fatalf("publish without the secret: %d %q", code, errs)
	}
	t.Setenv("HUB_CLUSTER_SECRET", hubtest.ClusterSecret)
	if code, out, errs := runCmd("publish", "-nats-url", u.String(), "room", "orders", `"signed in"`); code != 0 {
		t.Fatalf("publish with the secret: %d %q %q", code, out, errs)
	}
	if m := c.Expect("message"); m.JSON("data") != `"signed in"` {
		t.Fatalf("got %v", m["_raw"])
	}
}
