package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// pooledDispatcher runs the group and registry actors' mailboxes. A mailbox
// that gets a message while idle is run by one of a few long-lived
// goroutines waiting for work, or, when all of them are busy, by a new
// goroutine, as protoactor's default dispatcher does every time. A new
// goroutine starts on a 2 KB stack, which a join's ack (encoded on it) grew
// twice: in the connect profile that stack growth alone was 6% of the
// hub's CPU while connections opened. The waiting goroutines keep their
// grown stacks. They are started with the System, so the goroutine count
// does not move with the load.
type pooledDispatcher struct {
	throughput int
	work       chan func() // unbuffered: a send succeeds only into an idle goroutine
	quit       chan struct{}
	stopOnce   sync.Once
}

func newPooledDispatcher(throughput, goroutines int) *pooledDispatcher {
	d := &pooledDispatcher{throughput: throughput, work: make(chan func()), quit: make(chan struct{})}
	for range goroutines {
		go d.loop()
	}
	return d
}

var _ actor.Dispatcher = (*pooledDispatcher)(nil)

func (d *pooledDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

func (d *pooledDispatcher) Throughput() int { return d.throughput }

func (d *pooledDispatcher) loop() {
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.quit:
			return
		}
	}
}

// stop ends the waiting goroutines; later runs get goroutines of their own.
func (d *pooledDispatcher) stop() { d.stopOnce.Do(func() { close(d.quit) }) }
