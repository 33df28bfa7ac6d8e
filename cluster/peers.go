package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// SystemUser is the embedded server's user in its system account, for the
// calls to clustered JetStream that only the system account may make: the
// meta group's state and peer removal. Its password is random for each
// start and never leaves the process; the node signs in with it in process
// (no socket), when an operator asks.
const SystemUser = "hub-system"

// openUser takes the connections that bring no credentials when the client
// port is open (no Clients): adding SystemUser turns authentication on, and
// the server's no-auth user keeps the port as open as it was.
const openUser = "hub-open"

// Errors of the JetStream peer calls.
var (
	// ErrNoMetaLeader: no JetStream meta leader answered (no quorum of
	// the meta group, or JetStream still starting).
	ErrNoMetaLeader = errors.New("cluster: no JetStream meta leader answered")
	// ErrNotPeer: the server named is not a peer of the meta group.
	ErrNotPeer = errors.New("cluster: not a JetStream peer")
	// ErrNoSystemUser: the server runs without clustered JetStream, so
	// it has no system user.
	ErrNoSystemUser = errors.New("cluster: clustered JetStream is off on this server")
)

// addSystemUser gives the running server SystemUser in its system account
// (which exists only once the server runs, hence a reload). Called once,
// before anything but routes connected.
func (e *Embedded) addSystemUser() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	opts := e.opts.Clone()
	pw := randomPassword()
	opts.Users = append(opts.Users, &server.User{Username: SystemUser, Password: pw, Account: e.SystemAccount()})
	if err := e.ReloadOptions(opts); err != nil {
		return fmt.Errorf("nats system user: %w", err)
	}
	e.opts, e.sysPassword = opts, pw
	return nil
}

func randomPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// systemConn connects to this server in process as SystemUser; the caller
// closes it.
func (e *Embedded) systemConn() (*nats.Conn, error) {
	e.mu.Lock()
	pw := e.sysPassword
	e.mu.Unlock()
	if pw == "" {
		return nil, ErrNoSystemUser
	}
	return nats.Connect("", nats.InProcessServer(e.Server), nats.UserInfo(SystemUser, pw), nats.Name("hub system"), nats.NoReconnect())
}

// JSPeer is a server of the JetStream meta group as its leader sees it.
type JSPeer struct {
	Name    string        `json:"name"`
	Leader  bool          `json:"leader,omitempty"`
	Current bool          `json:"current"`           // caught up and seen recently
	Offline bool          `json:"offline,omitempty"` // not seen recently
	Active  time.Duration `json:"-"`                 // since the leader last heard from it; 0 for the leader
	Lag     uint64        `json:"lag,omitempty"`     // operations behind
}

// JSMeta is the JetStream meta group: every server JetStream counts in its
// quorum, the leader first.
type JSMeta struct {
	Leader string   `json:"leader"`
	Size   int      `json:"cluster_size"`
	Peers  []JSPeer `json:"peers"`
}

// Peer returns the peer named name.
func (m *JSMeta) Peer(name string) (JSPeer, bool) {
	for _, p := range m.Peers {
		if p.Name == name {
			return p, true
		}
	}
	return JSPeer{}, false
}

// JetStreamMeta asks the meta leader (wherever it runs) for the meta group.
func (e *Embedded) JetStreamMeta(ctx context.Context) (*JSMeta, error) {
	nc, err := e.systemConn()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	req, _ := json.Marshal(server.JSzOptions{LeaderOnly: true})
	msg, err := nc.RequestWithContext(ctx, "$SYS.REQ.SERVER.PING.JSZ", req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoMetaLeader, err)
	}
	var resp struct {
		Server struct {
			Name string `json:"name"`
		} `json:"server"`
		Data  *server.JSInfo   `json:"data"`
		Error *server.ApiError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("jetstream meta: %w", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("jetstream meta: %s", resp.Error.Description)
	}
	if resp.Data == nil || resp.Data.Meta == nil {
		return nil, ErrNoMetaLeader
	}
	mi := resp.Data.Meta
	out := &JSMeta{Leader: mi.Leader, Size: mi.Size}
	if out.Leader == "" {
		out.Leader = resp.Server.Name
	}
	out.Peers = append(out.Peers, JSPeer{Name: out.Leader, Leader: true, Current: true})
	for _, p := range mi.Replicas {
		out.Peers = append(out.Peers, JSPeer{Name: p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active, Lag: p.Lag})
	}
	return out, nil
}

// RemovePeer removes the server named name from the JetStream meta group
// for good ($JS.API.SERVER.REMOVE, answered by the meta leader): JetStream
// stops counting it in any quorum and moves the stream replicas it held to
// other servers where there are enough. A server of that name that comes
// back later joins as a new peer, with an empty store. It does not check
// that the server is gone; the caller does.
func (e *Embedded) RemovePeer(ctx context.Context, name string) error {
	nc, err := e.systemConn()
	if err != nil {
		return err
	}
	defer nc.Close()
	req, _ := json.Marshal(server.JSApiMetaServerRemoveRequest{Server: name})
	msg, err := nc.RequestWithContext(ctx, server.JSApiRemoveServer, req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoMetaLeader, err)
	}
	var resp server.JSApiMetaServerRemoveResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("jetstream peer remove: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == uint16(server.JSClusterServerNotMemberErr) {
			return fmt.Errorf("%w: %s", ErrNotPeer, name)
		}
		return fmt.Errorf("jetstream peer remove: %s", resp.Error.Description)
	}
	if !resp.Success {
		return errors.New("jetstream peer remove: not acknowledged")
	}
	return nil
}
