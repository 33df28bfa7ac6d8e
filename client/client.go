package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Options configure a Client. The zero value connects anonymously without
// reconnecting.
type Options struct {
	// User names the user on a node in development mode (?user=).
	User string
	// Token is a JWT sent as "Authorization: Bearer"; TokenFunc, when set,
	// is called instead before every dial and whenever the hub asks for a
	// refresh (refresh_required, ahead of the token's expiry), so a
	// connection outlives its tokens. With Token alone a connection ends
	// at its token's expiry (4002) and reconnects with the same token.
	Token     string
	TokenFunc func(ctx context.Context) (string, error)
	// Header is added to the upgrade request.
	Header http.Header
	// Reconnect dials again after the connection is lost; default false.
	Reconnect bool
	// MinDelay and MaxDelay bound the backoff between reconnect attempts;
	// defaults 250ms and 10s. Each delay is the previous one doubled, less
	// up to half of it at random.
	MinDelay, MaxDelay time.Duration
	// PingInterval is how often the client pings the server; default 25s;
	// negative disables. PongTimeout is how long after a ping the client
	// waits for any frame before giving the connection up; default 10s.
	PingInterval, PongTimeout time.Duration
	// DialTimeout bounds one dial and upgrade; default 10s.
	DialTimeout time.Duration
	// WriteTimeout bounds writing one frame; default 10s.
	WriteTimeout time.Duration
	// Buffer is the capacity of the Messages channel; default 256.
	Buffer int
	// NetDial replaces the TCP dialer (a test seam, or to pick the source).
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnState, when set, is told when the client connects again
	// (StateConnected), loses the connection and will retry
	// (StateReconnecting, with why), and ends (StateClosed, with why). It
	// runs on the client's goroutine and must not block.
	OnState func(s State, err error)
	// OnError, when set, gets the server's error frames that answer no
	// request (a rate-limit warning, a failed re-join, a refused refresh).
	// It must not block.
	OnError func(err *Error)
	// OnRecover, when set, is told for each history room the client joins
	// again after a reconnect whether the hub replayed every message it
	// missed (true: nothing is lost, the replayed messages are already on
	// Messages, before any later one) or could not (false: the history no
	// longer reaches back, or it was created anew; reload the room's state
	// from your backend). A resync frame (a hole the hub could not fill)
	// also reports false. It runs on the client's goroutine and must not block.
	OnRecover func(room string, recovered bool)
	// OnServerRoom, when set, is told when the hub made the connection
	// join (joined true) or leave a room on its own (the token's join
	// claim, the server API, a refresh whose rooms claim no longer allows
	// the room: reason "api" or "token"). It must not block.
	OnServerRoom func(room string, joined bool, reason string)
	// OnJoin and OnLeave, when set, are told each user that comes into or
	// goes out of a room whose presence the client keeps (Presence; the
	// room's namespace has join_leave = true): once per user, not per
	// tab. OnPresence gets the room's kept presence after each change and
	// each answer. They run on the client's goroutine and must not block.
	OnJoin     func(room, user string, info json.RawMessage)
	OnLeave    func(room, user string)
	OnPresence func(p Presence)
}

// State is the client's connection state.
type State int

// States.
const (
	StateConnected State = iota + 1
	StateReconnecting
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Message is a message pushed by the hub.
type Message struct {
	Room   string          // set when it went to a room this client joined
	Offset uint64          // its position in the room's history; 0 for rooms without history
	From   string          // set by the hub when another user sent it
	Data   json.RawMessage // the payload, any JSON value
}

// Client is a connection to the hub that may outlive its WebSocket
// connections. Its methods are safe for concurrent use.
type Client struct {
	url  string
	opts Options
	msgs chan Message
	done chan struct{} // closed when the client has ended
	quit chan struct{} // closed by Close
	wg   sync.WaitGroup
	ids  atomic.Uint64

	closeOnce sync.Once

	mu     sync.Mutex
	cur    *session      // nil while reconnecting
	ready  chan struct{} // closed when cur is set again
	rooms  map[string]bool
	srooms map[string]bool     // rooms the hub joined on the connection's behalf; not joined again by the client
	pos    map[string]position // history rooms: the last position seen
	// Presence: rooms asked with Presence, and what is kept of each
	// (set by the first answer).
	want     map[string]bool
	presence map[string]*kept
	err      error // why the client ended
}

// position is where a client is in a history room.
type position struct {
	epoch  string
	offset uint64
}

// Position returns the epoch and offset of the last message (or join ack)
// the client saw in a history room; ok is false for other rooms.
func (c *Client) Position(room string) (epoch string, offset uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pos[room]
	return p.epoch, p.offset, ok
}

// Dial connects to the hub at url (ws:// or wss://, with the upgrade path)
// and returns once the connection is open. ctx bounds the first dial only.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.MinDelay <= 0 {
		opts.MinDelay = 250 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 10 * time.Second
	}
	if opts.MaxDelay < opts.MinDelay {
		opts.MaxDelay = opts.MinDelay
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PongTimeout <= 0 {
		opts.PongTimeout = 10 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	c := &Client{
		url:      url,
		opts:     opts,
		msgs:     make(chan Message, opts.Buffer),
		done:     make(chan struct{}),
		quit:     make(chan struct{}),
		ready:    make(chan struct{}),
		rooms:    make(map[string]bool),
		pos:      make(map[string]position),
		srooms:   make(map[string]bool),
		want:     make(map[string]bool),
		presence: make(map[string]*kept),
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = s
	close(c.ready)
	c.wg.Go(func() { c.run(s) })
	return c, nil
}

// Messages returns the channel of incoming messages. It is closed when the
// client ends (Close, or a connection end it does not reconnect after).
func (c *Client) Messages() <-chan Message { return c.msgs }

// Done is closed when the client has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client ended: ErrClosed after Close, a *CloseError when
// the server closed the connection, another error when it was lost; nil
// while the client runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Rooms returns the rooms the client is in: those it joined (and joins
// again after reconnecting) and those the hub joined on its behalf.
func (c *Client) Rooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.rooms)+len(c.srooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	for r := range c.srooms {
		if !c.rooms[r] {
			out = append(out, r)
		}
	}
	return out
}

// joinedRooms returns the rooms the client joined itself.
func (c *Client) joinedRooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	return out
}

// Close closes the connection with 1000 and ends the client: no reconnect,
// requests waiting fail with ErrClosed or ErrDisconnected, Messages is
// closed. It blocks until the client's goroutines are done. Calling it again
// does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.quit)
		c.mu.Lock()
		s := c.cur
		c.mu.Unlock()
		if s != nil {
			s.closeWith(ws.StatusNormalClosure, "client closed")
		}
	})
	c.wg.Wait()
	return nil
}

// Join joins room and waits for the ack.
func (c *Client) Join(ctx context.Context, room string) error {
	if err := c.request(ctx, map[string]any{"type": "join_room", "room": room}); err != nil {
		return err
	}
	c.mu.Lock()
	c.rooms[room] = true
	c.mu.Unlock()
	return nil
}

// Leave leaves room and waits for the ack.
func (c *Client) Leave(ctx context.Context, room string) error {
	err := c.request(ctx, map[string]any{"type": "leave_room", "room": room})
	var he *Error
	if err == nil || errors.As(err, &he) {
		c.mu.Lock()
		delete(c.rooms, room)
		delete(c.pos, room)
		delete(c.want, room)
		delete(c.presence, room)
		c.mu.Unlock()
	}
	return err
}

// Send sends data (any JSON value; json.RawMessage and []byte are sent as
// they are) to the backends and waits for the ack.
func (c *Client) Send(ctx context.Context, data any) error {
	return c.send(ctx, "", "", data)
}

// SendToRoom sends data to the members of room (the client must have
// joined it) and waits for the ack.
func (c *Client) SendToRoom(ctx context.Context, room string, data any) error {
	return c.send(ctx, "room", room, data)
}

// SendToUser sends data to every connection of user and waits for the ack.
func (c *Client) SendToUser(ctx context.Context, user string, data any) error {
	return c.send(ctx, "user", user, data)
}

func (c *Client) send(ctx context.Context, key, name string, data any) error {
	raw, err := rawJSON(data)
	if err != nil {
		return err
	}
	f := map[string]any{"type": "message", "data": raw}
	if key != "" {
		f[key] = name
	}
	return c.request(ctx, f)
}

func rawJSON(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case json.RawMessage:
		if !json.Valid(x) {
			return nil, errors.New("client: data is not valid JSON")
		}
		return x, nil
	case []byte:
		if !json.Valid(x) {
			return nil, errors.New("client: data is not valid JSON")
		}
		return x, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encode data: %w", err)
	}
	return b, nil
}

// request sends f with a fresh id on the current connection, waiting for
// one while reconnecting, and waits for the answer.
func (c *Client) request(ctx context.Context, f map[string]any) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	id := c.ids.Add(1)
	f["id"] = id
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("client: encode frame: %w", err)
	}
	return s.request(ctx, strconv.FormatUint(id, 10), b)
}

// session returns the open connection, waiting for one while the client
// reconnects.
func (c *Client) session(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ready, err := c.cur, c.ready, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, ErrClosed
		}
		if s != nil {
			return s, nil
		}
		select {
		case <-ready:
		case <-c.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Client) setState(st State, err error) {
	if c.opts.OnState != nil {
		c.opts.OnState(st, err)
	}
}

func (c *Client) quitting() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// run owns the connections: it waits for one to end, then reconnects or
// ends the client.
func (c *Client) run(s *session) {
	defer close(c.done)
	defer close(c.msgs)
	for {
		<-s.gone
		why := s.why()
		c.mu.Lock()
		c.cur = nil
		c.ready = make(chan struct{})
		c.mu.Unlock()
		if c.quitting() {
			c.end(ErrClosed)
			return
		}
		var ce *CloseError
		if !c.opts.Reconnect || (errors.As(why, &ce) && !Reconnects(ce.Code)) {
			c.end(why)
			return
		}
		c.setState(StateReconnecting, why)
		if s = c.reconnect(); s == nil {
			c.end(ErrClosed)
			return
		}
		c.setState(StateConnected, nil)
	}
}

func (c *Client) end(why error) {
	c.mu.Lock()
	c.err = why
	c.mu.Unlock()
	c.setState(StateClosed, why)
}

// reconnect dials until it succeeds and has joined the rooms again; nil
// when Close was called meanwhile.
func (c *Client) reconnect() *session {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	delay := c.opts.MinDelay
	for {
		wait := delay - time.Duration(rand.Int64N(int64(delay/2)+1))
		t := time.NewTimer(wait)
		select {
		case <-c.quit:
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, c.opts.MaxDelay)
		s, err := c.dial(ctx)
		if err != nil {
			continue
		}
		// Rooms the hub joined for the last connection are its to join
		// again (the join claim does at connect; the server API does not).
		c.mu.Lock()
		clear(c.srooms)
		c.mu.Unlock()
		if c.rejoin(ctx, s) && c.refetchPresence(ctx, s) {
			c.mu.Lock()
			c.cur = s
			close(c.ready)
			c.mu.Unlock()
			if c.quitting() {
				s.closeWith(ws.StatusNormalClosure, "client closed")
			}
			return s
		}
		s.closeWith(ws.StatusNormalClosure, "")
		<-s.gone
		if c.quitting() {
			return nil
		}
	}
}

// rejoin joins the client's rooms on s; false when s was lost meanwhile.
// A room the hub now refuses is dropped and reported to OnError.
func (c *Client) rejoin(ctx context.Context, s *session) bool {
	for _, room := range c.joinedRooms() {
		id := c.ids.Add(1)
		f := map[string]any{"type": "join_room", "room": room, "id": id}
		c.mu.Lock()
		if p, ok := c.pos[room]; ok {
			// Recover what was missed while disconnected (SPEC §10).
			f["since"] = map[string]any{"offset": p.offset, "epoch": p.epoch}
		}
		c.mu.Unlock()
		b, _ := json.Marshal(f)
		err := s.request(ctx, strconv.FormatUint(id, 10), b)
		var he *Error
		switch {
		case err == nil:
		case errors.As(err, &he):
			c.mu.Lock()
			delete(c.rooms, room)
			delete(c.want, room)
			delete(c.presence, room)
			c.mu.Unlock()
			if c.opts.OnError != nil {
				c.opts.OnError(he)
			}
		default:
			return false
		}
	}
	return true
}

// dial opens one connection and starts its goroutines.
func (c *Client) dial(ctx context.Context) (*session, error) {
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if c.opts.User != "" {
		q := u.Query()
		q.Set("user", c.opts.User)
		u.RawQuery = q.Encode()
	}
	h := http.Header{}
	for k, v := range c.opts.Header {
		h[k] = v
	}
	tok := c.opts.Token
	if c.opts.TokenFunc != nil {
		if tok, err = c.opts.TokenFunc(ctx); err != nil {
			return nil, fmt.Errorf("client: token: %w", err)
		}
	}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	d := ws.Dialer{Timeout: c.opts.DialTimeout, NetDial: c.opts.NetDial, Header: ws.HandshakeHeaderHTTP(h)}
	conn, br, _, err := d.Dial(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	s := &session{c: c, conn: conn, pending: make(map[string]chan error), gone: make(chan struct{}), stop: make(chan struct{})}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	c.wg.Go(func() { s.read(r, br) })
	if c.opts.PingInterval > 0 {
		c.wg.Go(s.ping)
	}
	return s, nil
}

// session is one WebSocket connection.
type session struct {
	c    *Client
	conn net.Conn
	gone chan struct{} // closed when the reader has finished
	stop chan struct{} // closed with gone, for the pinger

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	pending map[string]chan error // id (JSON text) -> answer
	closed  bool
	err     error // why it ended
}

func (s *session) why() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) write(op ws.OpCode, p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.c.opts.WriteTimeout))
	return wsutil.WriteClientMessage(s.conn, op, p)
}

// closeWith sends a close frame and closes the socket; the reader then ends.
func (s *session) closeWith(code ws.StatusCode, reason string) {
	_ = s.write(ws.OpClose, ws.NewCloseFrameBody(code, reason))
	_ = s.conn.Close()
}

func (s *session) request(ctx context.Context, id string, frame []byte) error {
	ch := make(chan error, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrDisconnected
	}
	s.pending[id] = ch
	s.mu.Unlock()
	if err := s.write(ws.OpText, frame); err != nil {
		_ = s.conn.Close()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *session) answer(id string, err error) bool {
	s.mu.Lock()
	ch, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if ok {
		ch <- err
	}
	return ok
}

func (s *session) ping() {
	t := time.NewTicker(s.c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.write(ws.OpPing, nil) != nil {
				_ = s.conn.Close()
				return
			}
		}
	}
}

type serverFrame struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Room    string          `json:"room"`
	From    string          `json:"from"`
	Data    json.RawMessage `json:"data"`
	// History rooms (SPEC §10).
	Offset    uint64 `json:"offset"`
	Epoch     string `json:"epoch"`
	Recovered *bool  `json:"recovered"`
	Reason    string `json:"reason"`
	ExpiresAt int64  `json:"expires_at"`
	// Presence rooms (README "Presence").
	User        string          `json:"user"`
	Info        json.RawMessage `json:"info"`
	Members     []wireMember    `json:"members"`
	Joins       []wireJoin      `json:"joins"`
	Leaves      []string        `json:"leaves"`
	Count       *int            `json:"count"`
	Connections *int            `json:"connections"`
}

// track records the position a history room's frame shows.
func (c *Client) track(f *serverFrame) {
	if f.Room == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pos[f.Room]
	switch {
	case f.Type == "ack" && f.Epoch != "":
		// The room's position when the join was answered; what follows
		// on the socket comes after it.
		c.pos[f.Room] = position{epoch: f.Epoch, offset: f.Offset}
	case f.Type == "message" && ok && f.Offset > p.offset:
		p.offset = f.Offset
		c.pos[f.Room] = p
	}
}

// refresh asks the application for a new token and sends it; a failure is
// reported to OnError as a client-side error (code 0) and the connection
// then ends at its token's expiry, after which the client reconnects.
func (s *session) refresh() {
	c := s.c
	if c.opts.TokenFunc == nil {
		return
	}
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			select {
			case <-s.gone:
				cancel()
			case <-ctx.Done():
			}
		}()
		tok, err := c.opts.TokenFunc(ctx)
		if err == nil {
			id := c.ids.Add(1)
			b, _ := json.Marshal(map[string]any{"type": "refresh", "token": tok, "id": id})
			err = s.request(ctx, strconv.FormatUint(id, 10), b)
		}
		var he *Error
		if errors.As(err, &he) {
			if c.opts.OnError != nil {
				c.opts.OnError(he)
			}
		} else if err != nil && c.opts.OnError != nil && !errors.Is(err, ErrDisconnected) && ctx.Err() == nil {
			c.opts.OnError(&Error{Message: "refresh: " + err.Error()})
		}
	})
}

func (c *Client) serverRoom(room string, joined bool, reason string) {
	c.mu.Lock()
	if joined {
		c.srooms[room] = true
	} else {
		delete(c.srooms, room)
		delete(c.rooms, room)
		delete(c.want, room)
		delete(c.presence, room)
	}
	c.mu.Unlock()
	if c.opts.OnServerRoom != nil {
		c.opts.OnServerRoom(room, joined, reason)
	}
}

// read reads frames until the connection ends, then fails what is pending.
func (s *session) read(r io.Reader, br *bufio.Reader) {
	err := s.readLoop(r)
	_ = s.conn.Close()
	if br != nil {
		ws.PutReader(br)
	}
	s.mu.Lock()
	s.closed = true
	s.err = err
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, ch := range pending {
		ch <- ErrDisconnected
	}
	close(s.stop)
	close(s.gone)
}

func (s *session) readLoop(r io.Reader) error {
	c := s.c
	var closeErr *CloseError
	onControl := func(h ws.Header, rr io.Reader) error {
		p, err := io.ReadAll(rr)
		if err != nil {
			return err
		}
		switch h.OpCode {
		case ws.OpPing:
			return s.write(ws.OpPong, p)
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			if code == 0 {
				code = ws.StatusNoStatusRcvd
			}
			closeErr = &CloseError{Code: int(code), Reason: reason}
			// Echo the close frame, as RFC 6455 asks.
			_ = s.write(ws.OpClose, ws.NewCloseFrameBody(code, ""))
			return io.EOF
		}
		return nil
	}
	rd := wsutil.Reader{Source: r, State: ws.StateClientSide, CheckUTF8: true, OnIntermediate: onControl}
	deadline := func() {
		if c.opts.PingInterval > 0 {
			_ = s.conn.SetReadDeadline(time.Now().Add(c.opts.PingInterval + c.opts.PongTimeout))
		}
	}
	for {
		deadline()
		h, err := rd.NextFrame()
		if err != nil {
			return lost(closeErr, err)
		}
		if h.OpCode.IsControl() {
			if err := onControl(h, &rd); err != nil {
				return lost(closeErr, err)
			}
			continue
		}
		p, err := io.ReadAll(&rd)
		if err != nil {
			return lost(closeErr, err)
		}
		if h.OpCode != ws.OpText {
			continue
		}
		var f serverFrame
		if json.Unmarshal(p, &f) != nil {
			continue
		}
		switch f.Type {
		case "ack":
			c.track(&f)
			if f.Recovered != nil && c.opts.OnRecover != nil {
				c.opts.OnRecover(f.Room, *f.Recovered)
			}
			s.answer(string(f.ID), nil)
		case "resync":
			if c.opts.OnRecover != nil {
				c.opts.OnRecover(f.Room, false)
			}
		case "error":
			e := &Error{Code: f.Code, Message: f.Message}
			if (f.ID == nil || !s.answer(string(f.ID), e)) && c.opts.OnError != nil {
				c.opts.OnError(e)
			}
		case "message":
			select {
			case c.msgs <- Message{Room: f.Room, Offset: f.Offset, From: f.From, Data: f.Data}:
				if f.Offset > 0 {
					c.track(&f)
				}
			case <-c.quit:
				return ErrClosed
			}
		case "presence":
			c.onPresenceAnswer(&f)
			if f.ID != nil {
				s.answer(string(f.ID), nil)
			}
		case "join", "leave", "presence_diff":
			c.onPresenceChange(&f)
		case "refresh_required":
			s.refresh()
		case "joined":
			c.serverRoom(f.Room, true, "")
		case "left":
			c.serverRoom(f.Room, false, f.Reason)
		}
	}
}

// lost turns the end of the read loop into the session's error: the
// server's close frame when it sent one, else the connection was lost.
func lost(ce *CloseError, err error) error {
	if ce != nil {
		return ce
	}
	return fmt.Errorf("client: connection lost: %w", err)
}
