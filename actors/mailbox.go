package actors

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// leanMailbox is a protoactor mailbox sized for hundreds of thousands of
// mostly idle actors. The default mailbox allocates two lock-free queues up
// front (~600 B); this one is a mutex and two slices that are nil while the
// mailbox is empty, so an idle connection actor pays for a few words. Actors
// here receive few messages each; the hot fan-out path does not go through a
// connection's mailbox at all (see doc.go).
type leanMailbox struct {
	mu        sync.Mutex
	sys       []any
	user      []any
	running   bool
	suspended bool
	invoker   actor.MessageInvoker
	disp      actor.Dispatcher
}

func newLeanMailbox() actor.Mailbox { return &leanMailbox{} }

func (m *leanMailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	m.user = append(m.user, msg)
	m.scheduleLocked()
	m.mu.Unlock()
}

func (m *leanMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys = append(m.sys, msg)
	m.scheduleLocked()
	m.mu.Unlock()
}

func (m *leanMailbox) scheduleLocked() {
	if m.running || m.invoker == nil {
		return
	}
	m.running = true
	m.disp.Schedule(m.process)
}

func (m *leanMailbox) RegisterHandlers(invoker actor.MessageInvoker, disp actor.Dispatcher) {
	m.mu.Lock()
	m.invoker, m.disp = invoker, disp
	m.mu.Unlock()
}

func (m *leanMailbox) Start() {
	m.mu.Lock()
	if len(m.sys)+len(m.user) > 0 {
		m.scheduleLocked()
	}
	m.mu.Unlock()
}

func (m *leanMailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.user)
}

// pop takes the next message, system messages first; ok is false when there
// is nothing to run, and the mailbox is then marked idle under the same lock,
// so a concurrent post schedules it again.
func (m *leanMailbox) pop() (msg any, system bool, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sys) > 0 {
		msg = m.sys[0]
		m.sys[0] = nil
		m.sys = m.sys[1:]
		if len(m.sys) == 0 {
			m.sys = nil
		}
		return msg, true, true
	}
	if !m.suspended && len(m.user) > 0 {
		msg = m.user[0]
		m.user[0] = nil
		m.user = m.user[1:]
		if len(m.user) == 0 {
			m.user = nil
		}
		return msg, false, true
	}
	m.running = false
	return nil, false, false
}

func (m *leanMailbox) process() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.mu.Lock()
			m.running = false
			m.mu.Unlock()
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	throughput := m.disp.Throughput()
	for i := 0; ; i++ {
		if i >= throughput {
			i = 0
			runtime.Gosched()
		}
		var system, ok bool
		msg, system, ok = m.pop()
		if !ok {
			return
		}
		if !system {
			m.invoker.InvokeUserMessage(msg)
			continue
		}
		switch msg.(type) {
		case *actor.SuspendMailbox:
			m.mu.Lock()
			m.suspended = true
			m.mu.Unlock()
		case *actor.ResumeMailbox:
			m.mu.Lock()
			m.suspended = false
			m.mu.Unlock()
		default:
			m.invoker.InvokeSystemMessage(msg)
		}
	}
}
