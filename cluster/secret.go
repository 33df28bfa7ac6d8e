package cluster

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// MinSecretKey is the shortest key a cluster secret may hold, in bytes.
const MinSecretKey = 16

// RouteUser is the user an embedded server presents on its NATS routes.
const RouteUser = "hub-route"

// HubUser is the user a node's own connection to its embedded server uses.
const HubUser = "hub"

// Secret is a cluster secret: one or more keys, the first one in use (it
// encrypts gossip and signs in on routes), all of them accepted, so a
// cluster moves from one key to the next by rolling restarts (see
// SECURITY.md). Everything the cluster needs is derived from the keys with
// HKDF-SHA256 under distinct labels; the keys themselves never leave the
// node.
type Secret struct {
	keys [][]byte
}

// ParseSecret reads keys separated by commas or newlines; blank lines and
// lines starting with "#" are skipped. It returns nil, nil for a text with
// no key.
func ParseSecret(text string) (*Secret, error) {
	var keys [][]byte
	var errs []error
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for k := range strings.SplitSeq(line, ",") {
			k = strings.TrimSpace(k)
			if k == "" {
				continue
			}
			if len(k) < MinSecretKey {
				errs = append(errs, fmt.Errorf("cluster secret: key %d is %d characters; each key needs at least %d (generate one with: openssl rand -base64 32)", len(keys)+1, len(k), MinSecretKey))
			}
			keys = append(keys, []byte(k))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return &Secret{keys: keys}, nil
}

// Keys is the number of keys.
func (s *Secret) Keys() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

func derive(key []byte, label string, n int) []byte {
	b, err := hkdf.Key(sha256.New, key, nil, "hub cluster "+label, n)
	if err != nil {
		panic(err) // only for n too large
	}
	return b
}

func password(key []byte, label string) string {
	return base64.RawURLEncoding.EncodeToString(derive(key, label, 32))
}

// GossipKeys are the memberlist keys (AES-256), the first one primary; nil
// for a nil secret.
func (s *Secret) GossipKeys() [][]byte {
	if s == nil {
		return nil
	}
	out := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		out[i] = derive(k, "gossip", 32)
	}
	return out
}

// RoutePasswords are the passwords of RouteUser, one per key, the first
// the one to present.
func (s *Secret) RoutePasswords() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.keys))
	for i, k := range s.keys {
		out[i] = password(k, "nats route")
	}
	return out
}

// HubPassword is the password of HubUser on a node's embedded server: the
// node's own connection and `hub publish` use it.
func (s *Secret) HubPassword() string {
	return password(s.keys[0], "nats client")
}

// RouteAuth checks the credentials of an incoming NATS route: RouteUser
// with the password of any key.
type RouteAuth struct {
	Passwords []string
}

// Check implements server.Authentication.
func (a *RouteAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Username != RouteUser {
		return false
	}
	ok := false
	for _, p := range a.Passwords {
		ok = subtle.ConstantTimeCompare([]byte(o.Password), []byte(p)) == 1 || ok
	}
	return ok
}

// ClientUser is one identity the embedded server's client port accepts.
type ClientUser struct {
	Name, Password string
	// Publish and Subscribe are the subjects allowed (wildcards as NATS
	// has them); both nil gives every permission.
	Publish, Subscribe []string
	// Replies lets the user answer the requests it receives (a backend
	// replying to message events) whatever Publish says.
	Replies bool
}

// serverUser is u as the server's configured user. Configured users, not
// a custom check, because a reload of the server's options (routes change
// with the membership) drops every client whose user it cannot find.
func (u ClientUser) serverUser() *server.User {
	su := &server.User{Username: u.Name, Password: u.Password}
	if u.Publish != nil || u.Subscribe != nil {
		su.Permissions = &server.Permissions{Publish: allowOnly(u.Publish), Subscribe: allowOnly(u.Subscribe)}
		if u.Replies {
			su.Permissions.Response = &server.ResponsePermission{MaxMsgs: 1}
		}
	}
	return su
}

// allowOnly allows subjects and nothing else (an empty allow list means
// "everything" to NATS, so none allowed is a deny of all).
func allowOnly(subjects []string) *server.SubjectPermission {
	if len(subjects) == 0 {
		return &server.SubjectPermission{Deny: []string{">"}}
	}
	return &server.SubjectPermission{Allow: subjects}
}
