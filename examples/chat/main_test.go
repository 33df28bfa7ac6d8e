package main

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/hubrt/hub/internal/hubtest"
)

// chatter runs one chat client whose input the test writes and whose
// output it reads line by line.
type chatter struct {
	in    *io.PipeWriter
	lines chan string
	done  chan error
}

// ended returns run's result, failing the test if run does not end within
// hubtest.Wait (after what).
func (c *chatter) ended(t *testing.T, after string) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(hubtest.Wait):
		t.Fatalf("run did not end after %s", after)
		return nil
	}
}

func startChat(t *testing.T, ctx context.Context, ws, user, room string) *chatter {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &chatter{in: inW, lines: make(chan string, 100), done: make(chan error, 1)}
	t.Cleanup(func() { inW.Close() })
	go func() {
		c.done <- run(ctx, options{WS: ws, Room: room, User: user, In: inR, Out: outW})
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

func (c *chatter) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-c.lines:
		if got != want {
			t.Fatalf("got line %q, want %q", got, want)
		}
	case <-time.After(hubtest.Wait):
		t.Fatalf("no line %q", want)
	}
}

func (c *chatter) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func TestChat(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alice := startChat(t, ctx, n.WSURL(), "alice", "lobby")
	bob := startChat(t, ctx, n.WSURL(), "bob", "lobby")
	alice.expect(t, "* joined lobby")
	bob.expect(t, "* joined lobby")

	alice.say(t, "hello bob")
	bob.expect(t, "[lobby] alice: hello bob")
	bob.say(t, "hi alice")
	alice.expect(t, "[lobby] bob: hi alice")

	// /to reaches a user directly; /msg is for the backends only.
	alice.say(t, "/to bob psst")
	bob.expect(t, "* alice (to you): psst")
	alice.say(t, "/to bob")
	alice.expect(t, "* usage: /to USER TEXT")

	// Anything sent to the room by a backend shows too.
	hubtest.HTTP(t, "POST", n.HTTPURL()+"/api/rooms/lobby/messages", "", `"server notice"`)
	alice.expect(t, "[lobby] server notice")
	bob.expect(t, "[lobby] server notice")

	// End of input says goodbye and ends run without error.
	alice.in.Close()
	if err := alice.ended(t, "its input did"); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Cancelling ends the other.
	cancel()
	if err := <-bob.done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestChat_KickedEndsWithError(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	nc := hubtest.NATS(t, n.NATSURL())
	ev := hubtest.Events(t, nc, "hub.events.connect")
	c := startChat(t, context.Background(), n.WSURL(), "carol", "r")
	c.expect(t, "* joined r")
	id := hubtest.Event(t, hubtest.NextMsg(t, ev)).ConnectionID
	hubtest.HTTP(t, "DELETE", n.HTTPURL()+"/api/connections/"+id, "", "")
	if err := c.ended(t, "a kick"); err == nil {
		t.Fatal("run ended without error after a kick")
	}
}

func TestChat_RefusedShowsErrors(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := startChat(t, ctx, n.WSURL(), "dave", "no spaces allowed")
	c.expect(t, "* error 105: invalid room name")
	// The chat goes on; each line is refused in turn.
	c.say(t, "anyone?")
	c.expect(t, "* error 105: invalid room name")
	c.in.Close()
	if err := c.ended(t, "its input did"); err != nil {
		t.Fatalf("run: %v", err)
	}
}
