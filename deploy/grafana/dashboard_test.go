package grafana

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("hub.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("hub.json: %v", err)
	}
	return d
}

// queries returns every PromQL query of the dashboard, keyed by where it is.
func (d dashboard) queries(t *testing.T) map[string]string {
	out := map[string]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for i, tg := range p.Targets {
				out[p.Title+"#"+string(rune('A'+i))] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // the older plain-string form
		}
		// label_values(<selector>, label) names a metric; label_values(label) none.
		m := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(strings.TrimSpace(q.Query))
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(<selector>, <label>)", v.Name, q.Query)
		}
		out["variable $"+v.Name] = m[1]
	}
	return out
}

// Keywords and grouping modifiers: identifiers that are not metric names.
var keywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "offset": true, "and": true, "or": true, "unless": true, "inf": true, "nan": true, "atan2": true,
}

// metricNames returns the metric names a PromQL expression selects. It is a
// lexer, not a parser: strings, label matchers ({...}) and ranges ([...])
// are skipped, identifiers followed by "(" are functions or aggregations,
// and the label lists after by/without/on/ignoring/group_* are skipped.
// Enough for dashboards; a full PromQL parser would pull the whole
// Prometheus module into go.mod.
func metricNames(expr string) []string {
	var names []string
	rs := []rune(expr)
	isStart := func(r rune) bool { return r == '_' || r == ':' || (r|0x20 >= 'a' && r|0x20 <= 'z') }
	isPart := func(r rune) bool { return isStart(r) || (r >= '0' && r <= '9') }
	skipTo := func(i int, open, close rune) int { // i at open; returns index after the matching close
		depth := 0
		for ; i < len(rs); i++ {
			switch rs[i] {
			case '"', '\'', '`':
				q := rs[i]
				for i++; i < len(rs) && rs[i] != q; i++ {
					if rs[i] == '\\' && q != '`' {
						i++
					}
				}
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	nextNonSpace := func(i int) int {
		for i < len(rs) && (rs[i] == ' ' || rs[i] == '\t' || rs[i] == '\n') {
			i++
		}
		return i
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case r == '{':
			i = skipTo(i, '{', '}')
		case r == '[':
			i = skipTo(i, '[', ']')
		case r >= '0' && r <= '9' || r == '.':
			for i < len(rs) && (isPart(rs[i]) || rs[i] == '.') {
				i++
			}
		case isStart(r):
			j := i
			for j < len(rs) && isPart(rs[j]) {
				j++
			}
			word := string(rs[i:j])
			k := nextNonSpace(j)
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" || word == "group_right":
				if k < len(rs) && rs[k] == '(' {
					j = skipTo(k, '(', ')')
				}
			case keywords[strings.ToLower(word)]:
			case k < len(rs) && rs[k] == '(',
				strings.HasPrefix(string(rs[k:]), "by") || strings.HasPrefix(string(rs[k:]), "without"):
				// a function, or an aggregation (sum(...), sum by (l) (...))
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`hub_connections`, []string{"hub_connections"}},
		{`sum by (instance) (rate(hub_connections_accepted_total{job=~"$job",instance=~"a{b}"}[$__rate_interval]))`, []string{"hub_connections_accepted_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(hub_fanout_seconds_bucket{job="x"}[5m])))`, []string{"hub_fanout_seconds_bucket"}},
		{`hub_process_open_fds / on(instance) group_left hub_process_max_fds > 0.8`, []string{"hub_process_open_fds", "hub_process_max_fds"}},
		{`max(hub_cluster_members) < bool count(up{job="hub"} == 1) offset 5m`, []string{"hub_cluster_members", "up"}},
		{`sum(rate(a_total[1m])) / sum without (code) (b_total) * 1e3 unless c`, []string{"a_total", "b_total", "c"}},
		{`topk by (instance) (3, byte_total)`, []string{"byte_total"}},
		{`label_replace(x, "dst", "$1", "src", "(.*)")`, []string{"x"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// scrape returns the sample names a node serves on /metrics.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestDashboard_QueriesNameExportedMetrics starts a node, gives it a little
// of everything (a connection that joins, sends, errs and leaves, an API
// publish, a refused SSE request) so labelled series exist, scrapes it,
// and checks every metric every dashboard query names.
func TestDashboard_QueriesNameExportedMetrics(t *testing.T) {
	d := load(t)
	if d.Title == "" || d.UID == "" {
		t.Fatalf("dashboard without title or uid: %q %q", d.Title, d.UID)
	}
	qs := d.queries(t)
	if len(qs) < 20 {
		t.Fatalf("only %d queries in hub.json", len(qs))
	}

	cfg := hubtest.Config(t)
	cfg.WebSocket.AllowedOrigins = []string{"https://app.example.com"}
	n := hubtest.Start(t, cfg)
	c := hubtest.Dial(t, n.WSURL()+"?user=dash", http.Header{"Origin": {"https://app.example.com"}})
	c.Join("lobby")
	c.Send(`not json`)
	c.Expect("error")
	if status, _ := hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/lobby/messages", "", `{"x":1}`); status != http.StatusAccepted {
		t.Fatalf("POST: %d", status)
	}
	c.Expect("message")
	req, _ := http.NewRequest("GET", n.HTTPURL()+"/sse?room=lobby", nil)
	req.Header.Set("Origin", "https://evil.example.com")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("SSE with a foreign origin: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	c.Close()
	hubtest.Eventually(t, "the disconnect counted", func() bool {
		return scrape(t, n.HTTPURL()+"/metrics")["hub_disconnections_total"]
	})

	exported := scrape(t, n.HTTPURL()+"/metrics")
	seen := map[string]bool{}
	where := make([]string, 0, len(qs))
	for w := range qs {
		where = append(where, w)
	}
	sort.Strings(where)
	for _, w := range where {
		names := metricNames(qs[w])
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", w, qs[w])
		}
		for _, m := range names {
			seen[m] = true
			if !exported[m] {
				t.Errorf("%s: %s is not exported by the hub (query %q)", w, m, qs[w])
			}
		}
	}
	// The dashboard covers what the README promises it shows.
	for _, m := range []string{"hub_connections", "hub_connections_accepted_total", "hub_deliveries_total",
		"hub_fanout_seconds_bucket", "hub_slow_consumers_total", "hub_nats_connected", "hub_cluster_members",
		"hub_upgrades_rejected_total", "go_goroutines", "hub_process_resident_memory_bytes"} {
		if !seen[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}
