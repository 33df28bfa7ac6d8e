package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
	"github.com/hubrt/hub/node"
)

const presenceSecret = "presence-secret"

// presenceConfig gives a test node a "chat" namespace with presence and
// join_leave, and a JWT key (development mode still names users by ?user=).
func presenceConfig(t *testing.T, maxList int) *config.Config {
	c := hubtest.Config(t)
	c.Auth.JWTSecret = presenceSecret
	c.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		Presence: &namespace.Presence{JoinLeave: true, MaxList: maxList, LeaveDelay: namespace.DefaultPresenceLeaveDelay}}}
	return c
}

func startPresenceCluster(t *testing.T, size, maxList int) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i := 0; i < size; i++ {
		c := presenceConfig(t, maxList)
		c.Cluster.Secret = hubtest.ClusterSecret
		if i > 0 {
			c.Cluster.Join = []string{nodes[0].GossipAddr()}
		}
		nodes = append(nodes, hubtest.Start(t, c))
	}
	waitFormed(t, nodes, true)
	return nodes
}

func infoToken(t *testing.T, user, info string) string {
	t.Helper()
	claims := node.Claims{Info: json.RawMessage(info), RegisteredClaims: jwt.RegisteredClaims{
		Subject: user, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(presenceSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// presenceWatcher reads a client's frames and keeps its presence changes.
type presenceWatcher struct {
	c       *hubtest.Client
	changes []string
	frames  int // join, leave and presence_diff frames
	others  []hubtest.Msg
}

// until reads until every change of want has been seen (in any order),
// failing after hubtest.Wait.
func (w *presenceWatcher) until(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(hubtest.Wait)
	for !containsAll(w.changes, want) {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("changes %v, want %v among them", w.changes, want)
		}
		m, ok := w.c.TryNext(left)
		if !ok || m == nil {
			t.Fatalf("changes %v, want %v among them (no more frames)", w.changes, want)
		}
		w.take(m)
	}
}

func (w *presenceWatcher) take(m hubtest.Msg) {
	if ch := hubtest.PresenceChanges(m); ch != nil {
		w.frames++
		w.changes = append(w.changes, ch...)
	} else {
		w.others = append(w.others, m)
	}
}

// drain reads what arrives within d.
func (w *presenceWatcher) drain(d time.Duration) {
	for {
		m, ok := w.c.TryNext(d)
		if !ok || m == nil {
			return
		}
		w.take(m)
	}
}

// containsAll reports whether have holds every change of want (as many
// times as want has it); linear, as a storm's observer calls it per frame.
func containsAll(have, want []string) bool {
	if len(have) < len(want) {
		return false
	}
	n := make(map[string]int, len(want))
	for _, x := range want {
		n[x]++
	}
	for _, x := range have {
		if n[x] > 0 {
			n[x]--
		}
	}
	for _, c := range n {
		if c > 0 {
			return false
		}
	}
	return true
}

// exactlyOnce checks that each change of want appears once in have and no
// other change does.
func exactlyOnce(t *testing.T, who string, have, want []string) {
	t.Helper()
	a, b := slices.Clone(have), slices.Clone(want)
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) {
		t.Errorf("%s saw %v, want each of %v exactly once", who, have, want)
	}
}

type presenceAPI struct {
	Room    string `json:"room"`
	Members []struct {
		User        string          `json:"user"`
		Info        json.RawMessage `json:"info"`
		Connections []struct {
			ID          string    `json:"id"`
			Node        string    `json:"node"`
			ConnectedAt time.Time `json:"connected_at"`
		} `json:"connections"`
	} `json:"members"`
	Count       int  `json:"count"`
	Connections int  `json:"connections"`
	Complete    bool `json:"complete"`
	Nodes       int  `json:"nodes"`
}

// summary is "user:connections[:info]" per member, sorted.
func (p presenceAPI) summary() string {
	var out []string
	for _, m := range p.Members {
		s := fmt.Sprintf("%s:%d", m.User, len(m.Connections))
		if len(m.Info) > 0 {
			s += ":" + string(m.Info)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func getPresence(t *testing.T, n *node.Node, room string) presenceAPI {
	t.Helper()
	resp, err := httpGet(n.HTTPURL() + "/api/rooms/" + room + "/presence")
	if err != nil {
		t.Fatal(err)
	}
	var p presenceAPI
	if err := json.Unmarshal(resp, &p); err != nil {
		t.Fatalf("presence answer %s: %v", resp, err)
	}
	return p
}

func waitPresence(t *testing.T, nodes []*node.Node, room, want string) {
	t.Helper()
	for _, n := range nodes {
		var got presenceAPI
		hubtest.Eventually(t, n.Name()+" to list "+want, func() bool {
			got = getPresence(t, n, room)
			return got.Complete && got.summary() == want
		})
	}
}

func presenceFrame(t *testing.T, c *presenceWatcher, room string) hubtest.Msg {
	t.Helper()
	c.c.Send(fmt.Sprintf(`{"type":"presence","room":%q,"id":"p1"}`, room))
	deadline := time.Now().Add(hubtest.Wait)
	for time.Now().Before(deadline) {
		m, ok := c.c.TryNext(time.Until(deadline))
		if !ok || m == nil {
			break
		}
		if m.S("type") == "presence" {
			return m
		}
		c.take(m)
	}
	t.Fatal("no presence answer")
	return nil
}

func frameSummary(m hubtest.Msg) string {
	var p presenceAPI
	_ = json.Unmarshal([]byte(m.S("_raw")), &p)
	return p.summary()
}

// SPEC §11, done means 1: members on 3 nodes; the presence list from every
// node and from the client frame is exact, and join/leave frames arrive
// once per user change on every member; events for backends likewise.
func TestPresence_ThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	nodes := startPresenceCluster(t, 3, 1000)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	nc := hubtest.NATS(t, n1.NATSURL())
	joinEv := hubtest.Events(t, nc, "hub.events.join")
	leaveEv := hubtest.Events(t, nc, "hub.events.leave")
	occupied := hubtest.Events(t, nc, "hub.events.room_occupied")
	vacated := hubtest.Events(t, nc, "hub.events.room_vacated")
	const room = "chat.lobby"
	dial := func(n *node.Node, q string) *presenceWatcher {
		c := hubtest.Dial(t, n.WSURL()+"?"+q, nil)
		c.Join(room)
		return &presenceWatcher{c: c}
	}

	alice := dial(n1, "user=alice")
	alice.until(t, "+alice")
	bob := dial(n2, "user=bob")
	alice.until(t, "+bob")
	bob.until(t, "+bob")
	bob2 := dial(n3, "user=bob") // bob's second tab: no join
	carol := dial(n3, "token="+infoToken(t, "carol", `{"name": "Carol"}`))
	for _, w := range []*presenceWatcher{alice, bob, bob2, carol} {
		w.until(t, "+carol")
	}
	want := `alice:1 bob:2 carol:1:{"name":"Carol"}`
	waitPresence(t, nodes, room, want)
	for _, w := range []*presenceWatcher{alice, bob, bob2, carol} {
		m := presenceFrame(t, w, room)
		if got := frameSummary(m); got != want || m.JSON("count") != "3" || m.JSON("connections") != "4" || m.S("id") != "p1" {
			t.Errorf("presence frame %s, want members %s, count 3, connections 4", m["_raw"], want)
		}
	}

	// bob's second tab leaves: bob is still there.
	bob2.c.Send(`{"type":"leave_room","room":"chat.lobby","id":"l"}`)
	waitPresence(t, nodes, room, `alice:1 bob:1 carol:1:{"name":"Carol"}`)
	// bob's last tab goes: one leave, after the leave delay.
	bob.c.Close()
	alice.until(t, "-bob")
	carol.until(t, "-bob")
	waitPresence(t, nodes, room, `alice:1 carol:1:{"name":"Carol"}`)
	alice.drain(300 * time.Millisecond)
	carol.drain(300 * time.Millisecond)
	bob2.drain(300 * time.Millisecond)
	exactlyOnce(t, "alice", alice.changes, []string{"+alice", "+bob", "+carol", "-bob"})
	exactlyOnce(t, "carol", carol.changes, []string{"+carol", "-bob"})
	exactlyOnce(t, "bob's second tab", bob2.changes, []string{"+carol"})

	// Backends: one join per user, one leave for bob, the room occupied once.
	users := func(ch chan *natsMsg, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			var ev map[string]any
			decode(t, hubtest.NextMsg(t, ch).Data, &ev)
			if ev["room"] != room || ev["connection_id"] == "" || ev["path"] != "/ws" {
				t.Errorf("event %v: want room %s, a connection id, the connection's fields", ev, room)
			}
			out = append(out, fmt.Sprint(ev["user"]))
		}
		return out
	}
	exactlyOnce(t, "join events", users(joinEv, 3), []string{"alice", "bob", "carol"})
	exactlyOnce(t, "leave events", users(leaveEv, 1), []string{"bob"})
	hubtest.NextMsg(t, occupied)
	alice.c.Close()
	carol.c.Close()
	var ev map[string]any
	decode(t, hubtest.NextMsg(t, vacated).Data, &ev)
	if ev["room"] != room {
		t.Errorf("room_vacated %v", ev)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would come within this
	for name, ch := range map[string]chan *natsMsg{"join": joinEv, "leave": leaveEv, "room_occupied": occupied, "room_vacated": vacated} {
		for len(ch) > 0 {
			m := <-ch
			if name == "leave" && (strings.Contains(string(m.Data), `"alice"`) || strings.Contains(string(m.Data), `"carol"`)) {
				continue
			}
			t.Errorf("extra %s event: %s", name, m.Data)
		}
	}
}

// SPEC §11, done means 4: above max_list only counts are kept and sent, to
// the API and to clients; below it again, the list comes back.
func TestPresence_MaxList(t *testing.T) {
	n := hubtest.Start(t, presenceConfig(t, 5))
	const room = "chat.big"
	var ws []*presenceWatcher
	for i := 0; i < 8; i++ {
		c := hubtest.Dial(t, n.WSURL()+fmt.Sprintf("?user=u%d", i), nil)
		c.Join(room)
		ws = append(ws, &presenceWatcher{c: c})
	}
	hubtest.Eventually(t, "counts only", func() bool {
		p := getPresence(t, n, room)
		return p.Members == nil && p.Count == 8 && p.Connections == 8 && p.Complete
	})
	m := presenceFrame(t, ws[0], room)
	if _, has := m["members"]; has || m.JSON("count") != "8" {
		t.Fatalf("presence frame above max_list: %s, want counts only", m["_raw"])
	}
	for _, w := range ws[:4] {
		w.c.Close()
	}
	hubtest.Eventually(t, "the list back", func() bool {
		p := getPresence(t, n, room)
		return p.summary() == "u4:1 u5:1 u6:1 u7:1" && p.Count == 4
	})
	m = presenceFrame(t, ws[4], room)
	if got := frameSummary(m); got != "u4:1 u5:1 u6:1 u7:1" {
		t.Fatalf("presence frame below max_list: %s", m["_raw"])
	}
}

// A presence frame for a room without presence, or one not joined, is an
// error; the API says 404 for a room without presence.
func TestPresence_Errors(t *testing.T) {
	n := hubtest.Start(t, presenceConfig(t, 10))
	c := hubtest.Dial(t, n.WSURL()+"?user=a", nil)
	c.Join("plain")
	c.Send(`{"type":"presence","room":"plain","id":1}`)
	c.ExpectError(120)
	c.Send(`{"type":"presence","room":"chat.x","id":2}`)
	c.ExpectError(109)
	c.Send(`{"type":"presence","id":3}`)
	c.ExpectError(103)
	if status, _ := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/plain/presence", "", ""); status != 404 {
		t.Fatalf("presence of a room without presence: %d, want 404", status)
	}
	if status, body := hubtest.HTTP(t, "GET", n.HTTPURL()+"/api/rooms/chat.empty/presence", "", ""); status != 200 || body["count"] != float64(0) || body["complete"] != true {
		t.Fatalf("presence of an empty room: %d %v", status, body)
	}
}

// SPEC §11, done means 3: a storm of joins into one presence room, spread
// over three nodes, within two seconds: members get batched frames (a
// bounded number each), the heap stays bounded, and the final list is exact.
// go test runs 1,000 joins (300 with -race, as make test runs it); the
// 5,000-join storm is cmd/hub's TestProcessPresenceJoinStorm: in one
// process the test's own clients decoding the storm's O(N²) bytes of frames
// take most of the CPU (a profile: 54% in the drain's JSON decoding, 7% in
// the hub's writes), enough to starve gossip into declaring nodes dead.
func TestPresence_JoinStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	total := 1000
	switch {
	case raceOn:
		// The race detector makes each connection ~10x dearer: the storm
		// is sized so that it still comes within about 2 s.
		total = 300
	}
	nodes := startPresenceCluster(t, 3, 10000)
	const room = "chat.storm"
	// An observer on each node, in the room before the storm.
	var obs []*presenceWatcher
	for i, n := range nodes {
		c := hubtest.Dial(t, n.WSURL()+fmt.Sprintf("?user=obs%d", i), nil)
		c.Join(room)
		obs = append(obs, &presenceWatcher{c: c})
	}
	// Who joined before a member's own first view it learns from the list.
	waitPresence(t, nodes, room, "obs0:1 obs1:1 obs2:1")
	for _, w := range obs {
		w.drain(300 * time.Millisecond)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	clients := make([]*hubtest.Client, total)
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	const dialers = 20
	for d := 0; d < dialers; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < total; i += dialers {
				// Paced: connection i is due at i/total of the 2 s.
				if wait := time.Until(start.Add(time.Duration(i) * 2 * time.Second / time.Duration(total))); wait > 0 {
					time.Sleep(wait)
				}
				c := hubtest.Dial(t, nodes[i%3].WSURL()+fmt.Sprintf("?user=s%d", i), nil)
				c.Send(`{"type":"join_room","room":"chat.storm"}`)
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	hubtest.Eventually(t, "every node to list every member", func() bool {
		for _, n := range nodes {
			if p := getPresence(t, n, room); !p.Complete || p.Count != total+3 || len(p.Members) != total+3 {
				return false
			}
		}
		return true
	})
	// Every member's frames: the joins of everyone after it, batched.
	frames := make([]int, total)
	var dw sync.WaitGroup
	for d := 0; d < 50; d++ {
		dw.Add(1)
		go func() {
			defer dw.Done()
			for i := d; i < total; i += 50 {
				w := &presenceWatcher{c: clients[i]}
				w.drain(100 * time.Millisecond)
				frames[i] = w.frames
			}
		}()
	}
	dw.Wait()
	maxFrames, sumFrames := 0, 0
	for _, f := range frames {
		maxFrames = max(maxFrames, f)
		sumFrames += f
	}
	// Each observer saw every join, once.
	for k, w := range obs {
		var want []string
		for j := 0; j < total; j++ {
			want = append(want, fmt.Sprintf("+s%d", j))
		}
		before := w.frames
		w.changes = nil
		w.until(t, want...)
		w.drain(300 * time.Millisecond)
		exactlyOnce(t, fmt.Sprintf("observer %d", k), w.changes, want)
		if f := w.frames - before; f > maxFrames {
			maxFrames = f
		}
	}
	cpu := processCPU() - cpu0
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d joins over %v on 3 nodes: frames per member max %d, mean %.1f; heap +%.1f MiB; CPU %v until every node listed everyone (3 nodes and %d clients in this process)",
		total, took.Round(time.Millisecond), maxFrames, float64(sumFrames)/float64(total), float64(heap)/(1<<20), cpu.Round(time.Millisecond), total)
	// One frame per frame window (100 ms) at most while joins come in, and
	// a few for the stragglers' windows.
	if bound := int(took/(100*time.Millisecond)) + 10; maxFrames > bound {
		t.Errorf("a member got %d presence frames, want at most %d (one per 100 ms window)", maxFrames, bound)
	}
	// The test's own clients dominate (a goroutine, a 1,024-frame channel
	// and a reader each); the hub's part is measured by
	// BenchmarkTracker_Members.
	if limit := int64(total) * 64 << 10; heap > limit {
		t.Errorf("heap grew by %d bytes, want at most %d (64 KiB per member, the test's clients included)", heap, limit)
	}
}

func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// A namespace's leave_delay (HCL, as a user writes it) decides when a
// user's last leave is told: "0s" at once, "1s" after a second, and a
// reconnect within the delay is no leave at all.
func TestPresence_LeaveDelayConfig(t *testing.T) {
	parsed, err := config.Parse([]byte(`
namespace "now" {
  rooms = ["now.>"]
  presence { join_leave = true  leave_delay = "0s" }
}
namespace "later" {
  rooms = ["later.>"]
  presence { join_leave = true  leave_delay = "1s" }
}
`), "leave.hcl")
	if err != nil {
		t.Fatal(err)
	}
	c := hubtest.Config(t)
	c.Namespaces = parsed.Namespaces
	n := hubtest.Start(t, c)
	for _, tc := range []struct {
		room      string
		min, max  time.Duration
		reconnect bool
	}{
		{"now.a", 0, 900 * time.Millisecond, false},
		{"later.a", time.Second, 1900 * time.Millisecond, false},
		{"later.b", 0, 0, true},
	} {
		w := &presenceWatcher{c: hubtest.Dial(t, n.WSURL()+"?user=watcher", nil)}
		w.c.Join(tc.room)
		bob := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
		bob.Join(tc.room)
		w.until(t, "+watcher", "+bob")
		w.changes = nil
		left := time.Now()
		bob.Close()
		if tc.reconnect {
			// Back within the delay: the watcher hears nothing.
			bob = hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
			bob.Join(tc.room)
			w.drain(1500 * time.Millisecond)
			if len(w.changes) != 0 {
				t.Errorf("%s: a reconnect within leave_delay made %v, want nothing", tc.room, w.changes)
			}
			continue
		}
		w.until(t, "-bob")
		took := time.Since(left)
		if took < tc.min || took > tc.max {
			t.Errorf("%s: the leave came %v after bob left, want %v to %v", tc.room, took.Round(time.Millisecond), tc.min, tc.max)
		}
	}
}
