package cluster

import (
	"os/exec"
	"strings"
	"testing"
)

// cluster takes its configuration as options and knows nothing of the
// node that wires it or the config loader. (It reaches the gateway
// through metrics, which reads the gateway's counters.)
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, banned := range []string{"github.com/hubrt/hub/node", "github.com/hubrt/hub/config", "github.com/hubrt/hub/admin", "github.com/hubrt/hub/backend", "github.com/hubrt/hub/history"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("cluster imports %s", dep)
			}
		}
	}
}
