package backend

import (
	"os/exec"
	"strings"
	"testing"
)

// backend may use protocol and metrics of the project (metrics reads the
// gateway's counters); never the actors, cluster, config or node.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/hubrt/hub/backend":  true,
		"github.com/hubrt/hub/protocol": true,
		"github.com/hubrt/hub/metrics":  true,
		"github.com/hubrt/hub/gateway":  true,
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "github.com/hubrt/hub/") && !allowed[dep] {
			t.Errorf("backend imports %s", dep)
		}
	}
}
