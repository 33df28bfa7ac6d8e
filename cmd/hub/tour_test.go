package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
)

// TestReadmeTour follows the README's five-minute tour with the real
// binaries: the node as `make run` starts it, two chat clients, hub
// publish, curl and the echo backend, then Ctrl-C. Every command it runs is
// looked up verbatim in the README first, so the tour and the test cannot
// drift apart; only the ports are moved off 8080 and 4222.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several processes; skipped with -short")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	tour := section(t, string(readme), "## Five-minute tour")
	inTour := func(cmd string) string {
		t.Helper()
		if !strings.Contains(tour, cmd) {
			t.Fatalf("the README's tour no longer says %q; keep this test in step with it", cmd)
		}
		return cmd
	}
	var natsPort string
	ports := strings.NewReplacer()
	dir := t.TempDir()
	bins := map[string]string{"./bin/hub": hubBinary(t)}
	for _, ex := range []string{"chat", "echo"} {
		bin := filepath.Join(dir, ex)
		if out, err := exec.Command("go", "build", "-o", bin, "../../examples/"+ex).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", ex, err, out)
		}
		bins["go run ./examples/"+ex] = bin
	}
	// shell runs a tour command line with the binaries built above.
	shell := func(cmd string) *exec.Cmd {
		line := ports.Replace(cmd)
		for from, to := range bins {
			line = strings.ReplaceAll(line, from, to)
		}
		c := exec.Command("sh", "-c", "exec "+line)
		c.Env = append(os.Environ(), "HUB_CONFIG=", "HUB_NATS_URL=nats://127.0.0.1:"+natsPort)
		return c
	}

	// 1. make run, which is ./bin/hub -dev -demo; the gossip and route
	// listeners move to free ports so the test can run beside a real node.
	inTour("make run")
	// The node picks its own ports (ports picked for it could be taken
	// by another test before it binds them); the log says which.
	hub := exec.Command(bins["./bin/hub"], "-dev", "-demo", "-port", "0", "-nats-listen", "127.0.0.1:0",
		"-gossip-bind", "127.0.0.1:0", "-nats-cluster-listen", "127.0.0.1:0", "-log-format", "text", "-data-dir", t.TempDir())
	hub.Env = append(os.Environ(), "HUB_CONFIG=")
	hubLog := startLines(t, hub, true)
	// Start-up (the demo's JetStream included) may take a while on a
	// loaded machine: wait on the log, not on a clock, up to a minute.
	logged := hubLog.upTo(t, `msg="websocket listening"`, time.Minute)
	if logged == nil {
		t.Fatalf("the node did not start:\n%s", strings.Join(hubLog.seen(), "\n"))
	}
	portOf := func(msg, key string) string {
		for _, line := range logged {
			if strings.Contains(line, msg) {
				if m := regexp.MustCompile(key + `=\S*:(\d+)`).FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
		}
		t.Fatalf("no %s in the log line %q", key, msg)
		return ""
	}
	wsPort, natsPort := portOf(`msg="websocket listening"`, "addr"), portOf(`msg="embedded nats listening for publishers"`, "url")
	ports = strings.NewReplacer("8080", wsPort, "4222", natsPort)
	checkLogSample(t, tour, logged)

	// 2. Two chat clients.
	alice := startLines(t, shell(inTour("go run ./examples/chat -ws ws://127.0.0.1:8080/ws -room lobby -user alice")), false)
	bob := startLines(t, shell(inTour("go run ./examples/chat -ws ws://127.0.0.1:8080/ws -room lobby -user bob")), false)
	alice.expect(t, "* joined lobby")
	bob.expect(t, "* joined lobby")
	alice.say(t, inTour("hello bob"))
	bob.expect(t, inTour("[lobby] alice: hello bob"))
	alice.say(t, "/to bob psst")
	bob.expect(t, inTour("* alice (to you): psst"))

	// 3. Publish from a backend through NATS. Alice's next line being the
	// publish shows that her own room message did not come back.
	run := func(cmd string) string {
		t.Helper()
		out, err := shell(inTour(cmd)).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(`./bin/hub publish room lobby '{"id":1}'`)
	alice.expect(t, inTour(`[lobby] {"id":1}`))
	bob.expect(t, `[lobby] {"id":1}`)
	run(`./bin/hub publish broadcast 'plain text'`)
	alice.expect(t, inTour("* plain text"))
	bob.expect(t, "* plain text")
	run(`./bin/hub publish user bob '{"to":"bob"}'`)
	bob.expect(t, `* {"to":"bob"}`)

	// 4. Ask the HTTP API: each answer is the one the README shows.
	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("curl is not installed; the HTTP API step is checked by the API tests instead")
	} else {
		if got := run("curl -s localhost:8080/api/rooms/lobby"); got != inTour(`{"complete":true,"members":2,"nodes":1,"room":"lobby"}`) {
			t.Errorf("GET /api/rooms/lobby = %s", got)
		}
		if got := run("curl -s localhost:8080/api/users/bob"); got != inTour(`{"complete":true,"connections":1,"nodes":1,"online":true,"user":"bob"}`) {
			t.Errorf("GET /api/users/bob = %s", got)
		}
		if got := run(`curl -s -X POST localhost:8080/api/rooms/lobby/messages -d '{"from":"api"}'`); got != inTour(`{"offset":3,"status":"accepted"}`) {
			t.Errorf("POST /api/rooms/lobby/messages = %s", got)
		}
		alice.expect(t, `[lobby] {"from":"api"}`)
		bob.expect(t, `[lobby] {"from":"api"}`)
	}

	// 5. Be the backend: /msg comes back from echo, room lines do not.
	echo := startLines(t, shell(inTour("go run ./examples/echo -nats nats://127.0.0.1:4222")), false)
	echo.expect(t, "echoing hub.events.message (queue echo)")
	alice.say(t, inTour("/msg hello"))
	alice.expect(t, inTour("* hello"))
	if line := echo.until(t, "echoed"); !regexp.MustCompile(`^echoed "hello" to \S+\.\w+ \(user "alice"\)$`).MatchString(line) {
		t.Errorf("echo logged %q", line)
	}
	alice.say(t, "still here")
	bob.expect(t, "[lobby] alice: still here")
	run(`./bin/hub publish broadcast 'plain text'`)
	alice.expect(t, "* plain text") // and not an echo of "still here"
	bob.expect(t, "* plain text")

	// 6. Ctrl-C: the chat clients say why they ended, and exit.
	if err := hub.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*lines{alice, bob} {
		c.expect(t, inTour("closed by the hub: 1001 shutdown"))
		if code := c.exitCode(t); code != 1 {
			t.Errorf("chat exited %d after the hub closed it, want 1", code)
		}
	}
	if code := hubLog.exitCode(t); code != 0 {
		t.Errorf("hub exited %d after Ctrl-C, want 0", code)
	}
}

// section returns the README from heading to the next heading of its level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

var logKey = regexp.MustCompile(`(?:^| )([a-z_]+)=`)

// checkLogSample compares the tour's sample start-up log with the real one:
// the same messages, each with the same fields (time aside).
func checkLogSample(t *testing.T, tour string, real []string) {
	t.Helper()
	fields := func(line string) (string, string) {
		msg := regexp.MustCompile(`msg=("[^"]*"|\S+)`).FindStringSubmatch(line)
		if msg == nil {
			return "", ""
		}
		var keys []string
		for _, m := range logKey.FindAllStringSubmatch(regexp.MustCompile(`"[^"]*"`).ReplaceAllString(line, `""`), -1) {
			if m[1] != "time" {
				keys = append(keys, m[1])
			}
		}
		sort.Strings(keys)
		return msg[1], strings.Join(keys, " ")
	}
	sample := map[string]string{}
	for _, line := range strings.Split(tour, "\n") {
		if strings.HasPrefix(line, "level=") {
			msg, keys := fields(line)
			sample[msg] = keys
		}
	}
	seen := map[string]bool{}
	for _, line := range real {
		msg, keys := fields(line)
		if msg == "" {
			continue
		}
		seen[msg] = true
		want, ok := sample[msg]
		switch {
		case !ok:
			t.Errorf("the tour's sample log lacks the line %s", line)
		case want != keys:
			t.Errorf("the tour's sample line %s has fields [%s]; the real one has [%s]: %s", msg, want, keys, line)
		}
	}
	for msg := range sample {
		if !seen[msg] {
			t.Errorf("the tour's sample log shows %s, which the node no longer logs at start", msg)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// lines is a running process whose output the test reads line by line and
// whose input it writes.
type lines struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    chan string
	eof    chan struct{} // closed once every line the process wrote is in out
	mu     sync.Mutex
	all    []string // every line, for failure messages
	exited chan struct{}
	err    error
}

// startLines starts cmd; its standard output and error are merged into one
// stream of lines. The process is killed at the end of the test.
func startLines(t *testing.T, cmd *exec.Cmd, stderrOnly bool) *lines {
	t.Helper()
	pr, pw := io.Pipe()
	if !stderrOnly {
		cmd.Stdout = pw
	}
	cmd.Stderr = pw
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &lines{cmd: cmd, in: in, out: make(chan string, 1000), eof: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(l.eof)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.mu.Unlock()
			select {
			case l.out <- sc.Text():
			default: // nobody reads this far; drop
			}
		}
	}()
	go func() {
		l.err = cmd.Wait()
		pw.Close()
		close(l.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-l.exited
	})
	return l
}

// seen returns every line the process has written so far.
func (l *lines) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// upTo returns the lines up to and including the first containing sub, or
// nil when the process ends first; it fails the test after d.
func (l *lines) upTo(t *testing.T, sub string, d time.Duration) []string {
	t.Helper()
	var got []string
	deadline := time.After(d)
	for {
		select {
		case line := <-l.out:
			got = append(got, line)
			if strings.Contains(line, sub) {
				return got
			}
		case <-l.eof:
			select {
			case line := <-l.out:
				got = append(got, line)
				if strings.Contains(line, sub) {
					return got
				}
				continue
			default:
			}
			<-l.exited
			return nil
		case <-deadline:
			t.Fatalf("%s: no line containing %s within %v:\n%s", l.cmd.Path, sub, d, strings.Join(l.seen(), "\n"))
		}
	}
}

func (l *lines) say(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(l.in, line); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
}

// next returns the next line, failing the test after hubtest.Wait.
func (l *lines) next(t *testing.T, what string) string {
	t.Helper()
	return l.nextWithin(t, what, hubtest.Wait)
}

func (l *lines) nextWithin(t *testing.T, what string, d time.Duration) string {
	t.Helper()
	select {
	case line := <-l.out:
		return line
	case <-l.eof:
		select {
		case line := <-l.out:
			return line
		default:
		}
		<-l.exited
		t.Fatalf("%s exited (%v) before printing a line %s", l.cmd.Path, l.err, what)
		return ""
	case <-time.After(d):
		t.Fatalf("%s: no line %s within %v", l.cmd.Path, what, d)
		return ""
	}
}

func (l *lines) expect(t *testing.T, want string) {
	t.Helper()
	if got := l.next(t, fmt.Sprintf("%q", want)); got != want {
		t.Fatalf("%s printed %q, want %q", filepath.Base(l.cmd.Path), got, want)
	}
}

// until skips lines up to and including the first that contains sub.
func (l *lines) until(t *testing.T, sub string) string {
	t.Helper()
	for {
		if line := l.next(t, "containing "+sub); strings.Contains(line, sub) {
			return line
		}
	}
}

func (l *lines) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-l.exited:
	case <-time.After(hubtest.Wait):
		t.Fatalf("%s did not exit", l.cmd.Path)
	}
	if l.err == nil {
		return 0
	}
	if ee, ok := l.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", l.cmd.Path, l.err)
	return -1
}
