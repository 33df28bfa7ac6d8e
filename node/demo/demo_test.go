package demo

import (
	"bytes"
	"testing"
)

func TestIndexUsesTheClient(t *testing.T) {
	page, err := FS.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`./client/hub-client.js`, `name="hub-ws-path" content="/ws"`, `name="hub-auth" content="dev"`, `rel="icon"`} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("index.html lacks %q", s)
		}
	}
}
