// Package cluster owns what connects the nodes: memberlist gossip
// (members.go), the embedded NATS server (embedded.go), the routing bus over
// NATS (bus.go) and the cluster secret (secret.go).
//
// # Membership and routes
//
// Gossip finds the members; each member's embedded NATS route listener
// travels in its gossip metadata, and the node (package node) turns the
// members into the embedded server's routes. Gossip is not trusted about
// routes: a member declared dead keeps its route for a grace, because
// memberlist's failure detector flaps and NATS retries routes itself (see
// docs/routing.md, "Gossip is not the truth about routes").
//
// # The cluster secret
//
// A Secret holds one or more keys, the first in use. From each key,
// HKDF-SHA256 derives, under distinct labels: the memberlist keyring key
// (AES-256-GCM; gossip from a node without it is refused), the password of
// RouteUser on NATS routes (RouteAuth accepts any key's, a server presents
// the first key's), and the password of HubUser on the embedded client port.
// Listing several keys is how a cluster rotates: every node must accept a
// key before any sends with it (A → A,B → B,A → B, a rolling restart each).
// Nothing derived is a secret on the hot path: routes are authenticated
// when they connect and then carry messages as before, so the secret costs
// nothing per message (gossip encryption costs microseconds per gossip
// packet, a few packets a second per node).
//
// # Client port
//
// EmbeddedOptions.Clients lists configured NATS users (not a custom
// authenticator: a reload of the server's options, done on every route
// change, drops clients whose user the server cannot find). The hub's own
// user has every permission; backend users get allow lists (ClientUser).
//
// # System user (clustered JetStream)
//
// With clustered JetStream the embedded server also takes SystemUser in its
// system account (peers.go), with a random password made at start that
// never leaves the process: JetStreamMeta and RemovePeer sign in with it in
// process to read the meta group and remove a peer for good, calls only
// the system account may make. When the client port was open, a no-auth
// user keeps it open.
//
// # Concurrency
//
// Members' callbacks (OnJoin, OnLeave) run in order on one goroutine and
// must not block for long. Embedded.SetRoutes serialises reloads with its
// own lock. The Bus's contract is in bus.go.
package cluster
