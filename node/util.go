package node

import (
	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/protocol"
)

// flushIfConnected confirms subscriptions with the server; while NATS is
// unreachable they wait in the client and are sent on connect. Without a
// connection (a Start that failed before NATS) there is nothing to confirm.
func flushIfConnected(nc *nats.Conn) error {
	if nc == nil || !nc.IsConnected() {
		return nil
	}
	return nc.Flush()
}

// encodeMessage turns an API or NATS payload into the server frame for one
// connection.
func encodeMessage(payload []byte) []byte {
	return protocol.EncodeMessage("", "", protocol.Data(payload))
}
