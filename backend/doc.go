// Package backend owns Hub's HTTP backends (SPEC §12): the http connectors
// (one shared client per connector, requests signed and bounded by a
// timeout and a per-node limit in flight), the proxies that decide (connect,
// join; over HTTP or NATS request/reply), the message flows whose HTTP
// answer is the reply, and the webhook queues that notify at least once.
//
// # Requests
//
// Every request is a POST of JSON with Content-Type application/json,
// Hub-Event (connect, join, message, webhook) and Hub-Signature
// "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">" (Sign, Verify). A
// connector holds one http.Client whose transport keeps at most
// MaxInFlight connections to the backend, and a semaphore of MaxInFlight
// slots: waiting for a slot counts against the request's timeout, so a
// request that cannot start in time fails with ErrOverloaded rather than
// queueing without bound.
//
// # Hot paths and concurrency
//
// Messages.Post and Webhooks.Enqueue are called on a connection's actor and
// never block: they append to a queue under a mutex and wake a goroutine.
// Messages keeps a FIFO per connection with a message waiting or in flight
// (deleted when empty, so an idle connection costs nothing here) and a FIFO
// of connections ready to post; at most Workers goroutines take the next
// ready connection, post its head and put it back at the tail if more
// wait. One message of a connection is in flight at a time: order holds,
// and a slow backend delays only the connections it is slow for.
//
// Webhooks hashes the ordering key (the connection id) to one of Lanes
// lanes; each lane's goroutine posts its head (a batch of up to Batch
// events) and retries it with exponential backoff (Backoff doubling to
// MaxBackoff) until a 2xx, a 4xx other than 408/429 (not retried: the
// backend said no), or RetryFor since the oldest event was queued. So
// events of one connection stay in order through retries, at the price of
// head-of-line blocking for the other connections of that lane. The queue is
// bounded in events (QueueSize, across lanes); overflow drops the new event
// and counts it.
//
// Proxy.Connect and Proxy.Join block for at most the connector's timeout;
// callers (node) run them off the gateway's workers and the actors.
//
// # Shutdown
//
// Webhooks.Shutdown stops taking events and drains the lanes until its
// context ends, then cancels what is in flight and counts the rest as
// dropped. Messages.Shutdown refuses new messages and waits for those in
// flight.
//
// # Metrics
//
// Per connector: hub_backend_requests_total{connector,event,outcome},
// hub_backend_request_seconds, hub_backend_errors_total{connector,kind},
// hub_backend_queue_depth{connector,queue}, hub_backend_retries_total and
// hub_backend_dropped_total{connector,reason}.
//
// The package imports protocol and metrics, nothing of the actors, gateway
// or cluster: node wires it (deps_test.go).
package backend
