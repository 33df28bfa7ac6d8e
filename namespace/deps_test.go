package namespace

import (
	"os/exec"
	"strings"
	"testing"
)

// namespace is pure: the standard library and protocol only.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.Contains(dep, ".") && !strings.HasPrefix(dep, "github.com/hubrt/hub/") {
			t.Errorf("namespace imports %s", dep)
		}
		if strings.HasPrefix(dep, "github.com/hubrt/hub/") && dep != "github.com/hubrt/hub/namespace" && dep != "github.com/hubrt/hub/protocol" {
			t.Errorf("namespace imports %s", dep)
		}
		for _, banned := range []string{"net", "net/http", "log/slog", "os/exec"} {
			if dep == banned {
				t.Errorf("namespace imports %s", dep)
			}
		}
	}
}
