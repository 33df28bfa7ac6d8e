// Command chat is a terminal chat client: it joins a room, sends each line
// typed as a room message, and prints what arrives. In development mode
// -user names you; with JWT, pass -token.
//
//	go run ./examples/chat -ws ws://127.0.0.1:8080/ws -room lobby -user alice
//
// Two commands reach further than the room:
//
//	/msg TEXT        a message for the backends only ({"type":"message","data":"TEXT"})
//	/to USER TEXT    a direct message to every connection of USER
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/hubrt/hub/client"
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
		var ce *client.CloseError
		if errors.As(err, &ce) {
			fmt.Fprintf(os.Stderr, "closed by the hub: %d %s\n", ce.Code, ce.Reason)
			os.Exit(1)
		}
		log.Fatal(err)
	}
}

// send sends one typed line: a room message, or one of the commands.
func send(ctx context.Context, c *client.Client, room, line string) error {
	switch cmd, rest, _ := strings.Cut(line, " "); cmd {
	case "/msg":
		return c.Send(ctx, rest)
	case "/to":
		user, text, ok := strings.Cut(rest, " ")
		if !ok || user == "" {
			return &client.Error{Message: "usage: /to USER TEXT"}
		}
		return c.SendToUser(ctx, user, text)
	}
	return c.SendToRoom(ctx, room, line)
}

// run chats until o.In ends (then it says goodbye), ctx ends, or the hub
// closes the connection.
func run(ctx context.Context, o options) error {
	var mu sync.Mutex // o.Out is written by the reader, the sender and OnError
	printf := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(o.Out, format+"\n", a...)
	}
	// refused prints the hub's error frames and returns nil for them.
	refused := func(err error) error {
		var he *client.Error
		if errors.As(err, &he) {
			if he.Code == 0 { // the client's own usage errors
				printf("* %s", he.Message)
			} else {
				printf("* error %d: %s", he.Code, he.Message)
			}
			return nil
		}
		return err
	}
	c, err := client.Dial(ctx, o.WS, client.Options{User: o.User, Token: o.Token,
		OnError: func(e *client.Error) { refused(e) }}) // error frames that answer no request
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Join(ctx, o.Room); err == nil {
		printf("* joined %s", o.Room)
	} else if refused(err) != nil {
		return err
	}

	// The reader prints everything; it ends when the client does.
	readErr := make(chan error, 1)
	go func() { readErr <- read(c, printf) }()

	inDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(o.In)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			// Waits for the ack; any error but a refusal means that the
			// client or ctx has ended, which run sees on its own.
			if refused(send(ctx, c, o.Room, sc.Text())) != nil {
				return
			}
		}
		inDone <- sc.Err()
	}()

	select {
	case err = <-inDone:
	case <-ctx.Done():
	case err := <-readErr:
		return err
	}
	c.Close()
	<-readErr
	return err
}

// read prints each message that arrives until the client ends: nil after
// Close or a normal close by the hub, the reason otherwise (a kick, a
// shutdown, a lost connection).
func read(c *client.Client, printf func(string, ...any)) error {
	for m := range c.Messages() {
		switch {
		case m.Room != "" && m.From != "":
			printf("[%s] %s: %s", m.Room, m.From, text(m.Data))
		case m.Room != "":
			// From a backend or an anonymous client.
			printf("[%s] %s", m.Room, text(m.Data))
		case m.From != "":
			printf("* %s (to you): %s", m.From, text(m.Data))
		default:
			printf("* %s", text(m.Data))
		}
	}
	err := c.Err()
	var ce *client.CloseError
	if errors.Is(err, client.ErrClosed) || errors.As(err, &ce) && ce.Code == client.CodeNormal {
		return nil
	}
	return err
}

// text returns data as text: a JSON string unquoted, anything else as JSON.
func text(data json.RawMessage) string {
	var s string
	if json.Unmarshal(data, &s) == nil {
		return s
	}
	return string(data)
}
