package actors

import (
	"runtime"
	"slices"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// queue is the state of a mailbox sized for hundreds of thousands of mostly
// idle actors: a mutex and one slice that is nil while the queue is empty,
// so an idle actor pays for a few words. The default protoactor mailbox
// allocates two lock-free queues up front (~600 B). A Conn embeds a queue
// and is its own invoker (see doc.go); leanMailbox wraps one as a protoactor
// Mailbox for spawned actors.
//
// Messages run one at a time, system messages first, user messages in the
// order they were posted, whatever goroutines post them.
type queue struct {
	mu        sync.Mutex
	msgs      []any  // the first nsys are system messages, the rest user messages
	nsys      uint32 // system messages at the head of msgs
	running   bool   // a run is scheduled or under way (or, for a leanMailbox, not started yet)
	suspended bool   // user messages wait (SuspendMailbox until ResumeMailbox)
}

// push queues msg; start says the caller must schedule a run.
func (q *queue) push(msg any, system bool) (start bool) {
	q.mu.Lock()
	if system {
		q.msgs = slices.Insert(q.msgs, int(q.nsys), msg)
		q.nsys++
	} else {
		q.msgs = append(q.msgs, msg)
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
	start = !q.running && len(q.msgs) > 0
	if start {
		q.running = true
	}
	q.mu.Unlock()
	return start
}

func (q *queue) users() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) - int(q.nsys)
}

// pop takes the next message, system messages first; ok is false when there
// is nothing to run, and the queue is then marked idle under the same lock,
// so a concurrent push schedules it again.
func (q *queue) pop() (msg any, system bool, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.nsys > 0:
		q.nsys--
		system = true
	case !q.suspended && len(q.msgs) > 0:
	default:
		q.running = false
		return nil, false, false
	}
	msg = q.msgs[0]
	q.msgs[0] = nil
	q.msgs = q.msgs[1:]
	if len(q.msgs) == 0 {
		q.msgs = nil
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
