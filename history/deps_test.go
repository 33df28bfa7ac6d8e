package history

import (
	"os/exec"
	"strings"
	"testing"
)

// history may use NATS and the pure project packages; never the actors,
// the gateway or the node.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		for _, banned := range []string{"github.com/hubrt/hub/actors", "github.com/hubrt/hub/gateway", "github.com/hubrt/hub/node", "github.com/hubrt/hub/cluster", "github.com/asynkron/", "github.com/gobwas/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("history imports %s", dep)
			}
		}
	}
}
