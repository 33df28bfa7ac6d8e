package actors

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hubrt/hub/protocol"
)

// fakeHistory is an in-memory store of history rooms (rooms starting with
// "h"). A read waits for release when hold is set, so tests can deliver
// live messages while it is in flight.
type fakeHistory struct {
	mu    sync.Mutex
	msgs  []StoredMsg // of room "h", in order
	epoch string
	hold  chan struct{}
	fail  bool // reads fail
	reads atomic.Int32
}

func (f *fakeHistory) Has(room string) bool { return strings.HasPrefix(room, "h") }

func (f *fakeHistory) PublishAsync(room, from, exclude string, data []byte, done func(uint64, error)) {
	done(0, fmt.Errorf("not used"))
}

func (f *fakeHistory) ReadAsync(room string, from uint64, done func(HistoryRead)) {
	f.reads.Add(1)
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	go func() {
		if hold != nil {
			<-hold
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.fail {
			done(HistoryRead{Err: fmt.Errorf("store unavailable")})
			return
		}
		r := HistoryRead{Epoch: f.epoch, Reaches: from == 0}
		var prev uint64
		for _, m := range f.msgs {
			r.Last = m.Seq
			if from != ReadLastOnly && m.Seq >= from {
				m.Prev = prev
				r.Msgs = append(r.Msgs, m)
				prev = m.Seq
			}
			if m.Seq == from {
				r.Reaches = true
			}
		}
		done(r)
	}()
}

func (f *fakeHistory) store(seqs ...uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range seqs {
		f.msgs = append(f.msgs, StoredMsg{Seq: s, Data: []byte(strconv.FormatUint(s, 10))})
	}
}

func msgFrame(seq uint64) string {
	return fmt.Sprintf(`{"type":"message","room":"h","offset":%d,"data":%d}`, seq, seq)
}

func ackFrame(id string, offset uint64, recovered string) string {
	s := fmt.Sprintf(`{"type":"ack","id":%s,"room":"h","epoch":"e1","offset":%d`, id, offset)
	if recovered != "" {
		s += `,"recovered":` + recovered
	}
	return s + "}"
}

// historySystem is a System whose history rooms are h's.
func historySystem(t *testing.T, h *fakeHistory) *System {
	b := &bus{subs: map[string]bool{}}
	s := New(Options{Node: "n1", Bus: b, History: h})
	b.sys = s
	t.Cleanup(s.Shutdown)
	return s
}

// joinH opens a connection on sk and joins it to history room "h".
func joinH(s *System, sk *sink, id string, since *protocol.Since) {
	s.Open(sk, &OpenRequest{}).Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, Room: "h", ID: []byte(id), Since: since})
}

// withFirstMember is a System with room "h" stored up to offset 2 and one
// member, first, acknowledged.
func withFirstMember(t *testing.T) (*System, *fakeHistory, *sink) {
	h := &fakeHistory{epoch: "e1"}
	h.store(1, 2)
	s := historySystem(t, h)
	first := &sink{}
	joinH(s, first, "1", nil)
	eventually(t, "the first ack", func() bool { return first.n.Load() == 1 })
	return s, h, first
}

// TestHistory_Merge is the table of the merge, gap and de-dup rules of a
// history room's group (see histState).
func TestHistory_Merge(t *testing.T) {
	type live struct{ seq, prev uint64 }
	tests := []struct {
		name   string
		stored []uint64 // in the store before the join
		since  *protocol.Since
		during []live   // delivered live while the join's read is in flight
		store  []uint64 // stored meanwhile (their live copies are in during)
		later  []uint64 // stored after the ack (their live copies are in after)
		after  []live   // delivered live once the join is acknowledged
		want   []string
	}{
		{
			name: "plain join: position, then live", stored: []uint64{1, 2},
			after: []live{{3, 2}},
			want:  []string{ackFrame("1", 2, ""), msgFrame(3)},
		},
		{
			name: "replay then live, no gap no duplicate", stored: []uint64{1, 2, 3, 4},
			since:  &protocol.Since{Offset: 2, Epoch: "e1"},
			during: []live{{5, 4}, {6, 5}}, store: []uint64{5}, // 5 is in the read, 6 is not
			after: []live{{7, 6}},
			want:  []string{msgFrame(3), msgFrame(4), msgFrame(5), ackFrame("1", 5, "true"), msgFrame(6), msgFrame(7)},
		},
		{
			name: "duplicates after the ack are dropped", stored: []uint64{1, 2},
			since: &protocol.Since{Offset: 1, Epoch: "e1"},
			after: []live{{2, 1}, {3, 2}, {3, 2}},
			want:  []string{msgFrame(2), ackFrame("1", 2, "true"), msgFrame(3)},
		},
		{
			name: "a gap is filled from the store", stored: []uint64{1, 2},
			later: []uint64{3, 4, 5}, after: []live{{4, 3}, {5, 4}},
			want: []string{ackFrame("1", 2, ""), msgFrame(3), msgFrame(4), msgFrame(5)},
		},
		{
			name: "offsets are not contiguous within a room", stored: []uint64{3, 10, 11},
			since: &protocol.Since{Offset: 3, Epoch: "e1"},
			after: []live{{40, 11}},
			want:  []string{msgFrame(10), msgFrame(11), ackFrame("1", 11, "true"), msgFrame(40)},
		},
		{
			name: "trimmed past since: recovered false, nothing replayed", stored: []uint64{4, 5},
			since: &protocol.Since{Offset: 2, Epoch: "e1"},
			want:  []string{ackFrame("1", 5, "false")},
		},
		{
			name: "another epoch: recovered false", stored: []uint64{1, 2},
			since: &protocol.Since{Offset: 1, Epoch: "e0"},
			want:  []string{ackFrame("1", 2, "false")},
		},
		{
			name: "since ahead of the room: recovered false", stored: []uint64{1, 2},
			since: &protocol.Since{Offset: 9, Epoch: "e1"},
			want:  []string{ackFrame("1", 2, "false")},
		},
		{
			name: "since at the end: recovered, nothing replayed", stored: []uint64{1, 2},
			since: &protocol.Since{Offset: 2, Epoch: "e1"},
			want:  []string{ackFrame("1", 2, "true")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHistory{epoch: "e1", hold: make(chan struct{})}
			h.store(tt.stored...)
			b := &bus{subs: map[string]bool{}}
			s := New(Options{Node: "n1", Bus: b, ClientPublish: true, History: h})
			b.sys = s
			t.Cleanup(s.Shutdown)
			sk := &sink{}
			c := s.Open(sk, &OpenRequest{})
			c.Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, Room: "h", ID: []byte("1"), Since: tt.since})
			eventually(t, "the read", func() bool { return h.reads.Load() == 1 })
			for _, l := range tt.during {
				s.DeliverStored("h", l.seq, l.prev, "", "", []byte(strconv.FormatUint(l.seq, 10)))
			}
			if len(tt.during) > 0 {
				// The live messages reach the group before the read ends.
				eventually(t, "the buffered live messages", func() bool { return s.RoomMembers("h") == 1 })
			}
			h.store(tt.store...)
			close(h.hold)
			eventually(t, "the ack", func() bool {
				for _, f := range sk.all() {
					if strings.HasPrefix(f, `{"type":"ack"`) {
						return true
					}
				}
				return false
			})
			h.store(tt.later...)
			for _, l := range tt.after {
				s.DeliverStored("h", l.seq, l.prev, "", "", []byte(strconv.FormatUint(l.seq, 10)))
			}
			eventually(t, "every frame", func() bool { return len(sk.all()) >= len(tt.want) })
			s.RoomMembers("h") // a round trip through the registry, for stragglers
			if got := sk.all(); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A join whose store read fails is answered recovered:false (it asked for
// recovery) and then gets the room's live messages, in order, without a
// gap or a duplicate: the group takes its position from the first one.
func TestHistory_ReadFailsThenLive(t *testing.T) {
	h := &fakeHistory{epoch: "e1", fail: true}
	h.store(1, 2)
	s := historySystem(t, h)
	sk := &sink{}
	s.Open(sk, &OpenRequest{}).Frame(&protocol.Frame{Type: protocol.TypeJoinRoom, Room: "h", ID: []byte("1"), Since: &protocol.Since{Offset: 1, Epoch: "e1"}})
	eventually(t, "the ack", func() bool { return sk.n.Load() == 1 })
	if got := sk.all()[0]; !strings.Contains(got, `"recovered":false`) {
		t.Fatalf("ack = %s, want recovered:false", got)
	}
	for _, l := range [][2]uint64{{3, 2}, {4, 3}, {4, 3}, {5, 4}} {
		s.DeliverStored("h", l[0], l[1], "", "", []byte(strconv.FormatUint(l[0], 10)))
	}
	eventually(t, "live messages", func() bool { return sk.n.Load() == 4 })
	s.RoomMembers("h") // a round trip through the registry, for stragglers
	if got, want := strings.Join(sk.all()[1:], "\n"), strings.Join([]string{msgFrame(3), msgFrame(4), msgFrame(5)}, "\n"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// A second join is replayed from the group's cache: no store read.
func TestHistory_CacheServesReconnects(t *testing.T) {
	s, h, first := withFirstMember(t)
	for seq := uint64(3); seq <= 5; seq++ {
		s.DeliverStored("h", seq, seq-1, "", "", []byte(strconv.FormatUint(seq, 10)))
	}
	eventually(t, "live messages", func() bool { return first.n.Load() == 4 })
	second := &sink{}
	joinH(s, second, "2", &protocol.Since{Offset: 3, Epoch: "e1"})
	eventually(t, "the replay", func() bool { return second.n.Load() == 3 })
	want := []string{msgFrame(4), msgFrame(5), ackFrame("2", 5, "true")}
	if got := second.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := h.reads.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1 (the second join from the cache)", n)
	}
}

// A client can be ahead of its new node: it got a message from its old
// node whose live copy has not reached this one yet (or never will, when
// the stream leader that republished it died). Its join reads the store
// instead of being told recovered:false, and it gets no message twice:
// the node's other members get the missing message from the read, the
// joiner nothing before its ack, and the late live copy is dropped.
func TestHistory_SinceAheadOfTheNode(t *testing.T) {
	s, h, first := withFirstMember(t)
	h.store(3) // its live copy is still on its way to this node
	moved := &sink{}
	joinH(s, moved, "2", &protocol.Since{Offset: 3, Epoch: "e1"})
	eventually(t, "the moved client's ack", func() bool { return moved.n.Load() == 1 })
	h.store(4)
	s.DeliverStored("h", 3, 2, "", "", []byte("3"))
	s.DeliverStored("h", 4, 3, "", "", []byte("4"))
	eventually(t, "live messages", func() bool { return moved.n.Load() == 2 && first.n.Load() == 3 })
	s.RoomMembers("h") // a round trip through the registry, for stragglers
	if got, want := strings.Join(moved.all(), "\n"), strings.Join([]string{ackFrame("2", 3, "true"), msgFrame(4)}, "\n"); got != want {
		t.Fatalf("the moved client got\n%s\nwant\n%s", got, want)
	}
	if got, want := strings.Join(first.all(), "\n"), strings.Join([]string{ackFrame("1", 2, ""), msgFrame(3), msgFrame(4)}, "\n"); got != want {
		t.Fatalf("the other member got\n%s\nwant\n%s", got, want)
	}
}
