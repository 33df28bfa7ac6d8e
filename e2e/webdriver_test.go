package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A minimal W3C WebDriver client: just what the tests use.

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// browserPaths finds Chromium and chromedriver ($CHROMIUM and $CHROMEDRIVER
// override); it skips the test when either is missing.
func browserPaths(t *testing.T) (chromium, driver string) {
	t.Helper()
	find := func(env string, names ...string) string {
		if p := os.Getenv(env); p != "" {
			return p
		}
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
		}
		return ""
	}
	chromium = find("CHROMIUM", "chromium", "chromium-browser", "google-chrome")
	driver = find("CHROMEDRIVER", "chromedriver")
	if chromium == "" || driver == "" {
		msg := fmt.Sprintf("browser test needs Chromium and chromedriver (apt-get install -y chromium chromium-driver); found chromium=%q chromedriver=%q", chromium, driver)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; in CI the browser tests must run")
		}
		t.Skip(msg)
	}
	return chromium, driver
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDriver runs chromedriver on a free port until the test ends.
func startDriver(t *testing.T, driver string) string {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, driver, "--port="+strconv.Itoa(port))
	logf, err := os.Create(filepath.Join(t.TempDir(), "chromedriver.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logf.Close()
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st struct {
			Value struct {
				Ready bool `json:"ready"`
			} `json:"value"`
		}
		resp, err := http.Get(base + "/status")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Value.Ready {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// session is one browser.
type session struct {
	t    *testing.T
	base string // driver URL + /session/<id>
}

// newSession starts headless Chromium with the flags this kind of machine
// needs (no sandbox as root, no background network, a fresh profile).
func newSession(t *testing.T, driver, chromium string) *session {
	t.Helper()
	caps := map[string]any{
		"capabilities": map[string]any{
			"alwaysMatch": map[string]any{
				"browserName": "chrome",
				"goog:chromeOptions": map[string]any{
					"binary": chromium,
					"args": []string{
						"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
						"--disable-background-networking", "--disable-component-update", "--disable-sync",
						"--disable-dev-shm-usage", "--window-size=1200,800",
						"--user-data-dir=" + t.TempDir(),
					},
				},
			},
		},
	}
	var out struct {
		SessionID string `json:"sessionId"`
	}
	if err := call(driver+"/session", "POST", caps, &out); err != nil {
		t.Fatalf("new session: %v", err)
	}
	s := &session{t: t, base: driver + "/session/" + out.SessionID}
	t.Cleanup(func() { _ = call(s.base, "DELETE", nil, nil) })
	return s
}

// call does one WebDriver command and decodes its "value" into out.
func call(url, method string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, env.Value)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (s *session) do(method, path string, body, out any) {
	s.t.Helper()
	if err := call(s.base+path, method, body, out); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) navigate(url string) { s.do("POST", "/url", map[string]string{"url": url}, nil) }

// window returns the current window handle.
func (s *session) window() string {
	var h string
	s.do("GET", "/window", nil, &h)
	return h
}

// newTab opens a tab and returns its handle (the current window stays).
func (s *session) newTab() string {
	var out struct {
		Handle string `json:"handle"`
	}
	s.do("POST", "/window/new", map[string]string{"type": "tab"}, &out)
	return out.Handle
}

func (s *session) switchTo(handle string) {
	s.do("POST", "/window", map[string]string{"handle": handle}, nil)
}

func (s *session) find(css string) string {
	s.t.Helper()
	var el map[string]string
	s.do("POST", "/element", map[string]string{"using": "css selector", "value": css}, &el)
	return el[elementKey]
}

func (s *session) click(css string) {
	s.do("POST", "/element/"+s.find(css)+"/click", map[string]any{}, nil)
}

func (s *session) typeInto(css, text string) {
	id := s.find(css)
	s.do("POST", "/element/"+id+"/clear", map[string]any{}, nil)
	s.do("POST", "/element/"+id+"/value", map[string]string{"text": text}, nil)
}

// js runs script (a function body) and decodes what it returns into out.
func (s *session) js(script string, out any, args ...any) {
	s.t.Helper()
	if args == nil {
		args = []any{}
	}
	s.do("POST", "/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// text returns the textContent of the first element matching css, "" when none.
func (s *session) text(css string) string {
	var v string
	s.js(`const e = document.querySelector(arguments[0]); return e ? e.textContent : "";`, &v, css)
	return v
}

// waitText waits until the element's text satisfies ok.
func (s *session) waitText(what, css string, ok func(string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := s.text(css)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s: %s is %q", what, css, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves a PNG of the current tab in the test's artifact
// directory (kept with go test -artifacts) and returns its path.
func (s *session) screenshot(name string) string {
	s.t.Helper()
	var b64 string
	s.do("GET", "/screenshot", nil, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		s.t.Fatal(err)
	}
	p := filepath.Join(s.t.ArtifactDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// resize sets the browser window's size in CSS pixels.
func (s *session) resize(width, height int) {
	s.t.Helper()
	s.do("POST", "/window/rect", map[string]int{"width": width, "height": height}, nil)
}

// waitVisible waits until the element matching css is shown (not hidden,
// laid out).
func (s *session) waitVisible(what, css string) {
	s.t.Helper()
	s.waitJS(what, `const e = document.querySelector(arguments[0]); return !!e && !e.hidden && e.getClientRects().length > 0;`, css)
}

// waitHidden waits until the element matching css is gone or hidden.
func (s *session) waitHidden(what, css string) {
	s.t.Helper()
	s.waitJS(what, `const e = document.querySelector(arguments[0]); return !e || e.hidden || e.getClientRects().length === 0;`, css)
}

// waitJS waits until script (a function body returning a boolean) is true.
func (s *session) waitJS(what, script string, args ...any) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		s.js(script, &ok, args...)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
