// Package presence knows who is in each presence room, cluster-wide
// (SPEC §11), and when a room is occupied and vacated (§12). docs/presence.md
// tells the whole protocol; this is the package's contract.
//
// What it owns. A Tracker holds, for every presence room this node watches,
// one slice per node: this node's own members exactly (the connection
// actors tell it of every join and leave), the other nodes' as they
// published them. From the slices it keeps a per-user view (a user is
// present while any of its connections is), tells the local members of
// each user that comes and goes (join, leave, presence_diff frames),
// answers presence frames and the HTTP API, and publishes hub.events.join,
// .leave, .room_occupied and .room_vacated.
//
// Across nodes, through NATS (<prefix>.internal.presence.*): a node
// batches its changes of a room for DiffWindow (50 ms) and publishes them
// as one diff carrying (gen, seq); a watcher applies diffs in sequence and
// fetches the node's whole slice when a sequence jumps (a lost diff), when
// it starts watching (scatter-gather to every node), and when gossip says
// a node came (back). A node gossip declares gone has its members dropped
// at once: their users leave without the leave delay. One beacon per room
// repeats the last seq a second after the last change, so a lost last diff
// is found too.
//
// Who decides. The room's owner (first of the alive nodes by rendezvous
// hashing of room and node name) publishes room_occupied / room_vacated and
// the leaves of a dead node's users; the second is the standby. Both watch
// every occupied room they decide for, so when the owner dies the standby
// already has the view and takes over at once. join and leave events carry
// the connection's fields, so the node that holds the connection publishes
// them (made on the connection's actor while it has its details).
//
// Hot path and concurrency. One goroutine (the loop) owns all state: the
// actors' calls (Joined, Left, Query) append to a queue under a mutex and
// return, the NATS subscriptions feed one channel, and a ticker (a
// quarter of DiffWindow) runs the batches and delays of the rooms that have
// any pending. Nothing the loop does blocks: requests to other nodes go out
// with a reply subject and their answers come back as messages. A room
// without presence costs one Policy call per join and leave.
//
// Members' frames are batched per room for FrameWindow (100 ms), times
// the room's thousands of connections (up to ten): a storm's cost is per
// frame more than per byte, so a node writes at most ~10,000 presence
// frames a second per room whatever its size.
//
// Big rooms: above max_list connections a watcher keeps per-node counts
// only, publishes counts-only diffs, and members get counts (a
// presence_diff without names, at most once a second); below nine tenths
// of it the lists are fetched again.
package presence
