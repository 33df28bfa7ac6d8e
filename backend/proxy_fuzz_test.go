package backend

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hubrt/hub/protocol"
)

// FuzzConnectAnswer: any status and body a backend may answer gives a
// decision that is either an acceptance with a valid answer or a refusal
// with a 4xx/5xx status and a message; a join answer gives nil or an error
// of the table. Nothing panics.
func FuzzConnectAnswer(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"user":"alice","info":{"a":1},"join":["lobby"],"rooms":["chat.*"],"expires_at":1767225600}`},
		{200, `{}`}, {204, ``}, {200, ``}, {403, `{"error":"banned"}`}, {401, `not json`},
		{200, `{"status":418,"error":"teapot"}`}, {200, `{"status":503}`}, {200, `{"user":"a b"}`},
		{200, `{"join":["ok","a..b"]}`}, {200, `{"rooms":[]}`}, {200, `{"info":`}, {500, ``}, {302, ``},
		{200, `[1,2]`}, {200, `{"expires_at":-5}`}, {200, `{"user":null,"join":null}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	c := &NATS{name: "fuzz"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, allow := range []bool{false, true} {
			p := NewProxy(c, "connect", "/c", allow)
			d := p.decideConnect(Response{Status: status, Body: body}, nil)
			if d.Accept {
				if d.Answer.User != "" && !protocol.ValidName(d.Answer.User) {
					t.Fatalf("accepted an invalid user %q", d.Answer.User)
				}
				for _, r := range d.Answer.Join {
					if !protocol.ValidName(r) {
						t.Fatalf("accepted an invalid room %q", r)
					}
				}
				if d.Answer.Info != nil && !json.Valid(d.Answer.Info) {
					t.Fatalf("accepted invalid info %q", d.Answer.Info)
				}
			} else if d.Status < 400 || d.Status > 599 || d.Error == "" || http.StatusText(d.Status) == "" && d.Status >= 600 {
				t.Fatalf("refusal with status %d %q for %d %q", d.Status, d.Error, status, body)
			}
			if e := p.decideJoin(Response{Status: status, Body: body}, nil); e != nil {
				known := false
				for _, k := range protocol.Errors {
					known = known || k == e
				}
				if !known {
					t.Fatalf("join outcome %v is not in the error table", e)
				}
			}
		}
	})
}
