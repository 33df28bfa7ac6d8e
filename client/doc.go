// Package client is the Go client of the hub, for services, tools and tests.
//
//	c, err := client.Dial(ctx, "ws://localhost:8080/ws", client.Options{User: "bot", Reconnect: true})
//	if err != nil { ... }
//	defer c.Close()
//	if err := c.Join(ctx, "orders"); err != nil { ... }        // waits for the ack
//	err = c.SendToRoom(ctx, "orders", map[string]any{"n": 1})   // waits for the ack
//	for m := range c.Messages() {                               // closed when the client ends
//		fmt.Println(m.Room, m.From, string(m.Data))
//	}
//
// It speaks the hub's JSON protocol over gobwas/ws. A request (Join, Leave,
// Send*) writes one frame with an id and blocks until the server's ack, its
// error (returned as *Error, with the code from the hub's error table), the
// end of ctx, or the loss of the connection (ErrDisconnected).
//
// With Options.Reconnect the client dials again after the connection is lost
// or the node shuts down (1001), with exponential backoff and jitter, and
// joins again the rooms it had joined. It does not reconnect after Close,
// after a close code in 4500-4999 (kicked, connection limit) or after the
// backend ended the conversation (1000); 4000-4499 mean reconnect. A
// request made while it is reconnecting waits for the connection (bounded by
// its ctx). Without Reconnect the client ends with the connection.
//
// Presence(ctx, room) asks who is in a presence room and keeps the member
// list from then on, from the hub's join, leave and presence_diff frames;
// Members reads it, Options.OnJoin, OnLeave and OnPresence tell each
// change. After a reconnect the client asks again for every room it keeps,
// once it has joined them again, and tells what changed meanwhile as joins
// and leaves.
//
// Concurrency: every method is safe for concurrent use. The client owns two
// goroutines per connection (reader, pinger), started by Dial and after each
// reconnect, and stopped by Close or the end of the client. The callbacks
// of Options run on the reader (or, after a reconnect, on the goroutine that
// rejoins) and must not block; the kept presence is guarded by the
// client's mutex, never held while a callback runs. Incoming
// messages go to a buffered channel; a reader that falls behind stops the
// client from reading, and the hub then closes the connection as a slow
// consumer, as it would for any client.
package client
