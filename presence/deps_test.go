package presence

import (
	"os/exec"
	"strings"
	"testing"
)

// presence uses actors (the connections it tracks), protocol and metrics;
// never the node that wires it, the cluster membership, the gateway or
// config: membership reaches it as a function, configuration as a Policy.
func TestDeps(t *testing.T) {
	// Direct imports: metrics brings the gateway's collector along.
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/hubrt/hub/presence": true, "github.com/hubrt/hub/actors": true,
		"github.com/hubrt/hub/protocol": true, "github.com/hubrt/hub/metrics": true,
		"github.com/hubrt/hub/namespace": true,
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "github.com/hubrt/hub/") && !allowed[dep] {
			t.Errorf("presence imports %s", dep)
		}
		for _, banned := range []string{"github.com/hashicorp/memberlist", "github.com/gobwas/", "net"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") || strings.HasSuffix(banned, "/") && strings.HasPrefix(dep, banned) {
				t.Errorf("presence imports %s", dep)
			}
		}
	}
}
