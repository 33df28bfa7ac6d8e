package main

import (
	"strings"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
	"github.com/hubrt/hub/namespace"
)

// hub peer explains itself, checks its arguments, and prints the node's
// refusal where there is no JetStream peer to remove. (Removing a peer of
// a real cluster: TestProcessHistoryLeaderKill9 and, in package node,
// TestHistoryCluster_PeerRemove.)
func TestPeer_UsageAndRefusals(t *testing.T) {
	if code, _, errs := runCmd("peer"); code != 2 || !strings.Contains(errs, "hub peer remove [flags] NODE") {
		t.Fatalf("peer without a command: %d %q", code, errs)
	}
	if code, _, errs := runCmd("peer", "-h"); code != 0 || !strings.Contains(errs, "gone for good") {
		t.Fatalf("peer -h: %d %q", code, errs)
	}
	if code, _, errs := runCmd("peer", "remove", "-h"); code != 0 || !strings.Contains(errs, "-force") {
		t.Fatalf("peer remove -h: %d %q", code, errs)
	}
	if code, _, errs := runCmd("peer", "drop", "x"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("peer drop: %d %q", code, errs)
	}
	if code, _, _ := runCmd("peer", "remove"); code != 2 {
		t.Fatalf("peer remove without a node: %d", code)
	}
	if code, _, errs := runCmd("peer", "remove", "a..b"); code != 2 || !strings.Contains(errs, "invalid node name") {
		t.Fatalf("peer remove a..b: %d %q", code, errs)
	}

	c := hubtest.Config(t)
	c.Namespaces = []namespace.Namespace{{Name: "chat", Rooms: []string{"chat.>"}, Anonymous: true,
		History: &namespace.History{Size: 10, MaxBytes: -1, Storage: namespace.StorageMemory}}}
	c.Node.Dev = false
	c.Auth.AdminToken = "adm"
	n := hubtest.Start(t, c)
	code, _, errs := runCmd("peer", "remove", "-url", n.HTTPURL(), "other")
	if code != 1 || !strings.Contains(errs, "admin-token") {
		t.Fatalf("without the token: %d %q", code, errs)
	}
	code, _, errs = runCmd("peer", "remove", "-url", n.HTTPURL(), "-admin-token", "adm", "other")
	if code != 1 || !strings.Contains(errs, "JetStream runs standalone") {
		t.Fatalf("standalone: %d %q", code, errs)
	}
	code, out, errs := runCmd("peer", "list", "-url", n.HTTPURL(), "-admin-token", "adm")
	if code != 0 || !strings.Contains(out, "standalone") || !strings.Contains(out, "HUB_chat") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	plain := hubtest.Start(t, hubtest.Config(t))
	code, _, errs = runCmd("peer", "remove", "-url", plain.HTTPURL(), "other")
	if code != 1 || !strings.Contains(errs, "history is off") {
		t.Fatalf("history off: %d %q", code, errs)
	}
}
