package node_test

import (
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

func TestSmoke(t *testing.T) {
	n := hubtest.Start(t, hubtest.Config(t))
	a := hubtest.Dial(t, n.WSURL()+"?user=alice", nil)
	b := hubtest.Dial(t, n.WSURL()+"?user=bob", nil)
	a.Join("orders")
	b.Join("orders")
	a.Send(`{"type":"message","room":"orders","data":{"x":1},"id":5}`)
	a.Expect("ack")
	m := b.Expect("message")
	t.Logf("%v", m["_raw"])
	nc := hubtest.NATS(t, n.NATSURL())
	nc.Publish("hub.room.orders", []byte(`{"y":2}`))
	t.Log(a.Expect("message")["_raw"], b.Expect("message")["_raw"])
}
