// Package actors holds a node's connections, rooms and users as
// protoactor-go actors.
//
//   - A connection actor (Conn) per client owns the connection's state: its
//     user, its rooms, its rate limit. The transport decodes frames on its
//     own workers and hands each to the actor (Frame); the actor answers
//     with acks and errors, routes messages through the Bus and publishes
//     the connect, message and disconnect events.
//   - A group actor per room and per user with local members holds those
//     members. A registry actor per kind spawns a group on its first join,
//     stops it after its last leave and tells the Bus when the node's
//     interest in the name starts and ends, so NATS subscriptions follow
//     membership. Membership changes all pass through the registry, which
//     makes spawn and stop race-free; deliveries find the group in a
//     concurrent map and go straight to it. One more group holds every
//     local connection, for broadcasts.
//   - A join is acknowledged only once the group has the member and the
//     Bus has confirmed the subscription, so a message published after the
//     ack reaches the client.
//
// The hot path, decided by measurement: a group hands each delivery's
// frame, encoded once, to every member's Sink with a direct call, not
// through each member's mailbox. BenchmarkFanoutDirect against
// BenchmarkFanoutViaMailbox (10,000 in-memory members, same run, 2 cores,
// `go test -run '^$' -bench Fanout -benchtime 30x -count 3 ./actors`)
// measured a median of 7.8 ns against 2,063 ns per delivery (with 1,000
// members: 12 against 551): the mailbox hop costs two orders of magnitude
// and would dominate a burst. The Sink (the transport's connection) is safe
// for concurrent use and queues without blocking, so nothing is lost by
// skipping the hop; ordering per room is kept because one group actor does
// all of a room's deliveries.
//
// Deadlines (timers.go): a token's refresh_required notice and its expiry
// plus the grace, and max_connection_age, sit in one min-heap per System
// served by one goroutine, which posts a fired message to the connection
// when one is due; there is no timer per connection, and a deadline made
// stale by a refresh or the connection's end is ignored when it fires.
// What only some connections have (a rooms claim, a token expiry, rooms
// joined server-side) hangs off one pointer (lifetime), so the others pay
// a word. Server-side joins and leaves (serverJoin, serverLeave) are
// messages to the connection like its frames; their done callbacks run
// once the room's group has the member (or let it go), on the group's
// goroutine, and must not block.
//
// A connection actor is a Conn and nothing more: it is not spawned, has no
// PID, no entry in protoactor's process registry, no actor.Context and no
// name. A Conn embeds its mailbox (queue: a mutex and a pointer to the
// messages waiting, nil while none), implements protoactor's actor.MessageInvoker and is
// scheduled on protoactor's synchronized dispatcher: the goroutine that
// posts to an idle connection runs its queue (a gateway worker runs the
// frames it read), yielding every 300 messages. Nothing a connection actor
// does blocks: it queues on sockets and sends to other actors. The default
// dispatcher's goroutine per run cost ~10% of the hub's CPU per accepted
// connection. Messages run one at a time, system
// messages first, user messages in the order they were posted; only the
// actor touches its state. The transport posts frames and the end, groups
// post userJoined, Info posts a request with a reply channel (answered
// "gone" once the connection has ended), and everything the actor sends
// goes through the root context. A message that panics is dropped and the
// actor goes on with the next. Rooms, users, their registries and the
// broadcast group stay spawned protoactor actors, run by a pooled
// dispatcher (dispatch.go: 16 goroutines waiting for a mailbox to run, a
// new one only when all are busy, instead of a new goroutine per run);
// groups hold a member as its *Conn, and the broadcast group keeps each
// member's position in the Conn itself instead of in a map.
//
// Why: most connections are idle most of the time, and what an idle one
// costs is what limits connections per node. BenchmarkConnMemory (20,000
// idle connections, each in one of 100 rooms, median of
// `go test -run '^$' -bench ConnMemory -benchtime 1x -count 3 ./actors`,
// 2 cores) measured 1,709 B per connection with spawned connection actors
// (process registry entry and PID ~300 B, actor context ~110 B, mailbox,
// process and actor ~130 B, a sync.Map entry ~100 B, a 512 B buffer for a
// 291 B encoded meta), 718 B with the actor embedded in the Conn and the
// meta kept encoded at its exact size, 364 B with the queue's slice in the
// Conn (a 168 B Conn, in the 176 B size class), and 348 B now (353 B with
// a desktop browser's headers): the Conn is 152 B, in the 160 B class
// (TestConn_Size; the room globs a pointer, the peer and the meta one
// string, the queue's messages a pointer to a backlog allocated per
// wake-up, 48 B where the slice allocated 16: BenchmarkQueue_WakeUp, same
// time), the meta ~16 B of references
// into the System's table of shared pieces (meta.go: a bounded table,
// pieces enter it on their second sighting and leave with their last
// connection; events stay byte for byte what protocol.EncodeMeta made,
// TestEvents_Golden), a member's room name is the room's own copy; the
// rest is the connection table (~30 B), group membership (~45 B) and what
// the benchmark itself keeps (a peer string per connection).
package actors
