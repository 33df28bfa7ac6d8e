package protocol

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// scanSeeds are frames of every shape, with what the fast path leaves to
// encoding/json: escapes, non-ASCII, odd case in keys, duplicates, nulls,
// wrong types, depth, numbers and whitespace.
var scanSeeds = []string{
	`{"type":"join_room","room":"orders","id":1}`,
	`{"type":"leave_room","room":"orders","id":"a"}`,
	`{"type":"message","room":"r","data":{"a":[1,2,{"b":null}]},"id":"x"}`,
	`{"type":"message","user":"u","data":null,"id":-1.5e3}`,
	` { "type" : "message" , "room" : "r" , "data" : { "t" : 1 , "s" : [ true , false ] } } `,
	`{"TYPE":"message","Room":"r","DATA":"x"}`,
	`{"type":"message","room":"r","room":null,"data":1}`,
	`{"type":"message","room":null,"room":"r","data":1}`,
	`{"type":"message","type":"join_room","room":"r"}`,
	`{"type":"message","data":"\u00e9\n\"\\\/\b\f\r\t","id":"\ud83d\ude00"}`,
	`{"type":"message","data":"é ü 😀","room":"r"}`,
	`{"typ\u0065":"message","data":1}`,
	`{"type":"m\u0065ssage","data":1}`,
	`{"ty pe":"message","data":1}`,
	`{"uſer":"u","type":"message","data":1}`,
	`{"type":"message","room":"ré","data":1}`,
	`{"type":"message","room":"a b","data":1}`,
	`{"type":5,"id":1}`,
	`{"type":"message","room":["r"],"id":7}`,
	`{"type":"message","data":1,"id":null}`,
	`{"type":"message","data":1,"id":[1]}`,
	`{"type":"message","data":1,"id":true}`,
	`{"type":"message","data":01}`,
	`{"type":"message","data":1.}`,
	`{"type":"message","data":-}`,
	`{"type":"message","data":1e}`,
	`{"type":"message","data":1x}`,
	`{"type":"message","data":tru}`,
	`{"type":"message","data":"\x"}`,
	`{"type":"message","data":"\u12"}`,
	"{\"type\":\"message\",\"data\":\"a\x01b\"}",
	"{\"type\":\"message\",\"data\":\"\xff\xfe\"}",
	`{"type":"message","data":1}x`,
	`{"type":"message","data":1}  `,
	`{"type":"message","data":1,}`,
	`{"type":"message",,"data":1}`,
	`{"type":"message" "data":1}`,
	`{"type":"message","data":{"a":1,}}`,
	`{"type":"message","data":[1,]}`,
	`{"type":"message","data":{"a" 1}}`,
	`{}`, `{ }`, `null`, `[]`, `"x"`, `1`, ``, ` `, `{`, `}`, `{"type"`, `{"type":`, `{"type":"message"`,
	`{"type":"message","room":"r","user":"u","data":1}`,
	`{"type":"join_room"}`,
	`{"type":"nope","id":2}`,
	`{"id":3}`,
	`{"type":null,"id":4}`,
	`{"type":"message","room":"r"}`,
	`{"type":"refresh","token":"eyJhbGciOiJIUzI1NiJ9.e30.x","id":1}`,
	`{"type":"refresh","token":""}`, `{"type":"refresh","token":5}`, `{"type":"refresh","Token":"a\u0062"}`,
	`{"type":"join_room","room":"r","since":{"offset":5,"epoch":"e1"},"id":2}`,
	`{"type":"join_room","room":"r","since":{"offset":-1}}`, `{"type":"join_room","room":"r","since":null}`,
	`{"type":"join_room","room":"r","since":{"epoch":"e"}}`, `{"type":"join_room","room":"r","since":7}`,
	`{"type":"message","room":"message","data":1}`,
	`{"type":"message","data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"type":"message","data":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
	`{"type":"message","data":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"type":"message","data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"type":"message","data":` + strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999) + `}`,
	`{"type":"message","data":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`,
}

// FuzzDecodeFast holds the fast path to encoding/json's: for every input,
// Decode gives the same frame and the same error as decodeJSON.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	// The corpus of FuzzDecode too.
	if dir, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzDecode")); err == nil {
		for _, e := range dir {
			b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDecode", e.Name()))
			if err != nil {
				continue
			}
			if v, ok := corpusBytes(b); ok {
				f.Add(v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		got, gerr := Decode(b)
		want, werr := decodeJSON(in)
		if gerr != werr {
			t.Fatalf("Decode(%q): error %v, encoding/json %v", b, gerr, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %+v, encoding/json %+v", b, got, want)
		}
		// What Decode keeps is its own: b may be reused.
		if got != nil {
			for i := range b {
				b[i] = 'x'
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode(%q) kept a slice of its input", in)
			}
		}
	})
}

// corpusBytes reads the value of a "go test fuzz v1" corpus file with one
// []byte argument.
func corpusBytes(b []byte) ([]byte, bool) {
	lines := strings.SplitN(string(b), "\n", 2)
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		return nil, false
	}
	v := strings.TrimSpace(lines[1])
	v, ok := strings.CutPrefix(v, "[]byte(")
	if !ok || !strings.HasSuffix(v, ")") {
		return nil, false
	}
	s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
	return []byte(s), err == nil
}

// Every seed goes through the fast path or, where it must, not: the fast
// path is taken by the frames clients send.
func TestScanFrame_TakesClientFrames(t *testing.T) {
	for _, s := range []string{
		`{"type":"message","room":"chat-1","data":{"t":1733011200000000000,"s":5,"p":"xxxx"}}`,
		`{"type":"join_room","room":"orders","id":1}`,
		`{"type":"message","user":"bob","data":"héllo 😀","id":"a-1"}`,
		`{"type":"join_room","room":"orders","since":{"offset":41,"epoch":"e1"},"id":2}`,
	} {
		if !scanFrame([]byte(s), &rawFrame{}) {
			t.Errorf("scanFrame(%s) left it to encoding/json", s)
		}
	}
}

func TestDecode_MessageAllocs(t *testing.T) {
	b := []byte(`{"type":"message","room":"chat-1","data":{"t":1733011200000000000,"s":5,"p":"xxxx"}}`)
	if n := testing.AllocsPerRun(100, func() { _, _ = Decode(b) }); n > 4 {
		t.Fatalf("Decode of a message frame allocates %v times, want at most 4 (frame, names, room, data)", n)
	}
}
