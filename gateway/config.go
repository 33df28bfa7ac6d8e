package gateway

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Config configures the WebSocket gateway. The zero value is usable: New
// applies the defaults below to every zero field.
type Config struct {
	// Addr is the listen address, "host:port"; port 0 picks a free port.
	// Default ":8080".
	Addr string

	// Path is the WebSocket path, a net/http ServeMux pattern path that may
	// hold route params ("/ws/{tenant}"); it is served for GET only.
	// Default "/ws".
	Path string

	// PingInterval is how long a connection may stay quiet (no inbound frame)
	// before the server pings it. Default 30s.
	PingInterval time.Duration
	// PongTimeout is how long after a ping the server waits for a pong (or any
	// frame) before closing with 4001 "timeout". Default 10s.
	PongTimeout time.Duration
	// WriteTimeout bounds how long queued outbound data may stay unmoved, and
	// how long a close handshake may take to flush. Default 10s.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds reading the HTTP request and writing the upgrade
	// response. Default 10s.
	HandshakeTimeout time.Duration

	// MaxFrameBytes is the largest inbound message (a frame, or the sum of the
	// fragments of one message), in bytes. Default 65536; 125..1<<30.
	MaxFrameBytes int
	// WriteQueueBytes is the per-connection outbound backlog, in payload bytes,
	// above which the connection is closed as a slow consumer. Default 1 MiB.
	WriteQueueBytes int
	// WriteQueueFrames is the per-connection outbound backlog, in frames,
	// above which the connection is closed as a slow consumer. Default 1024.
	WriteQueueFrames int

	// AllowedOrigins lists the browser origins accepted at the upgrade:
	// "https://app.example.com" or "https://*.example.com", compared
	// case-insensitively. Empty or containing "*" allows every origin. A
	// request without an Origin header, or whose Origin is the request's own
	// host, is always allowed.
	AllowedOrigins []string

	// MaxConns caps the open connections of this server; 0 means unlimited.
	MaxConns int
	// MaxConnsPerIP caps the open connections per remote IP; 0 means unlimited.
	MaxConnsPerIP int

	// Workers is the number of goroutines that read ready sockets.
	// Default GOMAXPROCS; 1..1024.
	Workers int

	// Compression accepts permessage-deflate offers (RFC 7692), always
	// without context takeover in both directions. Off by default.
	Compression bool
	// CompressionLevel is the deflate level of outbound messages, 1 (fast,
	// the default) to 9.
	CompressionLevel int
	// CompressionMinBytes is the smallest outbound payload that is
	// compressed; smaller ones go as they are. Default 256.
	CompressionMinBytes int
	// MaxInflatedBytes bounds an inbound compressed message once inflated;
	// past it the connection closes with 1009. Default MaxFrameBytes.
	MaxInflatedBytes int

	// MaxSlowUpgrades caps the upgrades whose Authenticate runs on a
	// goroutine of its own (a SlowAuthenticator's); beyond it an upgrade
	// is refused with 503. Default 1024.
	MaxSlowUpgrades int

	// Gateway is GatewayEpoll (Linux only, the default there) or
	// GatewayPortable (a goroutine pair per connection over net.Conn, the
	// default elsewhere): the same Handler contract, limits and close codes.
	Gateway string
}

// Defaults for the zero fields of Config.
const (
	DefaultAddr             = ":8080"
	DefaultPath             = "/ws"
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxFrameBytes    = 64 << 10
	DefaultWriteQueueBytes  = 1 << 20
	DefaultWriteQueueFrames = 1024
	DefaultMaxSlowUpgrades  = 1024

	DefaultCompressionLevel    = 1
	DefaultCompressionMinBytes = 256
)

func (c *Config) setDefaults(procs int) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongTimeout == 0 {
		c.PongTimeout = DefaultPongTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.WriteQueueBytes == 0 {
		c.WriteQueueBytes = DefaultWriteQueueBytes
	}
	if c.WriteQueueFrames == 0 {
		c.WriteQueueFrames = DefaultWriteQueueFrames
	}
	if c.Workers == 0 {
		c.Workers = procs
	}
	if c.CompressionLevel == 0 {
		c.CompressionLevel = DefaultCompressionLevel
	}
	if c.CompressionMinBytes == 0 {
		c.CompressionMinBytes = DefaultCompressionMinBytes
	}
	if c.MaxInflatedBytes == 0 {
		c.MaxInflatedBytes = c.MaxFrameBytes
	}
	if c.MaxSlowUpgrades == 0 {
		c.MaxSlowUpgrades = DefaultMaxSlowUpgrades
	}
	if c.Gateway == "" {
		c.Gateway = GatewayPortable
		if runtime.GOOS == "linux" {
			c.Gateway = GatewayEpoll
		}
	}
}

// Validate reports every problem of c at once. It expects defaults applied.
func (c *Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("gateway: path %q must start with /", c.Path))
	}
	for name, d := range map[string]time.Duration{
		"ping interval":     c.PingInterval,
		"pong timeout":      c.PongTimeout,
		"write timeout":     c.WriteTimeout,
		"handshake timeout": c.HandshakeTimeout,
	} {
		if d < time.Millisecond {
			errs = append(errs, fmt.Errorf("gateway: %s %v must be at least 1ms", name, d))
		}
	}
	if c.MaxFrameBytes < 125 || c.MaxFrameBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("gateway: max frame bytes %d out of range 125..1<<30", c.MaxFrameBytes))
	}
	if c.WriteQueueBytes < 1 {
		errs = append(errs, fmt.Errorf("gateway: write queue bytes %d must be positive", c.WriteQueueBytes))
	}
	if c.WriteQueueFrames < 1 {
		errs = append(errs, fmt.Errorf("gateway: write queue frames %d must be positive", c.WriteQueueFrames))
	}
	if c.MaxConns < 0 || c.MaxConnsPerIP < 0 || c.MaxSlowUpgrades < 0 {
		errs = append(errs, errors.New("gateway: connection limits must not be negative"))
	}
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("gateway: workers %d out of range 1..1024", c.Workers))
	}
	if c.CompressionLevel < 1 || c.CompressionLevel > 9 {
		errs = append(errs, fmt.Errorf("gateway: compression level %d out of range 1..9", c.CompressionLevel))
	}
	if c.CompressionMinBytes < 0 {
		errs = append(errs, fmt.Errorf("gateway: compression min bytes %d must not be negative", c.CompressionMinBytes))
	}
	if c.MaxInflatedBytes < 1 || c.MaxInflatedBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("gateway: max inflated bytes %d out of range 1..1<<30", c.MaxInflatedBytes))
	}
	switch {
	case c.Gateway == GatewayPortable:
	case c.Gateway == GatewayEpoll && runtime.GOOS == "linux":
	case c.Gateway == GatewayEpoll:
		errs = append(errs, fmt.Errorf("gateway: the epoll gateway runs on Linux only, not %s", runtime.GOOS))
	default:
		errs = append(errs, fmt.Errorf("gateway: gateway %q must be %q or %q", c.Gateway, GatewayEpoll, GatewayPortable))
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && !strings.Contains(o, "://") {
			errs = append(errs, fmt.Errorf("gateway: allowed origin %q must be scheme://host or *", o))
		}
	}
	return errors.Join(errs...)
}
