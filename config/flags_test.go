package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hub.hcl")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_Precedence(t *testing.T) {
	path := writeFile(t, `
node { log_level = "warn" dev = true }
connector "ws" { type = "websocket" port = 9001 path = "/file" }
cluster { join = ["file:7946"] }
`)
	tests := []struct {
		name    string
		args    []string
		env     []string
		check   func(c *Config) (got, want any)
		wantSrc string
	}{
		{"file over default", []string{"-config", path}, nil,
			func(c *Config) (any, any) { return c.WebSocket.Port, 9001 }, path},
		{"config from env", nil, []string{"HUB_CONFIG=" + path},
			func(c *Config) (any, any) { return c.WebSocket.Path, "/file" }, path},
		{"env over file", []string{"-config", path}, []string{"HUB_PORT=9002", "HUB_LOG_LEVEL=error"},
			func(c *Config) (any, any) { return []any{c.WebSocket.Port, c.Node.LogLevel}, []any{9002, "error"} }, path},
		{"flag over env", []string{"-config", path, "-port", "9003"}, []string{"HUB_PORT=9002"},
			func(c *Config) (any, any) { return c.WebSocket.Port, 9003 }, path},
		{"flag config over env config", []string{"-config", path}, []string{"HUB_CONFIG=/does/not/exist"},
			func(c *Config) (any, any) { return c.WebSocket.Port, 9001 }, path},
		{"bool flag false over file", []string{"-config", path, "-dev=false"}, nil,
			func(c *Config) (any, any) { return c.Node.Dev, false }, path},
		{"bool env", nil, []string{"HUB_DEV=true", "HUB_CLIENT_PUBLISH=false"},
			func(c *Config) (any, any) { return []bool{c.Node.Dev, c.Node.ClientPublish}, []bool{true, false} }, ""},
		{"empty env ignored", []string{"-config", path}, []string{"HUB_PORT="},
			func(c *Config) (any, any) { return c.WebSocket.Port, 9001 }, path},
		{"lists", []string{"-join", "a:1, b ,,c", "-allowed-origins", "https://x"}, []string{"HUB_JOIN=env:1"},
			func(c *Config) (any, any) {
				return []any{c.Cluster.Join, c.WebSocket.AllowedOrigins}, []any{[]string{"a:1", "b", "c"}, []string{"https://x"}}
			}, ""},
		{"env list over file", []string{"-config", path}, []string{"HUB_JOIN=x:1,y:2"},
			func(c *Config) (any, any) { return c.Cluster.Join, []string{"x:1", "y:2"} }, path},
		{"durations and names", []string{"-ping-interval", "1m", "-gossip-bind", "127.0.0.1:0", "-node-name", "n7"}, []string{"HUB_SHUTDOWN_TIMEOUT=2s"},
			func(c *Config) (any, any) {
				return []any{c.WebSocket.PingInterval, c.Cluster.Bind, c.Node.Name, c.Node.ShutdownTimeout},
					[]any{time.Minute, "127.0.0.1:0", "n7", 2 * time.Second}
			}, ""},
		{"other env ignored", nil, []string{"HUB_NOT_A_SETTING=1", "PORT=1", "HUB_PORT"},
			func(c *Config) (any, any) { return c.WebSocket.Port, 8080 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load(%q, %q) = %v", tt.args, tt.env, err)
			}
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("Load(%q, %q): got %v, want %v", tt.args, tt.env, got, want)
			}
			if c.Source != tt.wantSrc {
				t.Errorf("Source = %q, want %q", c.Source, tt.wantSrc)
			}
		})
	}
}

func TestLoad_Errors(t *testing.T) {
	good := writeFile(t, `connector "ws" { type = "websocket" }`)
	bad := writeFile(t, "connector \"ws\" {\n  type = \"websocket\"\n  port = 70000\n}\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"bad env int", nil, []string{"HUB_PORT=eighty"}, []string{"env HUB_PORT=", "eighty", "whole number"}},
		{"bad env bool", nil, []string{"HUB_DEV=yes please"}, []string{"env HUB_DEV=", "boolean"}},
		{"bad env duration", nil, []string{"HUB_PING_INTERVAL=30"}, []string{"env HUB_PING_INTERVAL=", "duration"}},
		{"two bad env at once", nil, []string{"HUB_PORT=x", "HUB_MAX_CONNECTIONS=y"}, []string{"HUB_PORT", "HUB_MAX_CONNECTIONS"}},
		{"bad flag value", []string{"-port", "x"}, nil, []string{"-port", "whole number"}},
		{"unknown flag", []string{"-nope"}, nil, []string{"-nope"}},
		{"invalid from env", []string{"-config", good}, []string{"HUB_LOG_LEVEL=loud"}, []string{"env HUB_LOG_LEVEL: Invalid log level"}},
		{"valid env", nil, []string{"HUB_PORT=1"}, nil},
		{"invalid flag value", []string{"-port", "-5"}, nil, []string{"flag -port: Invalid port"}},
		{"file error keeps position", []string{"-config", bad}, nil, []string{bad + ":3,10-15: Invalid port"}},
		{"flag fixes file", []string{"-config", bad, "-port", "80"}, nil, nil},
		{"missing file", []string{"-config", "/does/not/exist.hcl"}, nil, []string{"/does/not/exist.hcl"}},
		{"jwt conflict across sources", []string{"-config", good, "-jwt-public-key-file", "k.pem"}, []string{"HUB_JWT_SECRET=s"}, []string{"env HUB_JWT_SECRET: Conflicting JWT keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fs, err := Load(tt.args, tt.env)
			if fs == nil {
				t.Fatal("Load() returned a nil FlagSet")
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load(%q, %q) = %v, want nil", tt.args, tt.env, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load(%q, %q) = nil, want error", tt.args, tt.env)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load(%q, %q) = %q, want it to contain %q", tt.args, tt.env, err, w)
				}
			}
		})
	}
}

func TestLoad_Args(t *testing.T) {
	_, fs, err := Load([]string{"-dev", "check", "x"}, nil)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if got := fs.Args(); !reflect.DeepEqual(got, []string{"check", "x"}) {
		t.Errorf("fs.Args() = %q, want [check x]", got)
	}
}

func TestLoad_Help(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		_, fs, err := Load([]string{arg}, nil)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%q) = %v, want flag.ErrHelp", arg, err)
		}
		if fs == nil {
			t.Errorf("Load(%q) FlagSet = nil", arg)
		}
	}
}

func TestUsage_ListsEveryFlagAndEnv(t *testing.T) {
	fs := NewFlagSet("hub")
	u := Usage(fs)
	required := []string{"config", "dev", "demo", "host", "port", "path", "node-name", "log-level", "log-format",
		"nats-url", "nats-listen", "nats-cluster-listen", "subject-prefix", "jwt-secret", "jwt-public-key-file",
		"api-key", "join", "gossip-bind", "gossip-advertise", "metrics-listen", "max-connections",
		"max-connections-per-ip", "max-frame-bytes", "max-rooms-per-connection", "ping-interval", "pong-timeout",
		"allowed-origins", "shutdown-timeout", "client-publish", "client-direct"}
	for _, name := range required {
		if fs.Lookup(name) == nil {
			t.Errorf("flag -%s is not defined", name)
		}
	}
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(u, "\n  -"+f.Name+" ") && !strings.Contains(u, "\n  -"+f.Name+"\n") {
			t.Errorf("Usage lacks -%s", f.Name)
		}
		if !strings.Contains(u, "env "+EnvName(f.Name)) {
			t.Errorf("Usage lacks env %s", EnvName(f.Name))
		}
		if f.Usage == "" {
			t.Errorf("flag -%s has no usage text", f.Name)
		}
	})
	if n < len(required) {
		t.Errorf("%d flags, want at least %d", n, len(required))
	}
	for _, w := range []string{"-port int", `default "8080"`, `default "30s"`, `default "/ws"`, "HUB_NODE_NAME", "-dev\n"} {
		if !strings.Contains(u, w) {
			t.Errorf("Usage lacks %q:\n%s", w, u)
		}
	}
	if EnvName("node-name") != "HUB_NODE_NAME" {
		t.Errorf("EnvName(node-name) = %q", EnvName("node-name"))
	}
}

// Every option's default as shown by the flag set reads back as the default.
func TestOptions_RoundTrip(t *testing.T) {
	def := Default()
	for _, o := range options {
		c := &Config{}
		s := formatField(o.field(def))
		if err := setField(o.field(c), s); err != nil {
			t.Errorf("-%s: setField(%q) = %v", o.flag, s, err)
			continue
		}
		got, want := reflect.ValueOf(o.field(c)).Elem().Interface(), reflect.ValueOf(o.field(def)).Elem().Interface()
		if l, ok := want.([]string); ok && len(l) == 0 {
			want = []string(nil)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("-%s: round trip %q = %v, want %v", o.flag, s, got, want)
		}
	}
}
