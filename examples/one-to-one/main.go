// Command one-to-one shows direct messages: alice and bob connect (in
// development mode, where ?user= names the user), alice sends bob a message
// with {"type":"message","user":"bob",...}, and a backend sends bob another
// through the HTTP API (POST /api/users/bob/messages). Every connection of
// bob gets both; the first carries "from":"alice", set by the hub.
//
//	go run ./examples/one-to-one -ws ws://127.0.0.1:8080/ws -nats nats://127.0.0.1:4222
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/client"
)

type options struct {
	WS     string    // the hub's WebSocket URL, e.g. ws://127.0.0.1:8080/ws
	NATS   string    // NATS URL, to see bob's connect event; "" to skip waiting for it
	Prefix string    // the hub's subject prefix
	APIKey string    // the hub's API key, if it has one
	Out    io.Writer // where to print what bob receives; nil for nowhere
}

func main() {
	o := options{Out: os.Stdout}
	flag.StringVar(&o.WS, "ws", "ws://127.0.0.1:8080/ws", "hub WebSocket URL")
	flag.StringVar(&o.NATS, "nats", "nats://127.0.0.1:4222", "NATS URL (\"\" to skip waiting for bob's connect event)")
	flag.StringVar(&o.Prefix, "prefix", "hub", "hub subject prefix")
	flag.StringVar(&o.APIKey, "api-key", "", "hub API key")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

// apiURL turns ws://host:port/path into http://host:port + path.
func apiURL(ws, path string) (string, error) {
	u, err := url.Parse(ws)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("%s: not a ws:// or wss:// URL", ws)
	}
	u.Path, u.RawQuery = path, ""
	return u.String(), nil
}

// run plays the exchange and returns once bob has both messages.
func run(ctx context.Context, o options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	// A connection is routable once the hub has published its connect
	// event; a message to a user who is not there yet is not kept.
	var connects *nats.Subscription
	if o.NATS != "" {
		nc, err := nats.Connect(o.NATS, nats.Name("one-to-one example"))
		if err != nil {
			return fmt.Errorf("connect %s: %w", o.NATS, err)
		}
		defer nc.Close()
		if connects, err = nc.SubscribeSync(o.Prefix + ".events.connect"); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
	}

	bob, err := client.Dial(ctx, o.WS, client.Options{User: "bob"})
	if err != nil {
		return err
	}
	defer bob.Close()
	if connects != nil {
		if err := waitConnect(ctx, connects, "bob"); err != nil {
			return err
		}
	}

	alice, err := client.Dial(ctx, o.WS, client.Options{User: "alice"})
	if err != nil {
		return err
	}
	defer alice.Close()
	// Returns once the hub has acked it.
	if err := alice.SendToUser(ctx, "bob", map[string]string{"text": "hi bob, it's alice"}); err != nil {
		return fmt.Errorf("alice: %w", err)
	}
	m, err := receive(ctx, bob)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "bob got from %s: %s\n", m.From, m.Data)
	if m.From != "alice" {
		return fmt.Errorf("bob got %s from %q, want a message from alice", m.Data, m.From)
	}

	api, err := apiURL(o.WS, "/api/users/bob/messages")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api, strings.NewReader(`{"text":"hi bob, it's the backend"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s %s", api, resp.Status, body)
	}
	if m, err = receive(ctx, bob); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "bob got from the API: %s\n", m.Data)
	if m.From != "" {
		return fmt.Errorf("bob got %s from %q, want a message without from", m.Data, m.From)
	}
	return nil
}

// receive returns the next message of c.
func receive(ctx context.Context, c *client.Client) (client.Message, error) {
	select {
	case m, ok := <-c.Messages():
		if !ok {
			return m, c.Err()
		}
		return m, nil
	case <-ctx.Done():
		return client.Message{}, ctx.Err()
	}
}

// waitConnect waits for the connect event of user.
func waitConnect(ctx context.Context, sub *nats.Subscription, user string) error {
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s to connect: %w", user, err)
		}
		if strings.Contains(string(m.Data), `"user":"`+user+`"`) {
			return nil
		}
	}
}
