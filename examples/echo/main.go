// Command echo is a backend for the hub: it takes the client messages meant
// for the backends (frames without a room or a user) from
// hub.events.message, in a queue group so that several copies share the
// work, and answers on the event's reply subject with {"body": <message>}.
// The hub delivers the body to the connection that sent the message. Room
// and direct messages also appear on hub.events.message; echo leaves them
// alone, so chatting in a room is not echoed back.
//
//	go run ./examples/echo -nats nats://127.0.0.1:4222
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
)

type options struct {
	NATS   string    // NATS URL the hub's embedded or external server listens on
	Prefix string    // the hub's subject prefix
	Queue  string    // queue group shared by the copies of this backend
	Out    io.Writer // where to log each message; nil for nowhere
	Ready  func()    // called once the subscription is live; may be nil
}

func main() {
	o := options{Out: os.Stdout}
	flag.StringVar(&o.NATS, "nats", "nats://127.0.0.1:4222", "NATS URL")
	flag.StringVar(&o.Prefix, "prefix", "hub", "hub subject prefix")
	flag.StringVar(&o.Queue, "queue", "echo", "queue group")
	flag.String("ws", "", "unused: the echo backend talks to NATS only")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

// event is the part of a message event the backend reads.
type event struct {
	ConnectionID string          `json:"connection_id"`
	User         string          `json:"user"`
	Room         string          `json:"room"`
	ToUser       string          `json:"to_user"`
	Message      json.RawMessage `json:"message"`
}

// run answers message events until ctx ends.
func run(ctx context.Context, o options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	nc, err := nats.Connect(o.NATS, nats.Name("echo example"))
	if err != nil {
		return fmt.Errorf("connect %s: %w", o.NATS, err)
	}
	defer nc.Close()
	subject := o.Prefix + ".events.message"
	_, err = nc.QueueSubscribe(subject, o.Queue, func(m *nats.Msg) {
		var e event
		if err := json.Unmarshal(m.Data, &e); err != nil || m.Reply == "" || e.Room != "" || e.ToUser != "" {
			return
		}
		reply, _ := json.Marshal(struct {
			Body json.RawMessage `json:"body"`
		}{e.Message})
		if err := m.Respond(reply); err != nil {
			fmt.Fprintf(o.Out, "reply to %s: %v\n", e.ConnectionID, err)
			return
		}
		fmt.Fprintf(o.Out, "echoed %s to %s (user %q)\n", e.Message, e.ConnectionID, e.User)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "echoing %s (queue %s)\n", subject, o.Queue)
	if o.Ready != nil {
		o.Ready()
	}
	<-ctx.Done()
	return nc.Drain()
}
