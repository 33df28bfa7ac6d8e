package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hubrt/hub/client"
	"github.com/hubrt/hub/node"
)

// cmdCheck is `hub check`: an end-to-end probe of a running hub (the chart's
// `helm test` runs it). It asks /readyz, opens a WebSocket, joins a room of
// its own, publishes to that room through the HTTP API and waits for the
// message to come back on the WebSocket. Exit 0 when all of it worked.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("HUB_URL", "http://127.0.0.1:8080"), "the hub's HTTP address (env HUB_URL)")
	path := fs.String("path", envOr("HUB_WS_PATH", "/ws"), "the WebSocket path (env HUB_WS_PATH)")
	apiKey := fs.String("api-key", os.Getenv("HUB_API_KEY"), "HTTP API bearer key (env HUB_API_KEY)")
	secret := fs.String("jwt-secret", os.Getenv("HUB_JWT_SECRET"), "HS256 secret to sign the check's own token with (env HUB_JWT_SECRET)")
	tokenFlag := fs.String("token", os.Getenv("HUB_CHECK_TOKEN"), "JWT for the WebSocket instead of -jwt-secret (env HUB_CHECK_TOKEN)")
	user := fs.String("user", "hub-check", "the user the check connects as (the token's sub, or ?user= in development mode)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole check")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: hub check [flags]

Checks a running hub end to end: GET /readyz, open a WebSocket, join a room,
publish to it through the HTTP API (POST /api/rooms/ROOM/messages) and wait
for the message on the WebSocket. Exits 0 when the message came back, 1 when
a step failed (the step and the reason are printed).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	u, err := url.Parse(strings.TrimRight(*base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "hub check: -url must be http(s)://host:port, got %q\n", *base)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := checker{base: u.String(), apiKey: *apiKey, out: stdout}
	step := func(name string, f func() error) bool {
		t0 := time.Now()
		if err := f(); err != nil {
			fmt.Fprintf(stderr, "hub check: %s: %v\n", name, err)
			return false
		}
		fmt.Fprintf(stdout, "ok   %-32s %v\n", name, time.Since(t0).Round(time.Millisecond))
		return true
	}

	if !step("GET /readyz", func() error { return c.ready(ctx) }) {
		return 1
	}
	opts := client.Options{User: *user, PingInterval: -1}
	switch {
	case *tokenFlag != "":
		opts.Token = *tokenFlag
	case *secret != "":
		tok, err := node.MintToken(*secret, *user, nil, *timeout+time.Minute)
		if err != nil {
			fmt.Fprintf(stderr, "hub check: token: %v\n", err)
			return 2
		}
		opts.Token = tok
	}
	ws := *u
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	ws.Path = *path
	var cl *client.Client
	if !step("WebSocket "+ws.Path, func() (err error) {
		cl, err = client.Dial(ctx, ws.String(), opts)
		return err
	}) {
		return 1
	}
	defer cl.Close()
	room := "hub-check." + nonce()
	if !step("join "+room, func() error { return cl.Join(ctx, room) }) {
		return 1
	}
	want := `{"check":"` + nonce() + `"}`
	if !step("POST /api/rooms/{room}/messages", func() error { return c.publish(ctx, room, want) }) {
		return 1
	}
	if !step("message back on the WebSocket", func() error {
		for {
			select {
			case m, ok := <-cl.Messages():
				if !ok {
					return fmt.Errorf("connection ended: %v", cl.Err())
				}
				if m.Room == room && string(m.Data) == want {
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("no message within %v", *timeout)
			}
		}
	}) {
		return 1
	}
	fmt.Fprintf(stdout, "hub check: %s passed\n", c.base)
	return 0
}

type checker struct {
	base, apiKey string
	out          io.Writer
}

func (c checker) do(ctx context.Context, method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, bytes.TrimSpace(b), err
}

func (c checker) ready(ctx context.Context) error {
	status, b, err := c.do(ctx, http.MethodGet, "/readyz", "")
	if err != nil {
		return err
	}
	var r struct {
		Node        string `json:"node"`
		ClusterSize int    `json:"cluster_size"`
	}
	_ = json.Unmarshal(b, &r)
	if status != http.StatusOK {
		return fmt.Errorf("%d %s", status, b)
	}
	fmt.Fprintf(c.out, "     node %s, cluster of %d\n", r.Node, r.ClusterSize)
	return nil
}

func (c checker) publish(ctx context.Context, room, data string) error {
	status, b, err := c.do(ctx, http.MethodPost, "/api/rooms/"+room+"/messages", data)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		if status == http.StatusUnauthorized {
			return errors.New("401: wrong or missing API key (-api-key, HUB_API_KEY)")
		}
		return fmt.Errorf("%d %s", status, b)
	}
	return nil
}

func nonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
