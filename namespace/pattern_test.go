package namespace

import (
	"errors"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, room string
		want          bool
	}{
		{"chat", "chat", true},
		{"chat", "chats", false},
		{"chat", "chat.lobby", false},
		{"chat.*", "chat.lobby", true},
		{"chat.*", "chat", false},
		{"chat.*", "chat.lobby.x", false}, // "*" never crosses a dot
		{"chat.>", "chat.lobby", true},
		{"chat.>", "chat.lobby.x.y", true},
		{"chat.>", "chat", false}, // ">" needs at least one token
		{"chat.>", "chatx.lobby", false},
		{">", "anything", true},
		{">", "a.b.c", true},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*.*", "a.b", true},
		{"dm.*", "dm.alice", true},
		{"dm.*", "dm.alice.bob", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"a.*.>", "a.b.c.d", true},
		{"a.*.>", "a.b", false},
		{"orders.*", "orders.eu.1", false},
		{"orders.>", "orders.eu.1", true},
		{"chat*", "chat1", false}, // partial wildcards are literals
		{"chat*", "chat*", true},
		{"", "", false},
		{"a", "", false},
		{"", "a", false},
		{">", "", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.room); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.room, got, tt.want)
		}
	}
}

func TestValidPattern(t *testing.T) {
	good := []string{"chat", "chat.>", "dm.*", "*", ">", "a.*.c", "a_b-c:d@e.*", "*.*.>"}
	for _, p := range good {
		if err := ValidPattern(p); err != nil {
			t.Errorf("ValidPattern(%q) = %v, want nil", p, err)
		}
	}
	bad := []string{"", ".", "a.", ".a", "a..b", ">.a", "a.>.b", "chat*", "*a", "a>", "a b", "a/b", "é", string(make([]byte, 129))}
	for _, p := range bad {
		if err := ValidPattern(p); err == nil {
			t.Errorf("ValidPattern(%q) = nil, want an error", p)
		}
	}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"chat.>", "dm.*", false},
		{"chat.>", "chat.*", true},
		{"chat.>", "chat", false},
		{"chat.>", "chat.lobby.x", true},
		{"chat.*", "chat.lobby", true},
		{"chat.*", "chat.lobby.x", false},
		{"a.*.c", "a.b.*", true},
		{"a.*", "a.*.*", false},
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{">", "x", true},
		{"*", "x.y", false},
		{"*.>", "x", false},
		{"*.>", "x.y", true},
		{"a.>", "*.b.>", true},
		{"a.x.>", "*.y.>", false},
	}
	for _, tt := range tests {
		if got := Overlap(tt.a, tt.b); got != tt.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := Overlap(tt.b, tt.a); got != tt.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v (symmetry)", tt.b, tt.a, got, tt.want)
		}
		if tt.want {
			w := Witness(tt.a, tt.b)
			if !Match(tt.a, w) || !Match(tt.b, w) {
				t.Errorf("Witness(%q, %q) = %q, matched by %v and %v, want both", tt.a, tt.b, w, Match(tt.a, w), Match(tt.b, w))
			}
		}
	}
}

func TestSet_Lookup(t *testing.T) {
	s, err := New([]Namespace{
		{Name: "chat", Rooms: []string{"chat.>", "dm.*"}},
		{Name: "news", Rooms: []string{"news", "news.*.live"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		room string
		want string // "" = none
	}{
		{"chat.lobby", "chat"},
		{"chat.a.b", "chat"},
		{"dm.alice", "chat"},
		{"dm.alice.bob", ""},
		{"news", "news"},
		{"news.eu.live", "news"},
		{"news.eu", ""},
		{"chat", ""},
		{"other", ""},
	}
	for _, tt := range tests {
		ns, ok := s.Lookup(tt.room)
		got := ""
		if ok {
			got = ns.Name
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%q) = %q, %v, want %q", tt.room, got, ok, tt.want)
		}
	}
	var none *Set
	if _, ok := none.Lookup("x"); ok || none.Len() != 0 {
		t.Error("a nil Set found a namespace")
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name    string
		nss     []Namespace
		overlap bool
	}{
		{"overlap", []Namespace{{Name: "a", Rooms: []string{"chat.>"}}, {Name: "b", Rooms: []string{"chat.lobby"}}}, true},
		{"overlap second pattern", []Namespace{{Name: "a", Rooms: []string{"x", "dm.*"}}, {Name: "b", Rooms: []string{"*.bob"}}}, true},
		{"invalid pattern", []Namespace{{Name: "a", Rooms: []string{"chat*"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.nss)
			if err == nil {
				t.Fatal("New = nil error, want one")
			}
			if errors.Is(err, ErrOverlap) != tt.overlap {
				t.Fatalf("New = %v, ErrOverlap %v, want %v", err, errors.Is(err, ErrOverlap), tt.overlap)
			}
		})
	}
	// Patterns of one namespace may overlap each other.
	if _, err := New([]Namespace{{Name: "a", Rooms: []string{"chat.>", "chat.*"}}}); err != nil {
		t.Fatalf("New with overlapping patterns in one namespace = %v, want nil", err)
	}
}

func TestLookup_NoAlloc(t *testing.T) {
	s, _ := New([]Namespace{{Name: "chat", Rooms: []string{"chat.>", "dm.*"}}, {Name: "n", Rooms: []string{"news"}}})
	if n := testing.AllocsPerRun(100, func() { s.Lookup("dm.alice") }); n != 0 {
		t.Fatalf("Lookup allocates %v times, want 0", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	s, _ := New([]Namespace{
		{Name: "chat", Rooms: []string{"chat.>", "dm.*"}},
		{Name: "news", Rooms: []string{"news.*.live"}},
		{Name: "orders", Rooms: []string{"orders.>"}},
	})
	for _, room := range []string{"chat.lobby", "orders.eu.1", "other.room"} {
		b.Run(room, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Lookup(room)
			}
		})
	}
}
