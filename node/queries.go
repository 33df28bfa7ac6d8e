package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/actors"
)

// queries answers the HTTP API for the whole cluster. A question about one
// connection goes to the node that holds it (its name is the first part of
// the id); a count goes to every node, and the answers are summed. Each node
// subscribes to <prefix>.internal.node.<name>.* for the first and to
// <prefix>.internal.count.> for the second.
type queries struct {
	n    *Node
	subs []*nats.Subscription
	left sync.Map // node name → time it reported leaving
}

type countAnswer struct {
	Node string `json:"node"`
	N    int    `json:"n"`
}

type connAnswer struct {
	Found  bool             `json:"found"`
	Member bool             `json:"member,omitempty"` // leave: the connection was in the room
	Info   *actors.ConnInfo `json:"info,omitempty"`
}

// CountWait bounds how long a count waits for the other nodes' answers.
const CountWait = 2 * time.Second

func startQueries(n *Node) (*queries, error) {
	q := &queries{n: n}
	nc := n.nc
	self := n.bus.Subject("internal.node." + n.Name() + ".")
	handlers := map[string]nats.MsgHandler{
		self + "info": func(m *nats.Msg) {
			info, ok := n.sys.Info(string(m.Data))
			a := connAnswer{Found: ok}
			if ok {
				a.Info = &info
			}
			respond(m, a)
		},
		self + "ping": func(m *nats.Msg) { _ = m.Respond(nil) },
		self + "kick": func(m *nats.Msg) { respond(m, connAnswer{Found: n.sys.Kick(string(m.Data))}) },
		self + "join": func(m *nats.Msg) {
			go func() {
				found := n.sys.JoinConn(m.Header.Get("Hub-Conn"), m.Header.Get("Hub-Room"), serverJoinWait)
				respond(m, connAnswer{Found: found})
			}()
		},
		self + "leave": func(m *nats.Msg) {
			go func() {
				found, member := n.sys.LeaveConn(m.Header.Get("Hub-Conn"), m.Header.Get("Hub-Room"), serverJoinWait)
				respond(m, connAnswer{Found: found, Member: member})
			}()
		},
		self + "close": func(m *nats.Msg) {
			code, _ := strconv.Atoi(m.Header.Get("Hub-Code"))
			respond(m, connAnswer{Found: n.sys.CloseConn(m.Header.Get("Hub-Conn"), uint16(code), m.Header.Get("Hub-Reason"))})
		},
		self + "send": func(m *nats.Msg) {
			id := m.Header.Get("Hub-Conn")
			respond(m, connAnswer{Found: n.sys.DeliverConn(id, encodeMessage(m.Data))})
		},
		n.bus.Subject("events.node_down"): func(m *nats.Msg) {
			var e nodeEvent
			if json.Unmarshal(m.Data, &e) == nil && e.Reason == "left" {
				q.left.Store(e.Node, time.Now())
			}
		},
		n.bus.Subject("internal.cmd.>"): func(m *nats.Msg) {
			// Commands may wait (a server-side join waits for the room's
			// subscription): off the subscription's goroutine.
			go func() {
				op := strings.TrimPrefix(m.Subject, n.bus.Subject("internal.cmd."))
				ans, _ := json.Marshal(q.localCommand(op, m.Data))
				respond(m, gatherAnswer{Node: n.Name(), Data: ans})
			}()
		},
		n.bus.Subject("internal.count.>"): func(m *nats.Msg) {
			kind, name := m.Header.Get("Hub-Kind"), m.Header.Get("Hub-Name")
			respond(m, countAnswer{Node: n.Name(), N: q.localCount(kind, name)})
		},
	}
	for subj, h := range handlers {
		s, err := nc.Subscribe(subj, h)
		if err != nil {
			q.close()
			return nil, fmt.Errorf("subscribe %s: %w", subj, err)
		}
		q.subs = append(q.subs, s)
	}
	if err := q.subscribeCommands(); err != nil {
		q.close()
		return nil, fmt.Errorf("subscribe api: %w", err)
	}
	return q, flushIfConnected(nc)
}

func respond(m *nats.Msg, v any) {
	b, _ := json.Marshal(v)
	_ = m.Respond(b)
}

func (q *queries) close() {
	for _, s := range q.subs {
		_ = s.Unsubscribe()
	}
	q.subs = nil
}

func (q *queries) localCount(kind, name string) int {
	if kind == "user" {
		return q.n.sys.UserConns(name)
	}
	return q.n.sys.RoomMembers(name)
}

// interestBarrier returns once every other member's NATS server has seen
// this node's latest subscriptions. Subscription interest travels between
// NATS servers asynchronously, but in order on each route: a request to
// each peer, sent after the subscriptions, is answered only after the
// peer's server has processed them. So a client's join is acknowledged
// only when a message published anywhere in the cluster reaches it.
func (q *queries) interestBarrier() bool {
	if q.n.members == nil {
		return true
	}
	var wg sync.WaitGroup
	var failed atomic.Bool
	for _, name := range q.n.members.Names() {
		if name == q.n.Name() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.n.nc.Request(q.n.bus.Subject("internal.node."+name+".ping"), nil, time.Second); err != nil {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	return !failed.Load()
}

// ownerOf returns the node name in a connection id, "" when it has none.
func (q *queries) ownerOf(id string) string { return actors.NodeOf(id) }

// errOwnerSilent: the node holding a connection is a member of the cluster
// but nothing answers on its subjects (cut off from NATS, or dead and not
// yet noticed by gossip).
var errOwnerSilent = errors.New("the node holding the connection does not answer")

// ask sends a question about connection id to the node holding it, with
// more headers as key, value pairs.
func (q *queries) ask(ctx context.Context, op, id string, data []byte, headers ...string) (connAnswer, error) {
	owner := q.ownerOf(id)
	m := nats.NewMsg(q.n.bus.Subject("internal.node." + owner + "." + op))
	m.Header.Set("Hub-Conn", id)
	for i := 0; i+1 < len(headers); i += 2 {
		m.Header.Set(headers[i], headers[i+1])
	}
	m.Data = data
	resp, err := q.n.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		if q.n.members != nil {
			if _, ok := q.n.members.Nodes()[owner]; ok {
				return connAnswer{}, errOwnerSilent // a member, but out of reach
			}
		}
		return connAnswer{}, nil // no such node (any more): no such connection
	}
	if err != nil {
		return connAnswer{}, err
	}
	var a connAnswer
	if err := json.Unmarshal(resp.Data, &a); err != nil {
		return connAnswer{}, fmt.Errorf("bad answer from %s: %w", owner, err)
	}
	return a, nil
}

func (q *queries) info(ctx context.Context, id string) (actors.ConnInfo, bool, error) {
	if q.ownerOf(id) == q.n.Name() {
		info, ok := q.n.sys.Info(id)
		return info, ok, nil
	}
	a, err := q.ask(ctx, "info", id, []byte(id))
	if errors.Is(err, errOwnerSilent) {
		err = nil
	}
	if err != nil || !a.Found || a.Info == nil {
		return actors.ConnInfo{}, false, err
	}
	return *a.Info, true, nil
}

func (q *queries) kick(ctx context.Context, id string) (bool, error) {
	if q.ownerOf(id) == q.n.Name() {
		return q.n.sys.Kick(id), nil
	}
	a, err := q.ask(ctx, "kick", id, []byte(id))
	if errors.Is(err, errOwnerSilent) {
		err = nil
	}
	return a.Found, err
}

func (q *queries) send(ctx context.Context, id string, data []byte) (bool, error) {
	if q.ownerOf(id) == q.n.Name() {
		return q.n.sys.DeliverConn(id, encodeMessage(data)), nil
	}
	a, err := q.ask(ctx, "send", id, data)
	if errors.Is(err, errOwnerSilent) {
		err = nil
	}
	return a.Found, err
}

type count struct {
	total    int
	nodes    int  // nodes that answered, this one included
	complete bool // every member of the cluster answered
}

// count sums a room's members or a user's connections over the cluster.
func (q *queries) count(ctx context.Context, kind, name string) (count, error) {
	c := count{total: q.localCount(kind, name), nodes: 1, complete: true}
	others := 0
	if q.n.members != nil {
		others = q.n.members.Count() - 1
	}
	if others <= 0 {
		return c, nil
	}
	inbox := q.n.nc.NewRespInbox()
	sub, err := q.n.nc.SubscribeSync(inbox)
	if err != nil {
		return c, err
	}
	defer sub.Unsubscribe()
	m := nats.NewMsg(q.n.bus.Subject("internal.count." + kind))
	m.Reply = inbox
	m.Header.Set("Hub-Kind", kind)
	m.Header.Set("Hub-Name", name)
	if err := q.n.nc.PublishMsg(m); err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(ctx, CountWait)
	defer cancel()
	seen := map[string]bool{q.n.Name(): true}
	for len(seen)-1 < others {
		resp, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break // deadline: answer with what we have
		}
		var a countAnswer
		if json.Unmarshal(resp.Data, &a) != nil || seen[a.Node] {
			continue
		}
		seen[a.Node] = true
		c.total += a.N
		c.nodes++
	}
	c.complete = c.nodes-1 >= others
	return c, nil
}

type gatherAnswer struct {
	Node string          `json:"node"`
	Data json.RawMessage `json:"data"`
}

// gathered is what the nodes of the cluster answered to a command.
type gathered struct {
	answers  []json.RawMessage // this node's first
	nodes    int               // nodes that answered, this one included
	complete bool              // every member of the cluster answered
}

// gather runs command op with data on every node of the cluster (this one
// directly) and collects the answers for at most CountWait. complete is
// false when a member the gossip knows did not answer in time (dead, cut
// off from NATS, or too slow).
func (q *queries) gather(ctx context.Context, op string, data []byte) (gathered, error) {
	local, err := json.Marshal(q.localCommand(op, data))
	if err != nil {
		return gathered{}, err
	}
	g := gathered{answers: []json.RawMessage{local}, nodes: 1, complete: true}
	seen := map[string]bool{q.n.Name(): true}
	expect := map[string]bool{}
	if q.n.members != nil {
		for name := range q.n.members.Nodes() {
			if name != q.n.Name() {
				expect[name] = true
			}
		}
	}
	if len(expect) == 0 {
		return g, nil
	}
	inbox := q.n.nc.NewRespInbox()
	sub, err := q.n.nc.SubscribeSync(inbox)
	if err != nil {
		return g, err
	}
	defer sub.Unsubscribe()
	if err := q.n.nc.PublishRequest(q.n.bus.Subject("internal.cmd."+op), inbox, data); err != nil {
		return g, err
	}
	ctx, cancel := context.WithTimeout(ctx, CountWait)
	defer cancel()
	for len(expect) > 0 {
		resp, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break // deadline: answer with what we have
		}
		var a gatherAnswer
		if json.Unmarshal(resp.Data, &a) != nil || a.Node == "" || seen[a.Node] {
			continue
		}
		seen[a.Node] = true
		delete(expect, a.Node)
		g.answers = append(g.answers, a.Data)
		g.nodes++
	}
	g.complete = len(expect) == 0
	return g, nil
}
