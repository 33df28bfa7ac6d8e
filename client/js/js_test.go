// This Go test runs the node test suite of hub-client.js, so `go test ./...` covers it.
package js

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJS runs `node --test` on test/*.test.mjs against a hub binary built
// for the run. It skips when node is not installed.
func TestJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: the JavaScript client tests need Node.js 18 or later")
	}
	if testing.Short() {
		t.Skip("-short: skipping the JavaScript client tests")
	}
	bin := filepath.Join(t.TempDir(), "hub")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hub")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join("test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	args := []string{"--test", "--test-reporter=spec"}
	// Node 20 has WebSocket behind a flag; 22 and later have it on.
	if out, err := exec.Command(node, "-e", "process.stdout.write(typeof WebSocket)").Output(); err == nil && strings.TrimSpace(string(out)) != "function" {
		args = append([]string{"--experimental-websocket"}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append(args, files...)...)
	cmd.Env = append(os.Environ(), "HUB_BIN="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("node %s\n%s", strings.Join(cmd.Args[1:], " "), out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}
