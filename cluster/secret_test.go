package cluster

import (
	"strings"
	"testing"
)

func TestParseSecret(t *testing.T) {
	s, err := ParseSecret("# comment\n\n first-key-0123456789 \nsecond-key-0123456789,third-key-0123456789\n")
	if err != nil || s.Keys() != 3 {
		t.Fatalf("ParseSecret: %v, %d keys", err, s.Keys())
	}
	if s, err := ParseSecret(" \n# only a comment\n"); s != nil || err != nil {
		t.Fatalf("no key: %v, %v", s, err)
	}
	if _, err := ParseSecret("short"); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short key: %v", err)
	}
	// Derived values: distinct per purpose and key, stable per key, the
	// first key's first.
	a, _ := ParseSecret("key-A-0123456789abcdef")
	ab, _ := ParseSecret("key-A-0123456789abcdef,key-B-0123456789abcdef")
	ba, _ := ParseSecret("key-B-0123456789abcdef,key-A-0123456789abcdef")
	if a.HubPassword() != ab.HubPassword() || a.HubPassword() == ba.HubPassword() {
		t.Error("the hub password is not the first key's")
	}
	if a.RoutePasswords()[0] == a.HubPassword() || string(a.GossipKeys()[0]) == a.HubPassword() {
		t.Error("derived values are not distinct per purpose")
	}
	if ab.RoutePasswords()[1] != ba.RoutePasswords()[0] || len(ab.GossipKeys()[1]) != 32 {
		t.Error("keys do not derive the same values wherever they are listed")
	}
	var none *Secret
	if none.Keys() != 0 || none.GossipKeys() != nil || none.RoutePasswords() != nil {
		t.Error("a nil secret derives something")
	}
}

func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"", "a", "first-key-0123456789\nsecond-key-0123456789", "# x\n,,,\n", "k\x00ey-0123456789abcdef", strings.Repeat("x", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSecret(text)
		if err != nil {
			return
		}
		if s == nil {
			return
		}
		if len(s.GossipKeys()) != s.Keys() || len(s.RoutePasswords()) != s.Keys() || s.HubPassword() == "" {
			t.Fatalf("inconsistent secret from %q", text)
		}
	})
}
