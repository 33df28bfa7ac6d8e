package node

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubrt/hub/actors"
	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/gateway"
	"github.com/hubrt/hub/protocol"
)

// identity is who a connection is, as the upgrade established it.
type identity struct {
	user  string
	rooms []string // NATS-style patterns from the "rooms" claim; nil = any room

	join    []string  // rooms joined server-side at connect: the JWT join claim, or the connect proxy's answer
	expires time.Time // the token's exp, or the connect proxy's expires_at; zero = never

	// What presence shows about the connection: the JWT "info" claim, or
	// the connect proxy's answer.
	info json.RawMessage
}

// Claims are the JWT claims the hub reads: "sub" is the user, "rooms" an
// optional list of NATS-style patterns ("*" one token, ">" the rest; see
// namespace.Match) limiting the rooms the connection may join, "join" an
// optional list of rooms the connection joins at connect, server-side.
type Claims struct {
	Rooms []string `json:"rooms,omitempty"`
	Join  []string `json:"join,omitempty"`
	// Info is what presence shows about the connection: any JSON value.
	Info json.RawMessage `json:"info,omitempty"`
	jwt.RegisteredClaims
}

type authenticator struct {
	dev     bool
	key     any      // []byte for HS256, a public key for RS256/ES256; nil = no JWT
	methods []string // accepted signing algorithms
	leeway  time.Duration
	apiKey  []byte
	admin   []byte // admin token: /admin and every API call; nil = none
	// proxyDecides: a connect proxy is configured, so a connection without
	// a token is not refused here.
	proxyDecides bool
}

// mode says what names a connection, for pages that ask: "jwt" (a token is
// required), "jwt+dev" (a token, else ?user=), "dev" (?user=) or
// "anonymous".
func (a *authenticator) mode() string {
	switch {
	case a.key != nil && a.dev:
		return "jwt+dev"
	case a.key != nil:
		return "jwt"
	case a.dev:
		return "dev"
	}
	return "anonymous"
}

func newAuthenticator(c *config.Config) (*authenticator, error) {
	a := &authenticator{dev: c.Node.Dev, leeway: c.Auth.JWTLeeway, proxyDecides: c.Proxy(config.ProxyConnect) != nil}
	if c.Auth.APIKey != "" {
		a.apiKey = []byte(c.Auth.APIKey)
	}
	if c.Auth.AdminToken != "" {
		a.admin = []byte(c.Auth.AdminToken)
	}
	pem := []byte(c.Auth.JWTPublicKey)
	if c.Auth.JWTPublicKeyFile != "" {
		b, err := os.ReadFile(c.Auth.JWTPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		pem = b
	}
	switch {
	case c.Auth.JWTSecret != "":
		a.key = []byte(c.Auth.JWTSecret)
		a.methods = []string{"HS256", "HS384", "HS512"}
	case len(pem) > 0:
		if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
			a.key = k
			a.methods = []string{"RS256", "RS384", "RS512"}
		} else if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
			a.key = k
			a.methods = []string{"ES256", "ES384", "ES512"}
		} else {
			return nil, errors.New("jwt public key: not an RSA or EC public key in PEM form")
		}
	}
	return a, nil
}

func unauthorized(msg string) error {
	return &gateway.HTTPError{Status: http.StatusUnauthorized, Message: msg}
}

// token returns the bearer token of a request: the "token" query
// parameter, else the Authorization header.
func token(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// authenticate decides who a connecting client is. With JWT configured a
// valid token is required (401 otherwise); in development mode the "user"
// query parameter names the user when there is no token; otherwise the
// connection is anonymous.
func (a *authenticator) authenticate(r *http.Request) (*identity, error) {
	tok := token(r)
	// With a connect proxy, a connection without a token is the proxy's
	// to decide (a session cookie, say); a token given must be valid.
	if a.key != nil && (tok != "" || (!a.dev && !a.proxyDecides)) {
		if tok == "" {
			return nil, unauthorized("token required")
		}
		id, err := a.verify(tok)
		if err != nil {
			return nil, unauthorized(err.Error())
		}
		return id, nil
	}
	if a.dev {
		if u := r.URL.Query().Get("user"); u != "" {
			if !protocol.ValidName(u) {
				return nil, &gateway.HTTPError{Status: http.StatusBadRequest, Message: "invalid user name"}
			}
			// A clone: the request's strings share one allocation, the
			// head, which the connection should not keep.
			return &identity{user: strings.Clone(u)}, nil
		}
	}
	return &identity{}, nil
}

// verify checks a JWT and returns who it names; the error's text is what
// the client is told.
func (a *authenticator) verify(tok string) (*identity, error) {
	var claims Claims
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods(a.methods), jwt.WithLeeway(a.leeway), jwt.WithExpirationRequired())
	if err != nil {
		return nil, errors.New("invalid token: " + jwtReason(err))
	}
	if !protocol.ValidName(claims.Subject) {
		return nil, errors.New("invalid token: sub must be a valid user name")
	}
	for _, room := range claims.Join {
		if !protocol.ValidName(room) {
			return nil, errors.New("invalid token: join must list valid room names")
		}
	}
	return &identity{user: claims.Subject, rooms: claims.Rooms, join: claims.Join, expires: claims.ExpiresAt.Time, info: claims.Info}, nil
}

// refresh verifies the token of a refresh frame (actors.Options.Refresh).
func (a *authenticator) refresh(tok string) (*actors.Token, error) {
	if a.key == nil {
		return nil, errors.New("no JWT key configured")
	}
	id, err := a.verify(tok)
	if err != nil {
		return nil, err
	}
	return &actors.Token{User: id.user, RoomGlobs: id.rooms, Expires: id.expires}, nil

}

// infoClaim keeps the "info" claim compact, nil when absent or null.
func infoClaim(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return nil
	}
	return b.Bytes()
}

func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "exp claim required"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	}
	return "rejected"
}

// apiAllowed checks the bearer of an HTTP API request: the API key or the
// admin token. Without an API key the API is open.
func (a *authenticator) apiAllowed(r *http.Request) bool {
	if a.apiKey == nil {
		return true
	}
	return a.bearerIs(r, a.apiKey) || (a.admin != nil && a.bearerIs(r, a.admin))
}

func (a *authenticator) bearerIs(r *http.Request, key []byte) bool {
	t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t)), key) == 1
}

// adminDisabled is the answer to an admin call on a node that has neither
// an admin token nor an API key outside development mode.
const adminDisabled = "the admin page and API are off: set auth.admin_token (HUB_ADMIN_TOKEN, -admin-token) or auth.api_key (HUB_API_KEY), or run in development mode (-dev)"

// adminEnabled reports whether /admin is served at all: with an admin
// token or an API key to guard it, or in development mode.
func (a *authenticator) adminEnabled() bool {
	return a.admin != nil || a.apiKey != nil || a.dev
}

// adminAllowed checks an admin call (the /admin page's own API calls:
// nodes, events). It answers 0 when allowed, else the status and message:
// 403 when admin access is off, 401 without the admin token or API key.
// In development mode with neither configured it is open, like the API.
func (a *authenticator) adminAllowed(r *http.Request) (int, string) {
	switch {
	case !a.adminEnabled():
		return http.StatusForbidden, adminDisabled
	case a.admin == nil && a.apiKey == nil:
		return 0, ""
	case a.admin != nil && a.bearerIs(r, a.admin), a.apiKey != nil && a.bearerIs(r, a.apiKey):
		return 0, ""
	}
	return http.StatusUnauthorized, "missing or wrong admin token or API key"
}

// MintToken signs an HS256 token for user, valid for ttl, limited to rooms
// (NATS-style patterns) when not empty. `hub token` and tests use it.
func MintToken(secret, user string, rooms []string, ttl time.Duration) (string, error) {
	return MintTokenClaims(secret, user, Claims{Rooms: rooms}, ttl)
}

// MintTokenClaims signs an HS256 token for user, valid for ttl, with the
// rooms and join claims of c.
func MintTokenClaims(secret, user string, c Claims, ttl time.Duration) (string, error) {
	if !protocol.ValidName(user) {
		return "", fmt.Errorf("invalid user name %q", user)
	}
	now := time.Now()
	claims := Claims{Rooms: c.Rooms, Join: c.Join, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
