// Package history owns the JetStream streams that keep the messages of
// history rooms (SPEC §10): one stream per namespace with a history block,
// named <PREFIX>_<namespace>, whose subjects are the room subjects
// <prefix>.room.<pattern> of the namespace's patterns, limited per room
// (MaxMsgsPerSubject = size), by age (ttl) and in bytes (max_bytes), in
// file or memory storage, with replicas.
//
// A message to a history room is published to JetStream and acknowledged
// once stored (on a quorum of replicas); an error means it was not stored
// and will not be delivered. Its offset is the stream sequence: increasing
// within a room, not contiguous. The stream republishes every stored
// message to <prefix>.hist.<prefix>.room.<room> with Nats-Sequence and
// Nats-Last-Sequence (the room's previous offset), which is what every node
// delivers from: members get what was stored, in stored order, and a lost
// republish shows as a gap that the room's group (package actors) fills
// from the store. The epoch is the stream's creation time: it changes only
// when the stream is created anew.
//
// Reads (recovery, the history API) go to the stream leader message by
// message (direct gets from replicas could lag behind); a room holds at
// most size messages, and the per-node cache of each room's recent
// messages in package actors answers most reconnects without a read.
//
// Cost, measured with nats-server v2.15.2 on this 2-core machine: a stored
// publish costs JetStream 7-9x the CPU of a core NATS publish (R3 14-18 µs
// against 1.7-2.5 µs); it is paid per message, not per delivery, and only
// in namespaces with history.
//
// Concurrency: a Store is safe for concurrent use. Publish and Read block
// on JetStream; PublishAsync runs on a goroutine of its own, bounded by
// MaxInFlight and joined by Close.
package history
