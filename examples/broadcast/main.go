// Command broadcast is a publisher: it sends a tick to every connection of
// the hub through the hub.broadcast subject, once per interval.
//
//	go run ./examples/broadcast -nats nats://127.0.0.1:4222 -count 10
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
	"time"

	"github.com/nats-io/nats.go"
)

type options struct {
	NATS     string        // NATS URL
	Prefix   string        // the hub's subject prefix
	Interval time.Duration // time between ticks
	Count    int           // ticks to send; 0 = until interrupted
	Out      io.Writer     // where to log each tick; nil for nowhere
}

func main() {
	o := options{Out: os.Stdout}
	flag.StringVar(&o.NATS, "nats", "nats://127.0.0.1:4222", "NATS URL")
	flag.StringVar(&o.Prefix, "prefix", "hub", "hub subject prefix")
	flag.DurationVar(&o.Interval, "interval", time.Second, "time between ticks")
	flag.IntVar(&o.Count, "count", 10, "ticks to send (0 = until interrupted)")
	flag.String("ws", "", "unused: the publisher talks to NATS only")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

// tick is what every client receives as data.
type tick struct {
	Tick int       `json:"tick"`
	Time time.Time `json:"time"`
}

// run publishes o.Count ticks (or until ctx ends) and returns once the last
// one has reached the NATS server.
func run(ctx context.Context, o options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	nc, err := nats.Connect(o.NATS, nats.Name("broadcast example"))
	if err != nil {
		return fmt.Errorf("connect %s: %w", o.NATS, err)
	}
	defer nc.Close()
	subject := o.Prefix + ".broadcast"
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for i := 1; o.Count == 0 || i <= o.Count; i++ {
		b, _ := json.Marshal(tick{Tick: i, Time: time.Now().UTC()})
		if err := nc.Publish(subject, b); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		fmt.Fprintf(o.Out, "%s %s\n", subject, b)
		if o.Count != 0 && i == o.Count {
			break
		}
		select {
		case <-ctx.Done():
			return nc.Flush()
		case <-t.C:
		}
	}
	return nc.Flush()
}
