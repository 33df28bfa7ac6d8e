package client

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Presence is who is in a presence room (README "Presence"), as the hub
// answered it and as the client kept it since from the join, leave and
// presence_diff frames.
type Presence struct {
	Room string
	// Members are the users in the room, sorted by user; nil above the
	// room's max_list (counts only).
	Members []Member
	// Count is users, Connections connections (anonymous ones included).
	// Connections is as of the last answer or presence_diff: join and
	// leave frames do not carry it.
	Connections int
	Count       int
}

// Member is one user in a presence room.
type Member struct {
	User string
	// Info is the user's JWT info claim or connect proxy info, as JSON;
	// nil when it has none.
	Info json.RawMessage
	// Connections are the user's connections in the room, oldest first,
	// as of the last presence answer: a user that joined since has none
	// listed.
	Connections []PresenceConn
}

// PresenceConn is one connection of a member.
type PresenceConn struct {
	ID          string
	Node        string
	ConnectedAt time.Time
}

// kept is the presence the client keeps for a room it asked Presence of.
type kept struct {
	members     map[string]*Member // nil in counts mode
	count       int
	connections int
}

func (k *kept) snapshot(room string) Presence {
	p := Presence{Room: room, Count: k.count, Connections: k.connections}
	if k.members != nil {
		p.Members = make([]Member, 0, len(k.members))
		for _, u := range slices.Sorted(maps.Keys(k.members)) {
			m := *k.members[u]
			m.Connections = slices.Clone(m.Connections)
			p.Members = append(p.Members, m)
		}
	}
	return p
}

// Presence asks who is in room (a presence room the client joined) and
// from then on keeps the list up to date from the hub's frames: Members
// reads it, OnJoin, OnLeave and OnPresence tell each change. After a
// reconnect the client asks again for every room it keeps, once it has
// joined them again (what changed meanwhile is told as joins and leaves).
// Leave, or the hub making the client leave, stops keeping the room.
func (c *Client) Presence(ctx context.Context, room string) (Presence, error) {
	c.mu.Lock()
	c.want[room] = true
	c.mu.Unlock()
	if err := c.request(ctx, map[string]any{"type": "presence", "room": room}); err != nil {
		c.mu.Lock()
		delete(c.want, room)
		c.mu.Unlock()
		return Presence{}, err
	}
	p, ok := c.Members(room)
	if !ok {
		return Presence{}, ErrDisconnected // left meanwhile
	}
	return p, nil
}

// Members returns the presence of room as kept since Presence(room); ok is
// false when the client does not keep it (Presence not asked, or the room
// left).
func (c *Client) Members(room string) (p Presence, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.presence[room]
	if k == nil {
		return Presence{}, false
	}
	return k.snapshot(room), true
}

// forget stops keeping the presence of room.
func (c *Client) forget(room string) {
	c.mu.Lock()
	delete(c.want, room)
	delete(c.presence, room)
	c.mu.Unlock()
}

// presenceRooms are the rooms whose presence the client keeps.
func (c *Client) presenceRooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Keys(c.want))
}

type wireMember struct {
	User        string          `json:"user"`
	Info        json.RawMessage `json:"info"`
	Connections []struct {
		ID          string    `json:"id"`
		Node        string    `json:"node"`
		ConnectedAt time.Time `json:"connected_at"`
	} `json:"connections"`
}

type wireJoin struct {
	User string          `json:"user"`
	Info json.RawMessage `json:"info"`
}

type presenceEvent struct {
	join bool
	user string
	info json.RawMessage
}

// onPresenceAnswer keeps the hub's answer to a presence frame. An answer
// for a room already kept (asked again after a reconnect) tells what
// changed meanwhile as joins and leaves.
func (c *Client) onPresenceAnswer(f *serverFrame) {
	if f.Room == "" {
		return
	}
	k := &kept{}
	if f.Count != nil {
		k.count = *f.Count
	}
	if f.Connections != nil {
		k.connections = *f.Connections
	}
	if f.Members != nil {
		k.members = make(map[string]*Member, len(f.Members))
		for _, w := range f.Members {
			m := &Member{User: w.User, Info: w.Info}
			for _, wc := range w.Connections {
				m.Connections = append(m.Connections, PresenceConn{ID: wc.ID, Node: wc.Node, ConnectedAt: wc.ConnectedAt})
			}
			k.members[w.User] = m
		}
	}
	var evs []presenceEvent
	c.mu.Lock()
	if !c.want[f.Room] {
		c.mu.Unlock()
		return
	}
	if old := c.presence[f.Room]; old != nil && old.members != nil && k.members != nil {
		for _, u := range slices.Sorted(maps.Keys(old.members)) {
			if k.members[u] == nil {
				evs = append(evs, presenceEvent{user: u})
			}
		}
		for _, u := range slices.Sorted(maps.Keys(k.members)) {
			if old.members[u] == nil {
				evs = append(evs, presenceEvent{join: true, user: u, info: k.members[u].Info})
			}
		}
	}
	c.presence[f.Room] = k
	p := k.snapshot(f.Room)
	c.mu.Unlock()
	c.tellPresence(f.Room, evs, p)
}

// onPresenceChange applies a join, leave or presence_diff frame to the
// kept presence of its room; frames of rooms not kept are ignored.
func (c *Client) onPresenceChange(f *serverFrame) {
	var evs []presenceEvent
	switch f.Type {
	case "join":
		evs = append(evs, presenceEvent{join: true, user: f.User, info: f.Info})
	case "leave":
		evs = append(evs, presenceEvent{user: f.User})
	case "presence_diff":
		for _, u := range f.Leaves {
			evs = append(evs, presenceEvent{user: u})
		}
		for _, j := range f.Joins {
			evs = append(evs, presenceEvent{join: true, user: j.User, info: j.Info})
		}
	}
	c.mu.Lock()
	k := c.presence[f.Room]
	if k == nil {
		c.mu.Unlock()
		return
	}
	if k.members != nil {
		// Only what changes the list is told (a frame that crossed the
		// answer repeats what it already holds).
		evs = slices.DeleteFunc(evs, func(e presenceEvent) bool {
			if e.join {
				if k.members[e.user] != nil {
					return true
				}
				k.members[e.user] = &Member{User: e.user, Info: e.info}
				return false
			}
			if k.members[e.user] == nil {
				return true
			}
			delete(k.members, e.user)
			return false
		})
	}
	switch {
	case f.Count != nil:
		k.count = *f.Count
	case k.members != nil:
		k.count = len(k.members)
	}
	if f.Connections != nil {
		k.connections = *f.Connections
	}
	p := k.snapshot(f.Room)
	c.mu.Unlock()
	c.tellPresence(f.Room, evs, p)
}

func (c *Client) tellPresence(room string, evs []presenceEvent, p Presence) {
	for _, e := range evs {
		switch {
		case e.join && c.opts.OnJoin != nil:
			c.opts.OnJoin(room, e.user, e.info)
		case !e.join && c.opts.OnLeave != nil:
			c.opts.OnLeave(room, e.user)
		}
	}
	if c.opts.OnPresence != nil {
		c.opts.OnPresence(p)
	}
}

// refetchPresence asks s for the presence of every room the client keeps,
// after it joined them again; false when s was lost meanwhile. A room the
// hub now refuses is no longer kept and is reported to OnError.
func (c *Client) refetchPresence(ctx context.Context, s *session) bool {
	for _, room := range c.presenceRooms() {
		id := c.ids.Add(1)
		b, _ := json.Marshal(map[string]any{"type": "presence", "room": room, "id": id})
		err := s.request(ctx, strconv.FormatUint(id, 10), b)
		var he *Error
		switch {
		case err == nil:
		case errors.As(err, &he):
			c.forget(room)
			if c.opts.OnError != nil {
				c.opts.OnError(he)
			}
		default:
			return false
		}
	}
	return true
}
