package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/node"
)

// Who may use /admin and the admin API calls, for each way a node can be
// configured.
func TestAdmin_Access(t *testing.T) {
	tests := []struct {
		name          string
		dev           bool
		apiKey, admin string
		bearer        string
		page, nodes   int // GET /admin/, GET /api/nodes
		broadcast     int // POST /api/broadcast: the ordinary API
	}{
		{"dev, nothing configured: open", true, "", "", "", 200, 200, 202},
		{"production, nothing configured: off", false, "", "", "", 403, 403, 202},
		{"admin token, none given", false, "", "adm", "", 200, 401, 202},
		{"admin token, wrong one", false, "", "adm", "nope", 200, 401, 202},
		{"admin token given", false, "", "adm", "adm", 200, 200, 202},
		{"API key guards admin too", false, "key", "", "key", 200, 200, 202},
		{"API key set, admin token opens the API", false, "key", "adm", "adm", 200, 200, 202},
		{"API key set, nothing given", false, "key", "adm", "", 200, 401, 401},
		{"dev with an admin token still needs it", true, "", "adm", "", 200, 401, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hubtest.Config(t)
			cfg.Node.Dev, cfg.Auth.APIKey, cfg.Auth.AdminToken = tt.dev, tt.apiKey, tt.admin
			n := hubtest.Start(t, cfg)
			resp, err := http.Get(n.HTTPURL() + "/admin/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.page {
				t.Errorf("GET /admin/ = %d, want %d", resp.StatusCode, tt.page)
			}
			status, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/nodes", tt.bearer, "")
			if status != tt.nodes {
				t.Errorf("GET /api/nodes = %d %v, want %d", status, body, tt.nodes)
			}
			if status == http.StatusForbidden && !strings.Contains(body["error"].(string), "HUB_ADMIN_TOKEN") {
				t.Errorf("403 does not say how to turn admin on: %v", body)
			}
			if status, _ := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/broadcast", tt.bearer, `{}`); status != tt.broadcast {
				t.Errorf("POST /api/broadcast = %d, want %d", status, tt.broadcast)
			}
		})
	}
}

// The page is served with its files and a restrictive policy; a node that
// has no admin access answers JSON.
func TestAdmin_PageServed(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	for path, ctype := range map[string]string{"/admin/": "text/html", "/admin/admin.js": "text/javascript", "/admin/admin.css": "text/css"} {
		resp, err := http.Get(n.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s: no CSP", path)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(n.HTTPURL() + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/admin/" {
		t.Errorf("GET /admin: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func startPair(t *testing.T) (a, b *node.Node) {
	t.Helper()
	a = hubtest.Start(t, hubtest.ClusterConfig(t))
	b = hubtest.Start(t, hubtest.ClusterConfig(t, a.GossipAddr()))
	waitFormed(t, []*node.Node{a, b}, true)
	return a, b
}

type nodesAnswer struct {
	Nodes    []node.NodeInfo `json:"nodes"`
	Missing  []string        `json:"missing"`
	Complete bool            `json:"complete"`
}

func getNodes(t *testing.T, n *node.Node) nodesAnswer {
	t.Helper()
	resp, err := http.Get(n.HTTPURL() + "/api/nodes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a nodesAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/nodes: %d %v", resp.StatusCode, err)
	}
	return a
}

// GET /api/nodes answers for every node of the cluster, whichever is asked,
// and names a member that does not answer.
func TestAdmin_NodesClusterWide(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: multi-node")
	}
	a, b := startPair(t)
	c1 := hubtest.Dial(t, b.WSURL()+"?user=u1", nil)
	c1.Join("r1")
	c2 := hubtest.Dial(t, b.WSURL()+"?user=u2", nil)
	c2.Join("r1")
	c2.Join("r2")

	hubtest.Eventually(t, "both nodes ready", func() bool {
		ra, _ := a.Ready()
		rb, _ := b.Ready()
		return ra && rb
	})
	got := getNodes(t, a)
	if !got.Complete || len(got.Nodes) != 2 || len(got.Missing) != 0 {
		t.Fatalf("GET /api/nodes on a = %+v", got)
	}
	byName := map[string]node.NodeInfo{}
	for _, ni := range got.Nodes {
		byName[ni.Node] = ni
	}
	nb := byName[b.Name()]
	if nb.Connections != 2 || nb.Rooms != 2 || nb.Users != 2 || !nb.Ready || nb.ClusterSize != 2 || nb.NATS != "embedded" || nb.NATSRoutes != 1 {
		t.Errorf("b as a sees it: %+v", nb)
	}
	na := byName[a.Name()]
	if na.Connections != 0 || !na.Ready || na.Version == "" || na.Uptime <= 0 || na.StartedAt.IsZero() {
		t.Errorf("a: %+v", na)
	}
	if na.RSS == 0 || na.Heap == 0 || na.Goroutines == 0 || na.GOMAXPROCS == 0 || na.CPUSeconds <= 0 {
		t.Errorf("a's process figures: %+v", na)
	}

	// b stopped without leaving gossip's view at once: while gossip still
	// lists it, it is named as missing; afterwards it is gone.
	stop(t, b)
	hubtest.Eventually(t, "a to answer without b", func() bool {
		g := getNodes(t, a)
		return len(g.Nodes) == 1 && g.Nodes[0].Node == a.Name()
	})
}

type eventStream struct {
	t    *testing.T
	resp *http.Response
	ev   chan [2]string
}

func openEvents(t *testing.T, url, bearer string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &eventStream{t: t, resp: resp, ev: make(chan [2]string, 100)}
	if resp.StatusCode != 200 {
		return s
	}
	go func() {
		defer close(s.ev)
		sc := bufio.NewScanner(resp.Body)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data += line[6:]
			case line == "" && name != "":
				s.ev <- [2]string{name, data}
				name, data = "", ""
			}
		}
	}()
	return s
}

// next returns the next event, skipping others than want.
func (s *eventStream) next(want string) map[string]any {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-s.ev:
			if !ok {
				s.t.Fatalf("events stream ended waiting for %s", want)
			}
			if e[0] != want {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(e[1]), &m); err != nil {
				s.t.Fatalf("event %s: %v: %s", e[0], err, e[1])
			}
			return m
		case <-timeout:
			s.t.Fatalf("no %s event within 10s", want)
		}
	}
}

// GET /api/events streams every node's events, filtered by subject, to an
// admin; ends when the node shuts down.
func TestAdmin_EventsStream(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: multi-node")
	}
	a, b := startPair(t)
	all := openEvents(t, a.HTTPURL()+"/api/events", "")
	if m := all.next("ready"); m["node"] != a.Name() {
		t.Fatalf("ready = %v", m)
	}
	only := openEvents(t, a.HTTPURL()+"/api/events?filter=disconnect", "")
	only.next("ready")

	c := hubtest.Dial(t, b.WSURL()+"?user=tailed", nil)
	c.Join("r")
	ev := all.next("connect")
	id := ev["connection_id"].(string)
	if ev["user"] != "tailed" || ev["node"] != b.Name() {
		t.Errorf("connect event through a = %v", ev)
	}
	c.Close()
	if ev := all.next("disconnect"); ev["connection_id"] != id {
		t.Errorf("disconnect = %v, want %s", ev, id)
	}
	ev = only.next("disconnect")
	if ev["connection_id"] != id {
		t.Errorf("filtered stream: %v", ev)
	}
	// The filtered stream saw no connect: the next event it has is none.
	select {
	case e := <-only.ev:
		t.Errorf("filter=disconnect passed %s", e[0])
	default:
	}

	for _, bad := range []string{"a..b", "node_*", "x.>.y", "a b"} {
		if status, _ := hubtest.HTTP(t, "GET", a.HTTPURL()+"/api/events?filter="+strings.ReplaceAll(bad, " ", "%20"), "", ""); status != 400 {
			t.Errorf("filter %q: %d, want 400", bad, status)
		}
	}

	stop(t, a)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-all.ev:
			if !ok {
				return // ended by the shutdown
			}
		case <-timeout:
			t.Fatal("events stream still open 10 s after shutdown")
		}
	}
}

// An admin token guards the stream like the other admin calls.
func TestAdmin_EventsNeedToken(t *testing.T) {
	cfg := hubtest.Config(t)
	cfg.Auth.AdminToken = "adm"
	n := hubtest.Start(t, cfg)
	if s := openEvents(t, n.HTTPURL()+"/api/events", ""); s.resp.StatusCode != 401 {
		t.Fatalf("without the token: %d", s.resp.StatusCode)
	}
	s := openEvents(t, n.HTTPURL()+"/api/events", "adm")
	s.next("ready")
}

// GET /api/users/{user}/connections lists the user's connections on every
// node, oldest first, with their rooms.
func TestAdmin_UserConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: multi-node")
	}
	a, b := startPair(t)
	c1 := hubtest.Dial(t, a.WSURL()+"?user=multi", nil)
	c1.Join("r1")
	c2 := hubtest.Dial(t, b.WSURL()+"?user=multi", nil)
	c2.Join("r2")
	c2.Join("r3")
	hubtest.Dial(t, b.WSURL()+"?user=other", nil)

	var got struct {
		User        string `json:"user"`
		Connections []struct {
			ID    string   `json:"id"`
			User  string   `json:"user"`
			Node  string   `json:"node"`
			Rooms []string `json:"rooms"`
		} `json:"connections"`
		Nodes    int  `json:"nodes"`
		Complete bool `json:"complete"`
	}
	// A connection joins its user's group on its own (not before its room
	// joins are acknowledged): wait for both to be listed.
	query := func() bool {
		resp, err := http.Get(b.HTTPURL() + "/api/users/multi/connections")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %d %v", resp.StatusCode, err)
		}
		return len(got.Connections) == 2
	}
	hubtest.Eventually(t, "both of multi's connections listed", query)
	if got.User != "multi" || got.Nodes != 2 || !got.Complete || len(got.Connections) != 2 {
		t.Fatalf("answer = %+v", got)
	}
	first, second := got.Connections[0], got.Connections[1]
	if first.Node != a.Name() || strings.Join(first.Rooms, ",") != "r1" || second.Node != b.Name() || strings.Join(second.Rooms, ",") != "r2,r3" {
		t.Errorf("connections = %+v", got.Connections)
	}
	if status, body := hubtest.HTTP(t, "GET", a.HTTPURL()+"/api/users/nobody/connections", "", ""); status != 200 || len(body["connections"].([]any)) != 0 {
		t.Errorf("nobody: %d %v", status, body)
	}
	if status, _ := hubtest.HTTP(t, "GET", a.HTTPURL()+"/api/users/a..b/connections", "", ""); status != 400 {
		t.Errorf("bad name: %d", status)
	}
}
