package actors

import (
	"sync/atomic"
	"testing"
)

// Mailbox runs go to the waiting goroutines, and to new ones when those
// are busy; every run happens, and stopping twice is harmless.
func TestPooledDispatcher(t *testing.T) {
	d := newPooledDispatcher(10, 2)
	defer d.stop()
	var ran atomic.Int32
	block := make(chan struct{})
	for range 5 { // more than there are waiting goroutines
		d.Schedule(func() {
			<-block
			ran.Add(1)
		})
	}
	close(block)
	eventually(t, "every run", func() bool { return ran.Load() == 5 })
	d.stop()
	d.Schedule(func() { ran.Add(1) }) // after stop: a goroutine of its own
	eventually(t, "a run after stop", func() bool { return ran.Load() == 6 })
	if d.Throughput() != 10 {
		t.Fatalf("throughput %d", d.Throughput())
	}
}
