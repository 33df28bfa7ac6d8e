package config

import (
	"os/exec"
	"strings"
	"testing"
)

// config may use the standard library, HCL and cty, protocol and namespace (pure); no
// other project package and nothing that does network I/O on its own.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "github.com/hubrt/hub/") && dep != "github.com/hubrt/hub/config" && dep != "github.com/hubrt/hub/protocol" && dep != "github.com/hubrt/hub/namespace" {
			t.Errorf("config imports %s", dep)
		}
		for _, banned := range []string{"github.com/nats-io/", "github.com/hashicorp/memberlist", "github.com/gobwas/", "github.com/asynkron/", "log/slog"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("config imports %s", dep)
			}
		}
	}
}
