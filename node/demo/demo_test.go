package demo

import (
	"bytes"
	"os"
	"testing"
)

func TestClientCopyIsCurrent(t *testing.T) {
	want, err := os.ReadFile("../../client/js/hub-client.js")
	if err != nil {
		t.Fatal(err)
	}
	got, err := FS.ReadFile("hub-client.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("node/demo/hub-client.js differs from client/js/hub-client.js: run `go generate ./node/demo`")
	}
}

func TestIndexUsesTheClient(t *testing.T) {
	page, err := FS.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`./client/hub-client.js`, `name="hub-ws-path" content="/ws"`} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("index.html lacks %q", s)
		}
	}
}
