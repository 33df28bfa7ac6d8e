package admin

import (
	"os/exec"
	"strings"
	"testing"
)

// The page's package is files only: it imports nothing of the hub.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/") && dep != "github.com/hubrt/hub/admin" {
			t.Errorf("admin imports %s", dep)
		}
	}
}
