package namespace

import "testing"

// FuzzMatch checks that Match and Overlap never panic and agree: a room
// matched by two patterns means they overlap, and two overlapping patterns
// both match their witness.
func FuzzMatch(f *testing.F) {
	seeds := [][3]string{
		{"chat.>", "chat.*", "chat.lobby"},
		{"dm.*", "*.bob", "dm.bob"},
		{"a.*.c", "a.b.*", "a.b.c"},
		{">", "x.y", "x.y"},
		{"a.>", "a", "a"},
		{"chat*", "*", "chat*"},
		{"", ".", ".."},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, room string) {
		ma, mb := Match(a, room), Match(b, room)
		if ValidPattern(a) != nil || ValidPattern(b) != nil {
			return
		}
		ov := Overlap(a, b)
		if ov != Overlap(b, a) {
			t.Fatalf("Overlap(%q, %q) is not symmetric", a, b)
		}
		if ma && mb && !ov {
			t.Fatalf("%q matches %q and %q, but Overlap = false", room, a, b)
		}
		if ov {
			w := Witness(a, b)
			if !Match(a, w) || !Match(b, w) {
				t.Fatalf("Witness(%q, %q) = %q, not matched by both", a, b, w)
			}
		}
	})
}
