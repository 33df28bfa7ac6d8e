package bench

import (
	"slices"
	"testing"
)

func TestExpandCases(t *testing.T) {
	got := ExpandCases([]string{"idle", "fanout", "cluster"})
	if want := []string{CaseIdle, CaseBurst, CasePaced, CaseCluster}; !slices.Equal(got, want) {
		t.Fatalf("ExpandCases = %v, want %v", got, want)
	}
	cfg := Config{Cases: got, Spawn: true}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("expanded cases do not validate: %v", err)
	}
}
