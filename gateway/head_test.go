package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// minimalHead is what a minimal client sends to open a WebSocket.
const minimalHead = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

// browserHead is what a desktop Chrome sends to open a WebSocket.
const browserHead = "GET /ws?token=abc&x=1 HTTP/1.1\r\n" +
	"Host: hub.example.com\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: https://app.example.com\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"

// sameRequest says how a Request parseHead made differs from net/http's, or
// "" when it does not in any field a handler reads.
func sameRequest(got, want *http.Request) string {
	switch {
	case got.Method != want.Method:
		return "Method " + got.Method + " want " + want.Method
	case *got.URL != *want.URL:
		return "URL " + got.URL.String() + " want " + want.URL.String()
	case got.Proto != want.Proto || got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor:
		return "Proto " + got.Proto
	case !reflect.DeepEqual(got.Header, want.Header):
		return "Header differs"
	case got.Host != want.Host:
		return "Host " + got.Host + " want " + want.Host
	case got.RequestURI != want.RequestURI:
		return "RequestURI " + got.RequestURI + " want " + want.RequestURI
	case got.Close != want.Close || got.ContentLength != want.ContentLength || len(want.TransferEncoding) > 0 || want.Trailer != nil:
		return "body or Close"
	case got.Body != want.Body:
		return "Body"
	}
	return ""
}

func readRequest(t testing.TB, head string) (*http.Request, error) {
	t.Helper()
	return http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
}

func TestParseHead_AsNetHTTP(t *testing.T) {
	for _, head := range []string{
		minimalHead,
		browserHead,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws? HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws?a=%20b&c HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET //double/slash HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a/./b/../c;p=1$&+,=:@~_ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws HTTP/1.1\r\nhost: x\r\nx-trace:  a b \t\r\nX-TRACE: c\r\nEmpty:\r\nsec-websocket-key: k\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX-1a-2B: v\r\n\r\n",
	} {
		got, ok := parseHead([]byte(head))
		if !ok {
			t.Errorf("parseHead refused %q", head)
			continue
		}
		want, err := readRequest(t, head)
		if err != nil {
			t.Fatalf("net/http: %v", err)
		}
		if d := sameRequest(got, want); d != "" {
			t.Errorf("%q: %s\ngot  %v\nwant %v", head, d, got.Header, want.Header)
		}
	}
}

// What parseHead leaves to net/http: anything that is not a plain GET of a
// path with a head of clean lines and no body.
func TestParseHead_LeavesTheRestToNetHTTP(t *testing.T) {
	for _, head := range []string{
		"POST /ws HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws HTTP/1.0\r\nHost: x\r\n\r\n",
		"GET http://x/ws HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /w%73 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws#f HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws/{x} HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws/it's HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws HTTP/1.1\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\nX: a\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nX_Y: a\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: a\r\n", 101) + "\r\n",
	} {
		if _, ok := parseHead([]byte(head)); ok {
			t.Errorf("parseHead took %q", head)
		}
	}
}

// A request parseHead takes is the one net/http makes of the same bytes.
//
//	go test -fuzz FuzzParseHead ./gateway
func FuzzParseHead(f *testing.F) {
	for _, seed := range []string{
		minimalHead, browserHead,
		"GET /ws?a=%20b&c HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws/{x}/[y] HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a/./b/../c;p=1!$&'()*+,=:@~ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ws HTTP/1.1\r\nhost: x\r\nx-trace:  a b \t\r\nX-TRACE: c\r\nEmpty:\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\nConnection: Upgrade, keep-alive\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := parseHead(in)
		if !ok {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			t.Fatalf("parseHead took %q, net/http refuses it: %v", in, err)
		}
		if d := sameRequest(got, want); d != "" {
			t.Fatalf("%q: %s\ngot  %#v\nwant %#v", in, d, got.Header, want.Header)
		}
	})
}

func BenchmarkParseHead(b *testing.B) {
	for _, tc := range []struct{ name, head string }{{"minimal", minimalHead}, {"browser", browserHead}} {
		b.Run(tc.name+"/parseHead", func(b *testing.B) {
			in := []byte(tc.head)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := parseHead(in); !ok {
					b.Fatal("refused")
				}
			}
		})
		b.Run(tc.name+"/net-http", func(b *testing.B) {
			in := []byte(tc.head)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
