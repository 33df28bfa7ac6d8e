package actors

import (
	"runtime"
	"slices"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// queue is the state of a mailbox sized for hundreds of thousands of mostly
// idle actors: a mutex and one pointer that is nil while the queue is
// empty, so an idle actor pays for three words. The default protoactor
// mailbox allocates two lock-free queues up front (~600 B). A Conn embeds a
// queue and is its own invoker (see doc.go); leanMailbox wraps one as a
// protoactor Mailbox for spawned actors.
//
// Messages run one at a time, system messages first, user messages in the
// order they were posted, whatever goroutines post them.
type queue struct {
	mu        sync.Mutex
	b         *backlog // the messages waiting; nil while none
	running   bool     // a run is scheduled or under way (or, for a leanMailbox, not started yet)
	suspended bool     // user messages wait (SuspendMailbox until ResumeMailbox)
}

// backlog is what a queue holds while messages wait. It is allocated by the
// post that finds the queue empty and dropped by the pop that empties it,
// one allocation per wake-up, as the slice it replaces was (48 bytes
// instead of 16). Kept in the queue, the slice and its count made every
// idle connection's actor bigger: actors.Conn 168 → 152 bytes, the
// 160-byte size class instead of 176.
type backlog struct {
	msgs []any // the first nsys are system messages, the rest user messages
	nsys int
	one  [1]any // msgs' first array, enough for the common single message
}

func newBacklog() *backlog {
	b := &backlog{}
	b.msgs = b.one[:0]
	return b
}

// push queues msg; start says the caller must schedule a run.
func (q *queue) push(msg any, system bool) (start bool) {
	q.mu.Lock()
	if q.b == nil {
		q.b = newBacklog()
	}
	b := q.b
	if system {
		b.msgs = slices.Insert(b.msgs, b.nsys, msg)
		b.nsys++
	} else {
		b.msgs = append(b.msgs, msg)
	}
	start = !q.running
	q.running = true
	q.mu.Unlock()
	return start
}

// restart marks the queue running again when messages are waiting; start
// says the caller must schedule a run.
func (q *queue) restart() (start bool) {
	q.mu.Lock()
	start = !q.running && q.b != nil
	if start {
		q.running = true
	}
	q.mu.Unlock()
	return start
}

func (q *queue) users() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.b == nil {
		return 0
	}
	return len(q.b.msgs) - q.b.nsys
}

// pop takes the next message, system messages first; ok is false when there
// is nothing to run, and the queue is then marked idle under the same lock,
// so a concurrent push schedules it again.
func (q *queue) pop() (msg any, system bool, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.b
	switch {
	case b != nil && b.nsys > 0:
		b.nsys--
		system = true
	case b != nil && !q.suspended:
	default:
		q.running = false
		return nil, false, false
	}
	msg = b.msgs[0]
	b.msgs[0] = nil
	b.msgs = b.msgs[1:]
	if len(b.msgs) == 0 {
		q.b = nil
	}
	return msg, system, true
}

// run hands the queued messages to inv one at a time until the queue is
// empty, yielding the processor every throughput messages. A panic ends
// the run and goes to inv.EscalateFailure with the message that caused it.
func (q *queue) run(inv actor.MessageInvoker, throughput int) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			q.mu.Lock()
			q.running = false
			q.mu.Unlock()
			inv.EscalateFailure(r, msg)
		}
	}()
	for i := 0; ; i++ {
		if i >= throughput {
			i = 0
			runtime.Gosched()
		}
		var system, ok bool
		msg, system, ok = q.pop()
		if !ok {
			return
		}
		if !system {
			inv.InvokeUserMessage(msg)
			continue
		}
		switch msg.(type) {
		case *actor.SuspendMailbox:
			q.mu.Lock()
			q.suspended = true
			q.mu.Unlock()
		case *actor.ResumeMailbox:
			q.mu.Lock()
			q.suspended = false
			q.mu.Unlock()
		default:
			inv.InvokeSystemMessage(msg)
		}
	}
}

// leanMailbox is a queue as a protoactor Mailbox, for spawned actors that
// want the same small footprint.
type leanMailbox struct {
	queue
	invoker actor.MessageInvoker
	disp    actor.Dispatcher
}

// newLeanMailbox returns a mailbox that holds what is posted to it until
// Start (running is true until then, so no post schedules a run).
func newLeanMailbox() actor.Mailbox { return &leanMailbox{queue: queue{running: true}} }

func (m *leanMailbox) PostUserMessage(msg any) {
	if m.push(msg, false) {
		m.disp.Schedule(m.process)
	}
}

func (m *leanMailbox) PostSystemMessage(msg any) {
	if m.push(msg, true) {
		m.disp.Schedule(m.process)
	}
}

func (m *leanMailbox) RegisterHandlers(invoker actor.MessageInvoker, disp actor.Dispatcher) {
	m.mu.Lock()
	m.invoker, m.disp = invoker, disp
	m.mu.Unlock()
}

func (m *leanMailbox) Start() {
	m.mu.Lock()
	m.running = false
	m.mu.Unlock()
	if m.restart() {
		m.disp.Schedule(m.process)
	}
}

func (m *leanMailbox) UserMessageCount() int { return m.users() }

func (m *leanMailbox) process() { m.run(m.invoker, m.disp.Throughput()) }
