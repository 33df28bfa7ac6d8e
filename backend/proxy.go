package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hubrt/hub/protocol"
)

// Proxy is a backend that decides: whether a connection is accepted (the
// connect proxy) or a join allowed (the join proxy). Safe for concurrent
// use.
type Proxy struct {
	c       Caller
	target  string
	event   string // "connect" or "join"
	allowOn bool   // on_error = "allow"
}

// NewProxy builds a proxy of event ("connect" or "join") that calls target
// on c; allowOnError says that a backend that gives no answer (an error, a
// timeout, a 5xx) lets the connection or join through.
func NewProxy(c Caller, event, target string, allowOnError bool) *Proxy {
	return &Proxy{c: c, target: target, event: event, allowOn: allowOnError}
}

// Connector is the name of the proxy's connector.
func (p *Proxy) Connector() string { return p.c.Name() }

// ConnectAnswer is the body of a connect proxy's 2xx answer. Every field is
// optional: an empty body (or 204) accepts the connection as it came.
type ConnectAnswer struct {
	// Status, when 400 or more, refuses the connection with that status (a
	// NATS proxy, which has no status line, refuses this way).
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// User replaces the connection's user (the JWT's sub or anonymous).
	User string `json:"user,omitempty"`
	// Info is any JSON attached to the connection (presence shows it).
	Info json.RawMessage `json:"info,omitempty"`
	// Join lists rooms the connection joins at once, server-side.
	Join []string `json:"join,omitempty"`
	// Rooms, when present, replaces the patterns of rooms the connection
	// may join (as the JWT "rooms" claim); [] allows none.
	Rooms *[]string `json:"rooms,omitempty"`
	// ExpiresAt (unix seconds), when set, ends the connection then.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// ConnectDecision is what the hub does with a connection.
type ConnectDecision struct {
	Accept bool
	Status int    // refused: the upgrade's status
	Error  string // refused: the upgrade's {"error":...}
	Answer ConnectAnswer
	Failed error // the backend gave no usable answer (on_error applied)
}

// Connect asks the backend about a connection; body is the connect event
// JSON. It blocks for at most the connector's timeout.
func (p *Proxy) Connect(ctx context.Context, body []byte) ConnectDecision {
	resp, err := p.c.Call(ctx, &Request{Target: p.target, Event: p.event, Body: body})
	return p.decideConnect(resp, err)
}

// decideConnect turns a backend's answer (or its failure) into the
// decision; it is pure, and fuzzed (FuzzConnectAnswer).
func (p *Proxy) decideConnect(resp Response, err error) ConnectDecision {
	if err == nil && resp.Status >= 500 {
		err = fmt.Errorf("%s %s: %w: status %d", p.c.Name(), p.target, ErrUnavailable, resp.Status)
	}
	if err == nil && resp.Status >= 300 && resp.Status < 400 {
		err = fmt.Errorf("%s %s: %w: status %d", p.c.Name(), p.target, ErrBadResponse, resp.Status)
	}
	var a ConnectAnswer
	if err == nil && len(resp.Body) > 0 && resp.Status != http.StatusNoContent {
		if jerr := json.Unmarshal(resp.Body, &a); jerr != nil {
			if resp.Status < 300 {
				err = fmt.Errorf("%s %s: %w: %v", p.c.Name(), p.target, ErrBadResponse, jerr)
			}
			a = ConnectAnswer{}
		}
	}
	if err == nil && resp.Status < 300 && a.Status >= 500 {
		err = fmt.Errorf("%s %s: %w: status %d in the body", p.c.Name(), p.target, ErrUnavailable, a.Status)
	}
	if err == nil && resp.Status < 300 && a.Status < 400 {
		if verr := a.validate(); verr != nil {
			err = fmt.Errorf("%s %s: %w: %v", p.c.Name(), p.target, ErrBadResponse, verr)
		}
	}
	if err != nil {
		if p.allowOn {
			return ConnectDecision{Accept: true, Failed: err}
		}
		if errors.Is(err, ErrTimeout) {
			return ConnectDecision{Status: http.StatusServiceUnavailable, Error: "backend timed out", Failed: err}
		}
		return ConnectDecision{Status: http.StatusServiceUnavailable, Error: "backend unavailable", Failed: err}
	}
	status := resp.Status
	if status < 300 && a.Status >= 400 {
		status = a.Status
	}
	if status >= 400 {
		msg := a.Error
		if msg == "" {
			msg = http.StatusText(status)
		}
		if msg == "" {
			msg = "refused"
		}
		return ConnectDecision{Status: status, Error: msg}
	}
	return ConnectDecision{Accept: true, Answer: a}
}

func (a *ConnectAnswer) validate() error {
	if a.User != "" && !protocol.ValidName(a.User) {
		return fmt.Errorf("user %q is not a valid user name", a.User)
	}
	for _, r := range a.Join {
		if !protocol.ValidName(r) {
			return fmt.Errorf("join: %q is not a valid room name", r)
		}
	}
	if a.Info != nil && !json.Valid(a.Info) {
		return errors.New("info is not JSON")
	}
	return nil
}

// Join asks the backend whether a connection may join a room; body is the
// join request JSON. It returns nil when it may, else the client error.
func (p *Proxy) Join(ctx context.Context, body []byte) *protocol.Error {
	resp, err := p.c.Call(ctx, &Request{Target: p.target, Event: p.event, Body: body})
	return p.decideJoin(resp, err)
}

// decideJoin turns a backend's answer to a join into its outcome; pure.
func (p *Proxy) decideJoin(resp Response, err error) *protocol.Error {
	status := resp.Status
	if err == nil && status < 300 && len(resp.Body) > 0 && status != http.StatusNoContent {
		var a struct {
			Status int `json:"status"`
		}
		if json.Unmarshal(resp.Body, &a) == nil && a.Status >= 400 {
			status = a.Status
		}
	}
	switch {
	case err == nil && status >= 200 && status < 300:
		return nil
	case err == nil && status >= 400 && status < 500:
		return protocol.ErrJoinRefused
	case p.allowOn:
		return nil
	case errors.Is(err, ErrTimeout):
		return protocol.ErrBackendTimeout
	}
	return protocol.ErrBackendUnavailable
}

// Timeout returns the caller's request timeout when it has one.
func Timeout(c Caller) time.Duration {
	if t, ok := c.(interface{ Timeout() time.Duration }); ok {
		return t.Timeout()
	}
	return 0
}

// Overloaded is a join's outcome when the hub could not even ask (too many
// joins waiting): the on_error policy's.
func (p *Proxy) Overloaded() *protocol.Error {
	if p.allowOn {
		return nil
	}
	return protocol.ErrBackendUnavailable
}
