package config

import (
	"os"
	"testing"
)

// FuzzParse checks that no source makes Parse panic, and that a source that
// parses yields a valid Config.
func FuzzParse(f *testing.F) {
	spec, err := os.ReadFile("testdata/spec.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(spec),
		`node { name = "n1" dev = true log_level = "debug" }`,
		"connector \"ws\" {\n  type = \"websocket\"\n  port = 70000\n}\n",
		`connector "ws" { type = "websocket"port = 1 }`,
		`flow "f" { from { connector = "bus" operation = "a.>" } to { connector = "ws" operation = "send_to_room" target = "input.a.b" } }`,
		"cluster { join = [\"a\", \"${\"b\"}\"] bind = \"0.0.0.0:1\" }",
		"node { x = { a = 1 b = 2 } y = <<EOT\nhi\nEOT\n}",
		"namespace \"chat\" {\n  rooms = [\"chat.>\", \"dm.*\"]\n  anonymous = false\n  history { size = 10 ttl = \"1m\" storage = \"memory\" }\n  presence { join_leave = true }\n}\nnamespace \"b\" { rooms = [\"*.x\"] }",
		"}}} {{{ = = \"",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse(src, "fuzz.hcl")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) succeeded but Validate() = %v", src, err)
		}
	})
}
