package node

import (
	"net"
	"net/http"
	"strings"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/gateway"
	"github.com/hubrt/hub/metrics"
	"github.com/hubrt/hub/protocol"
)

// handler connects the transport to the actors: it authenticates upgrades,
// spawns a connection actor per socket, decodes frames on the transport's
// workers and hands them to the actor.
type handler struct{ n *Node }

func (h handler) Authenticate(r *http.Request) (any, error) {
	id, err := h.n.auth.authenticate(r)
	if err != nil {
		return nil, err
	}
	if b := h.n.backends; b != nil && b.connect != nil {
		if err := b.authenticate(r, id); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// AuthenticateBlocks implements gateway.SlowAuthenticator: with a connect
// proxy, Authenticate waits for a backend.
func (h handler) AuthenticateBlocks(*http.Request) bool {
	return h.n.backends != nil && h.n.backends.connect != nil
}

// Headers never copied into events.
var privateHeaders = map[string]bool{
	"Authorization": true, "Cookie": true, "Sec-Websocket-Key": true,
}

// openRequest describes a new connection as its events show it: the peer
// (the X-Forwarded-For chain, then the socket's IP), the headers minus the
// private ones, the query minus the token. It takes header and q, which
// nothing uses after it, and takes those out of them in place: a copy of
// each was 1.8 KB of garbage per connection (measured in the connect
// profile), which at GOGC=25 the GC pays for several times over.
func openRequest(id *identity, remoteAddr, method, path string, header http.Header, q map[string][]string) *actors.OpenRequest {
	peer := peerOf(remoteAddr, header)
	for k := range privateHeaders {
		delete(header, k)
	}
	delete(q, "token")
	return &actors.OpenRequest{
		ConnMeta: protocol.ConnMeta{
			User: id.user, Peer: peer, Method: method, Path: path, Query: q, Headers: header,
		},
		RoomGlobs: id.rooms,
		Join:      id.join,
		Expires:   id.expires,
		Info:      infoClaim(id.info),
	}
}

// peerOf is the peer of the events: the X-Forwarded-For chain, then the
// socket's IP.
func peerOf(remoteAddr string, header http.Header) string {
	remoteIP := remoteAddr
	if host, _, err := net.SplitHostPort(remoteIP); err == nil {
		remoteIP = host
	}
	if xff := strings.TrimSpace(strings.Join(header.Values("X-Forwarded-For"), ", ")); xff != "" {
		return xff + ", " + remoteIP
	}
	return remoteIP
}

func (h handler) OnOpen(c *gateway.Conn, r *gateway.Request) {
	id, _ := r.Identity.(*identity)
	if id == nil {
		id = &identity{}
	}
	req := openRequest(id, r.RemoteAddr, r.Method, r.Path, r.Header, r.Query)
	req.Params = r.Params
	conn := h.n.sys.Open(c, req)
	c.SetValue(conn)
	metrics.ConnectionsAccepted.Inc()
	metrics.Connections.Inc()
}

func (h handler) OnText(c *gateway.Conn, msg []byte) {
	conn, _ := c.Value().(*actors.Conn)
	if conn == nil {
		return
	}
	f, err := protocol.Decode(msg)
	if err != nil {
		var id []byte
		if f != nil {
			id = f.ID
		}
		e, ok := err.(*protocol.Error)
		if !ok {
			e = protocol.ErrInternal
		}
		metrics.ClientErrors.WithLabelValues(itoa(e.Code)).Inc()
		c.Send(protocol.EncodeError(id, e))
		return
	}
	conn.Frame(f)
}

func (h handler) OnClose(c *gateway.Conn, code uint16, reason string) {
	conn, _ := c.Value().(*actors.Conn)
	if conn == nil {
		return
	}
	if reason == "slow_consumer" {
		metrics.SlowConsumers.Inc()
	}
	metrics.Connections.Dec()
	conn.Closed(reason)
}
