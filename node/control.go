package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/protocol"
)

// Server-side control of connections (SPEC §13): make a user's connections
// or one connection join or leave a room, disconnect a user, list rooms,
// publish to many rooms, and the per-user connection limit. Every call
// answers for the whole cluster: cluster-wide calls run on every node
// through gather and say whether every member answered (complete); calls
// about one connection go to the node that holds it.

// serverJoinWait bounds how long a server-side join or leave waits for the
// connections to be in (or out of) the room before it answers.
const serverJoinWait = 3 * time.Second

// Room listing bounds.
const (
	DefaultRoomsLimit = 100
	MaxRoomsLimit     = 1000
	MaxPublishRooms   = 1000
)

// command is the request of a cluster-wide command, as the HTTP API builds
// it from the path and query and as NATS requests on <prefix>.api.<op>
// carry it.
type command struct {
	User   string          `json:"user,omitempty"`
	Room   string          `json:"room,omitempty"`
	Conn   string          `json:"connection,omitempty"`
	Code   int             `json:"code,omitempty"`
	Prefix string          `json:"prefix,omitempty"`
	Cursor string          `json:"cursor,omitempty"`
	Limit  int             `json:"limit,omitempty"`
	Sort   string          `json:"sort,omitempty"`
	Rooms  []string        `json:"rooms,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// Commands run on every node (internal.cmd.<op>).
const (
	cmdRooms      = "rooms"
	cmdUserJoin   = "user_join"
	cmdUserLeave  = "user_leave"
	cmdUserClose  = "user_close"
	cmdUserConns  = "user_conns"
	cmdCloseConns = "close_conns"
	cmdNodes      = "nodes"     // NodeInfo, for GET /api/nodes (nodeinfo.go)
	cmdUserInfo   = "user_info" // the user's connections as ConnInfo, for GET /api/users/{user}/connections
)

type countReply struct {
	N int `json:"n"`
}

type closeConnsReq struct {
	IDs    []string `json:"ids"`
	Code   int      `json:"code"`
	Reason string   `json:"reason"`
}

// localCommand runs a cluster-wide command on this node.
func (q *queries) localCommand(op string, data []byte) any {
	sys := q.n.sys
	if op == cmdNodes {
		return q.n.info()
	}
	if op == cmdCloseConns {
		var r closeConnsReq
		if json.Unmarshal(data, &r) != nil {
			return countReply{}
		}
		n := 0
		for _, id := range r.IDs {
			if actors.NodeOf(id) == q.n.Name() && sys.CloseConn(id, uint16(r.Code), r.Reason) {
				n++
			}
		}
		return countReply{N: n}
	}
	var c command
	if json.Unmarshal(data, &c) != nil {
		return nil
	}
	switch op {
	case cmdRooms:
		return sys.Rooms(c.Prefix, c.Cursor, c.Limit, c.Sort == "members")
	case cmdUserJoin:
		return countReply{N: sys.JoinUser(c.User, c.Room, serverJoinWait)}
	case cmdUserLeave:
		return countReply{N: sys.LeaveUser(c.User, c.Room, serverJoinWait)}
	case cmdUserClose:
		return countReply{N: sys.CloseUser(c.User, uint16(c.Code), closeReason(c.Code))}
	case cmdUserConns:
		return sys.UserConnections(c.User)
	case cmdUserInfo:
		return q.n.userConnInfo(c.User)
	}
	return nil
}

// apiError is a refused command: its HTTP status and message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg string) error { return &apiError{http.StatusBadRequest, msg} }

// result is a command's answer body.
type result map[string]any

func (n *Node) gatherCount(ctx context.Context, op string, c command) (int, gathered, error) {
	b, _ := json.Marshal(c)
	g, err := n.queries.gather(ctx, op, b)
	if err != nil {
		return 0, g, err
	}
	total := 0
	for _, a := range g.answers {
		var r countReply
		if json.Unmarshal(a, &r) == nil {
			total += r.N
		}
	}
	return total, g, nil
}

// userRoom makes every connection of c.User join (or leave) c.Room.
func (n *Node) userRoom(ctx context.Context, c command, join bool) (result, error) {
	if !protocol.ValidName(c.User) {
		return nil, badRequest("invalid user name")
	}
	if !protocol.ValidName(c.Room) {
		return nil, badRequest("invalid room name")
	}
	op := cmdUserLeave
	if join {
		op = cmdUserJoin
	}
	total, g, err := n.gatherCount(ctx, op, command{User: c.User, Room: c.Room})
	if err != nil {
		return nil, err
	}
	return result{"user": c.User, "room": c.Room, "connections": total, "nodes": g.nodes, "complete": g.complete}, nil
}

// disconnectUser closes every connection of c.User with c.Code (default
// 4500 kicked).
func (n *Node) disconnectUser(ctx context.Context, c command) (result, error) {
	if !protocol.ValidName(c.User) {
		return nil, badRequest("invalid user name")
	}
	code, err := closeCode(c.Code)
	if err != nil {
		return nil, err
	}
	total, g, err := n.gatherCount(ctx, cmdUserClose, command{User: c.User, Code: code})
	if err != nil {
		return nil, err
	}
	return result{"user": c.User, "code": code, "connections": total, "nodes": g.nodes, "complete": g.complete}, nil
}

// closeReason is the reason sent with a close code a backend chose:
// "reconnect" for 4000-4499, "kicked" for 4500-4999.
func closeReason(code int) string {
	if code < 4500 {
		return protocol.ReasonReconnect
	}
	return protocol.ReasonKicked
}

func closeCode(code int) (int, error) {
	if code == 0 {
		return int(protocol.CloseKicked), nil
	}
	if code < 4000 || code > 4999 {
		return 0, badRequest("code must be in 4000-4999 (4000-4499: the client reconnects, 4500-4999: it does not)")
	}
	return code, nil
}

// connRoom makes one connection join (or leave) a room.
func (n *Node) connRoom(ctx context.Context, c command, join bool) (result, error) {
	if !protocol.ValidName(c.Conn) || actors.NodeOf(c.Conn) == "" {
		return nil, &apiError{http.StatusNotFound, "connection not found"}
	}
	if !protocol.ValidName(c.Room) {
		return nil, badRequest("invalid room name")
	}
	var a connAnswer
	if actors.NodeOf(c.Conn) == n.Name() {
		if join {
			a.Found = n.sys.JoinConn(c.Conn, c.Room, serverJoinWait)
		} else {
			a.Found, a.Member = n.sys.LeaveConn(c.Conn, c.Room, serverJoinWait)
		}
	} else {
		op := "leave"
		if join {
			op = "join"
		}
		var err error
		a, err = n.queries.ask(ctx, op, c.Conn, nil, "Hub-Room", c.Room)
		if err != nil {
			return nil, n.ownerSilent(c.Conn, err)
		}
	}
	if !a.Found {
		return nil, &apiError{http.StatusNotFound, "connection not found"}
	}
	r := result{"connection": c.Conn, "room": c.Room, "complete": true}
	if !join {
		r["was_member"] = a.Member
	}
	return r, nil
}

// disconnectConn closes one connection with c.Code (default 4500).
func (n *Node) disconnectConn(ctx context.Context, c command) (result, error) {
	if !protocol.ValidName(c.Conn) || actors.NodeOf(c.Conn) == "" {
		return nil, &apiError{http.StatusNotFound, "connection not found"}
	}
	code, err := closeCode(c.Code)
	if err != nil {
		return nil, err
	}
	var found bool
	if actors.NodeOf(c.Conn) == n.Name() {
		found = n.sys.CloseConn(c.Conn, uint16(code), closeReason(code))
	} else {
		a, err := n.queries.ask(ctx, "close", c.Conn, nil, "Hub-Code", strconv.Itoa(code), "Hub-Reason", closeReason(code))
		if err != nil {
			return nil, n.ownerSilent(c.Conn, err)
		}
		found = a.Found
	}
	if !found {
		return nil, &apiError{http.StatusNotFound, "connection not found"}
	}
	return result{"connection": c.Conn, "code": code, "complete": true}, nil
}

// ownerSilent is the error of a call about one connection whose node did not
// answer: 504, the body saying complete:false.
func (n *Node) ownerSilent(id string, err error) error {
	return &apiError{http.StatusGatewayTimeout, "node " + actors.NodeOf(id) + " did not answer: " + err.Error()}
}

// listRooms lists the rooms with members anywhere in the cluster, with
// their member counts: in name order, a page of c.Limit after c.Cursor, or
// with c.Sort "members" the c.Limit largest.
func (n *Node) listRooms(ctx context.Context, c command) (result, error) {
	if c.Limit == 0 {
		c.Limit = DefaultRoomsLimit
	}
	if c.Limit < 0 || c.Limit > MaxRoomsLimit {
		return nil, badRequest("limit must be 1 to " + strconv.Itoa(MaxRoomsLimit))
	}
	byMembers := false
	switch c.Sort {
	case "", "name":
	case "members":
		byMembers = true
	default:
		return nil, badRequest(`sort must be "name" or "members"`)
	}
	// Each node answers its first limit+1 rooms after the cursor: the
	// cluster's first limit rooms are among them, with their counts whole
	// (a room among the first limit of the cluster is among the first
	// limit of every node that has it). Sorted by members, each node
	// answers all its matching rooms, so the sums are exact.
	ask := command{Prefix: c.Prefix, Cursor: c.Cursor, Limit: c.Limit + 1, Sort: c.Sort}
	if byMembers {
		ask.Limit, ask.Cursor = 0, ""
	}
	b, _ := json.Marshal(ask)
	g, err := n.queries.gather(ctx, cmdRooms, b)
	if err != nil {
		return nil, err
	}
	sums := map[string]int{}
	for _, a := range g.answers {
		var rooms []actors.RoomCount
		if json.Unmarshal(a, &rooms) != nil {
			continue
		}
		for _, r := range rooms {
			sums[r.Room] += r.Members
		}
	}
	rooms := make([]actors.RoomCount, 0, len(sums))
	for room, members := range sums {
		rooms = append(rooms, actors.RoomCount{Room: room, Members: members})
	}
	if byMembers {
		slices.SortFunc(rooms, func(a, b actors.RoomCount) int {
			return cmp.Or(cmp.Compare(b.Members, a.Members), strings.Compare(a.Room, b.Room))
		})
	} else {
		slices.SortFunc(rooms, func(a, b actors.RoomCount) int { return strings.Compare(a.Room, b.Room) })
	}
	next := ""
	if len(rooms) > c.Limit {
		rooms = rooms[:c.Limit]
		if !byMembers {
			next = rooms[len(rooms)-1].Room
		}
	}
	return result{"rooms": rooms, "next_cursor": next, "nodes": g.nodes, "complete": g.complete}, nil
}

// publishRooms sends one message to many rooms.
func (n *Node) publishRooms(_ context.Context, c command) (result, error) {
	if len(c.Rooms) == 0 || len(c.Rooms) > MaxPublishRooms {
		return nil, badRequest("rooms must list 1 to " + strconv.Itoa(MaxPublishRooms) + " rooms")
	}
	for _, r := range c.Rooms {
		if !protocol.ValidName(r) {
			return nil, badRequest("invalid room name: " + r)
		}
	}
	data := []byte(strings.TrimSpace(string(c.Data)))
	if len(data) == 0 || !json.Valid(data) {
		return nil, badRequest("data must be one JSON value")
	}
	rooms := slices.Compact(slices.Sorted(slices.Values(c.Rooms)))
	for _, r := range rooms {
		if err := n.bus.Publish("room."+r, data); err != nil {
			return nil, &apiError{http.StatusServiceUnavailable, "nats: " + err.Error()}
		}
	}
	return result{"status": "accepted", "rooms": len(rooms)}, nil
}

// connected runs once a connection is routable: with
// max_connections_per_user it checks the user's connections across the
// cluster (see enforceUserLimit).
func (n *Node) connected(c *actors.Conn) {
	if n.cfg.WebSocket.MaxConnectionsPerUser <= 0 || c.User() == "" {
		return
	}
	go n.enforceUserLimit(c.User())
}

// enforceUserLimit lists every connection of user in the cluster, orders
// them by when they connected (then by id), keeps the first
// max_connections_per_user (refuse_new) or the last (close_oldest) and
// closes the others with 4501 "connection_limit", wherever they are.
//
// Every node does this for each connection it opens, once the connection is
// routable, so under concurrent connects no more than the limit survive:
// the last of these checks to run sees every connection still open (each
// was in its user's group before its own check started) and closes all but
// the limit. The order is the same in every check, so the connections a
// policy keeps (the oldest, or the newest) are never closed by another
// check. A check that does not hear from every node decides on what it has.
func (n *Node) enforceUserLimit(user string) {
	limit := n.cfg.WebSocket.MaxConnectionsPerUser
	ctx, cancel := context.WithTimeout(context.Background(), 2*CountWait)
	defer cancel()
	b, _ := json.Marshal(command{User: user})
	g, err := n.queries.gather(ctx, cmdUserConns, b)
	if err != nil {
		n.log.Warn("user connection limit: listing connections failed", "user", user, "err", err)
		return
	}
	if !g.complete {
		n.log.Warn("user connection limit: not every node answered; deciding on what they did", "user", user, "nodes", g.nodes)
	}
	var all []actors.ConnRef
	for _, a := range g.answers {
		var refs []actors.ConnRef
		if json.Unmarshal(a, &refs) == nil {
			all = append(all, refs...)
		}
	}
	if len(all) <= limit {
		return
	}
	slices.SortFunc(all, func(a, b actors.ConnRef) int {
		return cmp.Or(cmp.Compare(a.ConnectedAt, b.ConnectedAt), strings.Compare(a.ID, b.ID))
	})
	var over []actors.ConnRef
	if n.cfg.WebSocket.UserLimitPolicy == config.PolicyCloseOldest {
		over = all[:len(all)-limit]
	} else {
		over = all[limit:]
	}
	ids := make([]string, len(over))
	for i, r := range over {
		ids[i] = r.ID
	}
	req, _ := json.Marshal(closeConnsReq{IDs: ids, Code: int(protocol.CloseConnectionLimit), Reason: protocol.ReasonConnectionLimit})
	if _, err := n.queries.gather(ctx, cmdCloseConns, req); err != nil {
		n.log.Warn("user connection limit: closing connections failed", "user", user, "err", err)
	}
}

// HTTP API of the server-side control.

func (n *Node) mountControl(api func(pattern, route string, h func(w http.ResponseWriter, r *http.Request) int)) {
	api("GET /api/rooms", "rooms_list", n.httpCommand(func(r *http.Request) (command, error) {
		q := r.URL.Query()
		c := command{Prefix: q.Get("prefix"), Cursor: q.Get("cursor"), Sort: q.Get("sort")}
		if l := q.Get("limit"); l != "" {
			v, err := strconv.Atoi(l)
			if err != nil || v <= 0 {
				return c, badRequest("limit must be 1 to " + strconv.Itoa(MaxRoomsLimit))
			}
			c.Limit = v
		}
		return c, nil
	}, n.listRooms))
	pathUserRoom := func(r *http.Request) (command, error) {
		return command{User: r.PathValue("user"), Room: r.PathValue("room")}, nil
	}
	pathConnRoom := func(r *http.Request) (command, error) {
		return command{Conn: r.PathValue("id"), Room: r.PathValue("room")}, nil
	}
	withCode := func(c command, r *http.Request) (command, error) {
		if s := r.URL.Query().Get("code"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				return c, badRequest("code must be a number in 4000-4999")
			}
			c.Code = v
			if _, err := closeCode(v); err != nil {
				return c, err
			}
		}
		return c, nil
	}
	api("POST /api/users/{user}/rooms/{room}", "user_room_join", n.httpCommand(pathUserRoom, func(ctx context.Context, c command) (result, error) {
		return n.userRoom(ctx, c, true)
	}))
	api("DELETE /api/users/{user}/rooms/{room}", "user_room_leave", n.httpCommand(pathUserRoom, func(ctx context.Context, c command) (result, error) {
		return n.userRoom(ctx, c, false)
	}))
	api("POST /api/connections/{id}/rooms/{room}", "connection_room_join", n.httpCommand(pathConnRoom, func(ctx context.Context, c command) (result, error) {
		return n.connRoom(ctx, c, true)
	}))
	api("DELETE /api/connections/{id}/rooms/{room}", "connection_room_leave", n.httpCommand(pathConnRoom, func(ctx context.Context, c command) (result, error) {
		return n.connRoom(ctx, c, false)
	}))
	api("DELETE /api/users/{user}", "user_delete", n.httpCommand(func(r *http.Request) (command, error) {
		return withCode(command{User: r.PathValue("user")}, r)
	}, n.disconnectUser))
	api("POST /api/messages", "messages", n.httpCommand(func(r *http.Request) (command, error) {
		var c command
		b, err := readBody(r)
		if err != nil {
			return c, err
		}
		var in struct {
			Rooms []string        `json:"rooms"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &in); err != nil {
			return c, badRequest(`body must be {"rooms":[...],"data":...}`)
		}
		return command{Rooms: in.Rooms, Data: in.Data}, nil
	}, n.publishRooms))
}

// readBody reads an API request body of at most MaxAPIBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxAPIBody+1))
	if err != nil {
		return nil, badRequest("reading body: " + err.Error())
	}
	if len(b) > MaxAPIBody {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "body larger than " + strconv.Itoa(MaxAPIBody) + " bytes"}
	}
	return b, nil
}

// httpCommand is the HTTP handler of a command: parse builds it from the
// request, run answers it.
func (n *Node) httpCommand(parse func(r *http.Request) (command, error), run func(context.Context, command) (result, error)) func(w http.ResponseWriter, r *http.Request) int {
	return func(w http.ResponseWriter, r *http.Request) int {
		c, err := parse(r)
		var res result
		if err == nil {
			ctx, cancel := apiContext(r)
			res, err = run(ctx, c)
			cancel()
		}
		if err != nil {
			status, body := errorBody(err)
			writeJSON(w, status, body)
			return status
		}
		status := http.StatusOK
		if res["status"] == "accepted" {
			status = http.StatusAccepted
		}
		writeJSON(w, status, res)
		return status
	}
}

// errorBody is the status and JSON body of a failed command.
func errorBody(err error) (int, result) {
	var ae *apiError
	if errors.As(err, &ae) {
		body := result{"error": ae.msg}
		if ae.status == http.StatusGatewayTimeout {
			body["complete"] = false
		}
		return ae.status, body
	}
	return http.StatusServiceUnavailable, result{"error": "cluster query failed: " + err.Error()}
}

// NATS commands: a request on <prefix>.api.<op> with the command's JSON
// answers with the same JSON body as the HTTP API (an "error" field on
// failure, with "http_status" holding the HTTP status it would have had). The
// nodes subscribe in one queue group, so one node serves each request.
var natsCommands = map[string]func(n *Node, ctx context.Context, c command) (result, error){
	"users.join":  func(n *Node, ctx context.Context, c command) (result, error) { return n.userRoom(ctx, c, true) },
	"users.leave": func(n *Node, ctx context.Context, c command) (result, error) { return n.userRoom(ctx, c, false) },
	"users.disconnect": func(n *Node, ctx context.Context, c command) (result, error) {
		return n.disconnectUser(ctx, c)
	},
	"connections.join":  func(n *Node, ctx context.Context, c command) (result, error) { return n.connRoom(ctx, c, true) },
	"connections.leave": func(n *Node, ctx context.Context, c command) (result, error) { return n.connRoom(ctx, c, false) },
	"connections.disconnect": func(n *Node, ctx context.Context, c command) (result, error) {
		return n.disconnectConn(ctx, c)
	},
	"rooms.list": func(n *Node, ctx context.Context, c command) (result, error) { return n.listRooms(ctx, c) },
	"messages.publish": func(n *Node, ctx context.Context, c command) (result, error) {
		return n.publishRooms(ctx, c)
	},
}

// subscribeCommands serves the NATS commands.
func (q *queries) subscribeCommands() error {
	n := q.n
	prefix := n.bus.Subject("api.")
	s, err := n.nc.QueueSubscribe(prefix+">", "hub.api", func(m *nats.Msg) {
		go func() {
			op := strings.TrimPrefix(m.Subject, prefix)
			run, ok := natsCommands[op]
			var res result
			var err error
			var c command
			switch {
			case !ok:
				err = &apiError{http.StatusNotFound, "no such command: " + op}
			case json.Unmarshal(m.Data, &c) != nil:
				err = badRequest("the request must be a JSON object")
			default:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err = run(n, ctx, c)
				cancel()
			}
			if err != nil {
				var status int
				status, res = errorBody(err)
				res["http_status"] = status
			}
			respond(m, res)
		}()
	})
	if err != nil {
		return err
	}
	q.subs = append(q.subs, s)
	return nil
}
