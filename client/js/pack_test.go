package js_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubrt/hub/client/js/cjs"
	"github.com/hubrt/hub/internal/hubtest"
)

// TestCJSCurrent: hub-client.cjs is the CommonJS build of hub-client.js as
// it is now.
func TestCJSCurrent(t *testing.T) {
	src, err := os.ReadFile("hub-client.js")
	if err != nil {
		t.Fatal(err)
	}
	want, err := cjs.Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("hub-client.cjs")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("hub-client.cjs is not the build of hub-client.js (%v): run `go generate ./client/js` and commit it", err)
	}
}

// TestPackInstall installs the client as an application would: `npm pack`
// of client/js, installed into a fresh `npm init -y` project (CommonJS, the
// default), then used with require() and with import against a real node.
func TestPackInstall(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: the package test needs Node.js 18 or later and npm")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not on PATH: the package test needs npm")
	}
	if testing.Short() {
		t.Skip("-short: skipping the package test")
	}
	// Pack a copy, so that nothing is written into the repository.
	pkg := t.TempDir()
	for _, f := range []string{"package.json", "hub-client.js", "hub-client.cjs", "hub-client.d.ts"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	npm := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("npm", append(args, "--no-audit", "--no-fund", "--loglevel=error")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(t.TempDir(), "npm-cache"), "npm_config_update_notifier=false")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tgz := filepath.Join(pkg, strings.TrimSpace(lastLine(npm(pkg, "pack", "--silent"))))
	app := t.TempDir()
	npm(app, "init", "-y")
	npm(app, "install", "--offline", tgz)

	n := hubtest.Start(t, hubtest.Config(t))
	nodeArgs := []string{}
	if out, err := exec.Command(node, "-e", "process.stdout.write(typeof WebSocket)").Output(); err == nil && strings.TrimSpace(string(out)) != "function" {
		nodeArgs = append(nodeArgs, "--experimental-websocket")
	}
	scripts := map[string]string{
		"use.cjs": `const { HubClient, State, HubError } = require('@hubrt/hub-client');`,
		"use.mjs": `import { HubClient, State, HubError } from '@hubrt/hub-client';`,
	}
	for file, load := range scripts {
		script := load + `
const hub = new HubClient(process.env.HUB_URL + '?user=' + process.env.WHO);
hub.connect()
  .then(() => hub.join('lobby'))
  .then(() => { console.log('joined lobby as', process.env.WHO, hub.state === State.OPEN, typeof HubError); hub.close(); })
  .catch((e) => { console.error(e); process.exit(1); });
`
		if err := os.WriteFile(filepath.Join(app, file), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(node, append(nodeArgs, file)...)
		cmd.Dir = app
		cmd.Env = append(os.Environ(), "HUB_URL="+n.WSURL(), "WHO="+strings.TrimPrefix(filepath.Ext(file), "."))
		out, err := cmd.CombinedOutput()
		want := "joined lobby as " + strings.TrimPrefix(filepath.Ext(file), ".") + " true function"
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("node %s in a fresh npm project: %v\n%s\nwant %q", file, err, out, want)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
