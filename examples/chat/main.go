// Command chat is a terminal chat client: it joins a room, sends each line
// typed as a room message, and prints what arrives. In development mode
// -user names you; with JWT, pass -token.
//
//	go run ./examples/chat -ws ws://127.0.0.1:8080/ws -room lobby -user alice
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hubrt/hub/examples/internal/wsclient"
)

type options struct {
	WS    string    // the hub's WebSocket URL
	Room  string    // room to join
	User  string    // user name (development mode); "" for anonymous
	Token string    // JWT; "" for none
	In    io.Reader // lines to send
	Out   io.Writer // what arrives, one line each
}

func main() {
	o := options{In: os.Stdin, Out: os.Stdout}
	flag.StringVar(&o.WS, "ws", "ws://127.0.0.1:8080/ws", "hub WebSocket URL")
	flag.StringVar(&o.Room, "room", "lobby", "room to join")
	flag.StringVar(&o.User, "user", "", "user name (hub in development mode)")
	flag.StringVar(&o.Token, "token", "", "JWT (hub with JWT auth)")
	flag.String("nats", "", "unused: the chat client talks WebSocket only")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

func dialURL(o options) string {
	q := url.Values{}
	if o.User != "" {
		q.Set("user", o.User)
	}
	if o.Token != "" {
		q.Set("token", o.Token)
	}
	if len(q) == 0 {
		return o.WS
	}
	sep := "?"
	if strings.Contains(o.WS, "?") {
		sep = "&"
	}
	return o.WS + sep + q.Encode()
}

// run chats until o.In ends (then it says goodbye), ctx ends, or the hub
// closes the connection.
func run(ctx context.Context, o options) error {
	c, err := wsclient.Dial(ctx, dialURL(o), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Send(map[string]any{"type": "join_room", "room": o.Room, "id": "join"}); err != nil {
		return err
	}

	// The reader prints everything; it ends when the connection does.
	readErr := make(chan error, 1)
	go func() { readErr <- read(c, o) }()

	lines := make(chan string)
	inDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(o.In)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		inDone <- sc.Err()
	}()

	for {
		select {
		case line := <-lines:
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := c.Send(map[string]any{"type": "message", "room": o.Room, "data": line}); err != nil {
				return err
			}
		case err := <-inDone:
			c.Close()
			<-readErr
			return err
		case <-ctx.Done():
			c.Close()
			<-readErr
			return nil
		case err := <-readErr:
			return err
		}
	}
}

// read prints each frame that arrives.
func read(c *wsclient.Conn, o options) error {
	for {
		f, err := c.Read()
		if err != nil {
			var ce *wsclient.CloseError
			if errors.As(err, &ce) && ce.Code != 1000 {
				return err
			}
			return nil
		}
		switch {
		case f.Type == "ack" && string(f.ID) == `"join"`:
			fmt.Fprintf(o.Out, "* joined %s\n", o.Room)
		case f.Type == "error":
			fmt.Fprintf(o.Out, "* error %d: %s\n", f.Code, f.Message)
		case f.Type == "message" && f.Room != "" && f.From != "":
			fmt.Fprintf(o.Out, "[%s] %s: %s\n", f.Room, f.From, f.Text())
		case f.Type == "message" && f.Room != "":
			// From a backend or an anonymous client.
			fmt.Fprintf(o.Out, "[%s] %s\n", f.Room, f.Text())
		case f.Type == "message":
			fmt.Fprintf(o.Out, "* %s\n", f.Text())
		}
	}
}
