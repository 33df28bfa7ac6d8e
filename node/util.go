package node

import "github.com/hubrt/hub/protocol"

// encodeMessage turns an API or NATS payload into the server frame for one
// connection.
func encodeMessage(payload []byte) []byte {
	return protocol.EncodeMessage("", "", protocol.Data(payload))
}
