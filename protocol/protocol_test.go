package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	good := []string{"orders", "a", "a.b", "user@example.com", "x:y-z_1", strings.Repeat("a", 128)}
	bad := []string{"", ".a", "a.", "a..b", "a b", "a*", "a>", "é", strings.Repeat("a", 129), "a/b"}
	for _, s := range good {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true, want false", s)
		}
	}
	if ValidToken("a.b") || !ValidToken("abc") {
		t.Error("ValidToken")
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		in      string
		want    Frame
		wantErr *Error
		wantID  string
	}{
		{in: `{"type":"join_room","room":"orders"}`, want: Frame{Type: TypeJoinRoom, Room: "orders"}},
		{in: `{"type":"join_room","room":"c","since":{"offset":41,"epoch":"lq2x8a"}}`, want: Frame{Type: TypeJoinRoom, Room: "c", Since: &Since{Offset: 41, Epoch: "lq2x8a"}}},
		{in: `{"type":"join_room","room":"c","since":{"offset":0}}`, want: Frame{Type: TypeJoinRoom, Room: "c", Since: &Since{}}},
		{in: `{"type":"join_room","room":"c","since":null}`, want: Frame{Type: TypeJoinRoom, Room: "c"}},
		{in: `{"type":"join_room","room":"c","since":{"epoch":"x"},"id":3}`, wantErr: ErrInvalidSince, wantID: "3"},
		{in: `{"type":"join_room","room":"c","since":{"offset":-1}}`, wantErr: ErrInvalidSince},
		{in: `{"type":"join_room","room":"c","since":7}`, wantErr: ErrInvalidSince},
		{in: `{"type":"leave_room","room":"orders","id":7}`, want: Frame{Type: TypeLeaveRoom, Room: "orders", ID: []byte("7")}},
		{in: `{"type":"message","data":{"a": 1}}`, want: Frame{Type: TypeMessage, Data: []byte(`{"a":1}`)}},
		{in: `{"type":"message","room":"r","data":"x","id":"q"}`, want: Frame{Type: TypeMessage, Room: "r", Data: []byte(`"x"`), ID: []byte(`"q"`)}},
		{in: `{"type":"message","user":"bob","data":null}`, want: Frame{Type: TypeMessage, User: "bob", Data: []byte(`null`)}},
		{in: `not json`, wantErr: ErrInvalidJSON},
		{in: `[1,2]`, wantErr: ErrInvalidJSON},
		{in: `{"type":"dance","id":1}`, wantErr: ErrUnknownType, wantID: "1"},
		{in: `{"room":"x","id":"a"}`, wantErr: ErrMissingType, wantID: `"a"`},
		{in: `{"type":"join_room"}`, wantErr: ErrMissingRoom},
		{in: `{"type":"message"}`, wantErr: ErrMissingData},
		{in: `{"type":"join_room","room":"a b","id":2}`, wantErr: ErrInvalidRoom, wantID: "2"},
		{in: `{"type":"message","user":"","data":1}`, wantErr: ErrInvalidUser},
		{in: `{"type":"message","id":{},"data":1}`, wantErr: ErrInvalidID},
		{in: `{"type":"message","id":true,"data":1}`, wantErr: ErrInvalidID},
		{in: `{"type":"message","room":"r","user":"u","data":1}`, wantErr: ErrRoomAndUser},
		{in: `{"type":5,"id":3}`, wantErr: ErrInvalidField, wantID: "3"},
		{in: `{"type":"join_room","room":5}`, wantErr: ErrInvalidField},
		{in: `{"type":"refresh","token":"a.b.c","id":9}`, want: Frame{Type: TypeRefresh, Token: "a.b.c", ID: []byte("9")}},
		{in: `{"type":"refresh","id":9}`, wantErr: ErrMissingToken, wantID: "9"},
		{in: `{"type":"refresh","token":""}`, wantErr: ErrMissingToken},
		{in: `{"type":"refresh","token":5}`, wantErr: ErrInvalidField},
	}
	for _, c := range cases {
		f, err := Decode([]byte(c.in))
		if c.wantErr != nil {
			if err != c.wantErr {
				t.Errorf("Decode(%s) err = %v, want %v", c.in, err, c.wantErr)
			}
			var id string
			if f != nil {
				id = string(f.ID)
			}
			if id != c.wantID {
				t.Errorf("Decode(%s) id = %q, want %q", c.in, id, c.wantID)
			}
			continue
		}
		if err != nil {
			t.Errorf("Decode(%s): %v", c.in, err)
			continue
		}
		if f.Type != c.want.Type || f.Room != c.want.Room || f.User != c.want.User || f.Token != c.want.Token ||
			!bytes.Equal(f.ID, c.want.ID) || !bytes.Equal(f.Data, c.want.Data) {
			t.Errorf("Decode(%s) = %+v, want %+v", c.in, f, c.want)
		}
		again, err := Decode(Encode(f))
		if err != nil || again.Type != f.Type || again.Room != f.Room || again.Token != f.Token || !bytes.Equal(again.Data, f.Data) {
			t.Errorf("round trip of %s: %+v %v", c.in, again, err)
		}
	}
}

func TestServerFrames(t *testing.T) {
	check := func(got []byte, want string) {
		t.Helper()
		if string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON: %s", got)
		}
	}
	check(EncodeMessage("", "", []byte(`{"a":1}`)), `{"type":"message","data":{"a":1}}`)
	check(EncodeMessage("orders", "", []byte(`1`)), `{"type":"message","room":"orders","data":1}`)
	check(EncodeMessage("", "alice", []byte(`"hi"`)), `{"type":"message","from":"alice","data":"hi"}`)
	check(EncodeAck([]byte(`"x"`)), `{"type":"ack","id":"x"}`)
	check(EncodeError(nil, ErrInvalidJSON), `{"type":"error","code":100,"message":"invalid JSON"}`)
	check(EncodeJoined("feed.alice"), `{"type":"joined","room":"feed.alice","by":"server"}`)
	check(EncodeLeft("chat.x", LeftToken), `{"type":"left","room":"chat.x","by":"server","reason":"token"}`)
	check(EncodeRefreshRequired(1764583200), `{"type":"refresh_required","expires_at":1764583200}`)
	check(AppendStoredMessage(nil, "chat.lobby", "", 1042, []byte(`1`)), `{"type":"message","room":"chat.lobby","offset":1042,"data":1}`)
	check(AppendStoredMessage(nil, "r", "bob", 7, []byte(`"x"`)), `{"type":"message","room":"r","offset":7,"from":"bob","data":"x"}`)
	tr := true
	check(EncodeJoinAck([]byte("7"), &JoinAck{Room: "chat.lobby", Epoch: "lq2x8a", Offset: 1057, Recovered: &tr}),
		`{"type":"ack","id":7,"room":"chat.lobby","epoch":"lq2x8a","offset":1057,"recovered":true}`)
	check(EncodeJoinAck(nil, &JoinAck{Room: "r", Epoch: "e", Offset: 0}), `{"type":"ack","room":"r","epoch":"e","offset":0}`)
	check(EncodeAckOffset([]byte(`"m"`), 5), `{"type":"ack","id":"m","offset":5}`)
	check(EncodeResync("chat.lobby"), `{"type":"resync","room":"chat.lobby"}`)
	check(EncodeError([]byte("4"), ErrNotJoined), `{"type":"error","id":4,"code":109,"message":"not a member of this room"}`)
}

func TestData(t *testing.T) {
	cases := map[string]string{
		`{"a": 1}`:  `{"a":1}`,
		` 42 `:      `42`,
		`hello`:     `"hello"`,
		"":          `""`,
		"\xff\x00a": "\"\ufffd\\u0000a\"",
	}
	for in, want := range cases {
		if got := string(Data([]byte(in))); got != want {
			t.Errorf("Data(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\s", "\n\r\t\x01", "<>&", "\u2028\u2029", "ünï", "bad\xffutf8"} {
		got := AppendString(nil, s)
		want, _ := json.Marshal(s)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestEvent(t *testing.T) {
	meta := EncodeMeta(&ConnMeta{
		ConnectionID: "n1.7", User: "alice", Node: "n1", Peer: "10.0.0.1, 127.0.0.1",
		Method: "GET", Path: "/ws/acme", Params: map[string]string{"tenant": "acme"},
		Query:   map[string][]string{"a": {"1", "2"}},
		Headers: map[string][]string{"X-Trace": {"t\"1"}},
	})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	b := AppendEvent(nil, EventMessage, ts, meta, &EventExtra{Message: []byte(`{"x":1}`), Room: "r", ToUser: "bob"})
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if e.Event != "message" || !e.Time.Equal(ts) || e.ConnectionID != "n1.7" || e.User != "alice" ||
		e.Node != "n1" || e.Peer != "10.0.0.1, 127.0.0.1" || e.Method != "GET" || e.Path != "/ws/acme" ||
		e.Params["tenant"] != "acme" || len(e.Query["a"]) != 2 || e.Headers["X-Trace"][0] != "t\"1" ||
		string(e.Message) != `{"x":1}` || e.Room != "r" || e.ToUser != "bob" || e.Reason != "" {
		t.Errorf("decoded %+v from %s", e, b)
	}
	if !strings.Contains(string(b), `"time":"2026-01-02T03:04:05.000000006Z"`) {
		t.Errorf("time not RFC 3339 with nanoseconds: %s", b)
	}
	b = AppendEvent(nil, EventDisconnect, ts, EncodeMeta(&ConnMeta{}), &EventExtra{Reason: "timeout"})
	e = Event{}
	if err := json.Unmarshal(b, &e); err != nil || e.Reason != "timeout" || e.Params == nil || e.Query == nil || e.Headers == nil {
		t.Errorf("disconnect %s: %+v %v", b, e, err)
	}
}

func TestDecodeReply(t *testing.T) {
	cases := []struct {
		in   string
		body string
		end  bool
	}{
		{`{"body":{"ok":true},"end":false}`, `{"ok":true}`, false},
		{`{"body":"bye","end":true}`, `"bye"`, true},
		{`{"end":true}`, ``, true},
		{`{"other":1}`, `{"other":1}`, false},
		{`pong`, `"pong"`, false},
	}
	for _, c := range cases {
		r := DecodeReply([]byte(c.in))
		if string(r.Body) != c.body || r.End != c.end {
			t.Errorf("DecodeReply(%s) = %s %v, want %s %v", c.in, r.Body, r.End, c.body, c.end)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"join_room","room":"orders"}`, `{"type":"message","room":"r","data":{"a":[1,2]},"id":"x"}`,
		`{"type":"message","user":"u","data":null,"id":1}`, `{`, `[]`, `{"type":1}`,
		`{"type":"join_room","room":"c","id":7,"since":{"offset":1041,"epoch":"lq2x8a"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not from the table", err)
			}
			if fr != nil && fr.ID != nil && !json.Valid(EncodeError(fr.ID, ErrInternal)) {
				t.Fatalf("error frame for %q is invalid JSON", b)
			}
			return
		}
		if fr.Room != "" && !ValidName(fr.Room) || fr.User != "" && !ValidName(fr.User) {
			t.Fatalf("invalid name accepted: %+v", fr)
		}
		out := EncodeMessage(fr.Room, fr.User, fr.Data)
		if fr.Type == TypeMessage && !json.Valid(out) {
			t.Fatalf("message frame for %q is invalid JSON: %s", b, out)
		}
		again, err := Decode(Encode(fr))
		if err != nil || again.Type != fr.Type || again.Room != fr.Room || again.User != fr.User || !bytes.Equal(again.Data, fr.Data) {
			t.Fatalf("round trip of %q: %+v %v", b, again, err)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"body":1,"end":true}`))
	f.Add([]byte(`x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := DecodeReply(b)
		if r.Body != nil && !json.Valid(r.Body) {
			t.Fatalf("body of %q is invalid JSON: %s", b, r.Body)
		}
	})
}

// BenchmarkDecodeMessage decodes a client message frame with Decode (the
// single pass) and with encoding/json (decodeJSON), in the same run.
func BenchmarkDecodeMessage(b *testing.B) {
	in := []byte(`{"type":"message","room":"orders","id":12,"data":{"text":"hello world","n":42}}`)
	for _, p := range []struct {
		name   string
		decode func([]byte) (*Frame, error)
	}{{"path=scan", Decode}, {"path=json", decodeJSON}} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeMessage(b *testing.B) {
	data := []byte(`{"text":"hello world","n":42}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = EncodeMessage("orders", "alice", data)
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"orders", "a.b", "user@example.com", "", ".", "a..b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidName(s) {
			return
		}
		if len(s) > MaxNameLen || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
			t.Fatalf("ValidName accepted %q", s)
		}
		// A valid name is a safe NATS subject suffix and needs no JSON escaping.
		if strings.ContainsAny(s, " *>\t\r\n\"\\") {
			t.Fatalf("ValidName accepted %q", s)
		}
		if got := string(AppendString(nil, s)); got != `"`+s+`"` {
			t.Fatalf("name %q needs escaping: %s", s, got)
		}
	})
}

func TestReconnectCode(t *testing.T) {
	tests := []struct {
		code int
		want bool
	}{
		{1000, false}, {1001, true}, {1006, true}, {1008, true}, {1009, true},
		{int(CloseReconnect), true}, {int(CloseTimeout), true}, {int(CloseTokenExpired), true},
		{int(CloseMaxAge), true}, {int(CloseSubChanged), true}, {4499, true},
		{int(CloseKicked), false}, {int(CloseConnectionLimit), false}, {4999, false}, {5000, true},
	}
	for _, tt := range tests {
		if got := ReconnectCode(tt.code); got != tt.want {
			t.Errorf("ReconnectCode(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}
