package gateway

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// parseHead parses the head of an ordinary WebSocket upgrade (a GET of an
// origin-form path, HTTP/1.1, one header per line, no body) into the
// Request http.ReadRequest would make of it; ok is false for anything else,
// which the caller then gives to http.ReadRequest. FuzzParseHead holds the
// two to the same result.
//
// Why not only http.ReadRequest: in the connect profile it allocated 2.6 KB
// per connection (a string per header value and canonical key, its readers,
// the URL), the largest share of the garbage a connection makes while it
// opens, which at GOGC=25 the GC pays for several times over. Here the head
// becomes one string and every key and value is a piece of it; the map and
// the values' slice are sized once.
//
// The strings of the Request share that one allocation: a Handler that
// keeps one for the connection's lifetime keeps the whole head, and should
// clone it (strings.Clone).
func parseHead(head []byte) (*http.Request, bool) {
	// The request line: "GET " target " HTTP/1.1\r\n".
	if len(head) < 16 || string(head[:5]) != "GET /" {
		return nil, false
	}
	eol := lineEnd(head)
	if eol < 0 || eol < 14 || string(head[eol-9:eol]) != " HTTP/1.1" {
		return nil, false
	}
	target := head[4 : eol-9]
	query := -1
	for i, c := range target {
		switch {
		case query >= 0:
			if c == '#' || c <= ' ' || c >= 0x7f {
				return nil, false
			}
		case c == '?':
			query = i
		case !pathByte(c):
			// A path net/url would give a RawPath (escapes, and bytes
			// it escapes), fragments, spaces, controls and non-ASCII are
			// net/http's to decide.
			return nil, false
		}
	}
	// Find the header lines, and check each on the way: a field name of
	// letters, digits and '-' right before its colon, a value without
	// controls (tab aside) or non-ASCII bytes, every line ended by CRLF.
	var lines [maxHeadLines]struct{ start, colon, end int32 }
	n := 0
	for p := eol + 2; ; {
		e := lineEnd(head[p:])
		if e < 0 {
			return nil, false // no empty line at the end
		}
		if e == 0 {
			if p+2 != len(head) {
				return nil, false // bytes after the head's end
			}
			break
		}
		colon := validLine(head[p : p+e])
		if colon <= 0 || n == maxHeadLines {
			return nil, false
		}
		lines[n] = struct{ start, colon, end int32 }{int32(p), int32(p + colon), int32(p + e)}
		n++
		p += e + 2
	}

	s := string(head)
	header := make(http.Header, n)
	values := make([]string, n)
	hosts := 0
	var buf [64]byte
	for _, l := range lines[:n] {
		key := canonicalKey(s[l.start:l.colon], head[l.start:l.colon], &buf)
		if key == "" {
			return nil, false
		}
		v := strings.Trim(s[l.colon+1:l.end], " \t") // as textproto trims a value
		switch key {
		case "Host":
			hosts++
		case "Content-Length", "Transfer-Encoding", "Trailer":
			return nil, false // a body, or a say in how to read one
		case "Connection":
			if hasClose(v) {
				return nil, false // Request.Close
			}
		}
		if vv, ok := header[key]; ok {
			header[key] = append(vv, v)
		} else {
			values[0] = v
			header[key] = values[:1:1]
			values = values[1:]
		}
	}
	if hosts != 1 {
		return nil, false
	}
	host := header["Host"][0]
	delete(header, "Host") // as http.ReadRequest does: it is Request.Host
	// As http.ReadRequest does (fixPragmaCacheControl).
	if hp := header["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := header["Cache-Control"]; !ok {
			header["Cache-Control"] = []string{"no-cache"}
		}
	}
	uri := s[4 : eol-9]
	u := &url.URL{Path: uri}
	if query >= 0 {
		u.Path, u.RawQuery = uri[:query], uri[query+1:]
		u.ForceQuery = u.RawQuery == ""
	}
	return &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: uri,
	}, true
}

// pathByte reports whether net/url keeps c as it is in a path: an
// unreserved character or a reserved one it does not escape there.
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return true
	}
	return false
}

// maxHeadLines bounds the header lines parseHead takes.
const maxHeadLines = 100

// lineEnd returns the index of the CRLF that ends the line at b's start,
// -1 when there is none or the line ends with a bare LF. (A bare CR within
// a line is a control byte, which validLine and the target check refuse.)
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return -1
	}
	return i - 1
}

// keyByte and valueByte are the bytes parseHead takes in a field name and
// in a value.
var keyByte, valueByte = func() (k, v [256]bool) {
	for c := range 256 {
		k[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
		v[c] = c >= ' ' && c < 0x7f || c == '\t'
	}
	return k, v
}()

// validLine returns the index of a header line's colon when parseHead takes
// the line, else 0 or -1.
func validLine(l []byte) int {
	colon := -1
	for i, c := range l {
		if !keyByte[c] {
			if c == ':' {
				colon = i
			}
			break
		}
	}
	if colon <= 0 {
		return colon
	}
	for _, c := range l[colon+1:] {
		if !valueByte[c] {
			return -1
		}
	}
	return colon
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey of a key of letters,
// digits and '-': raw itself when it is canonical already, else a common
// header's name, else a new string.
func canonicalKey(raw string, b []byte, buf *[64]byte) string {
	if len(b) > len(buf) {
		return ""
	}
	upper, same := true, true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
		same = same && c == b[i]
		upper = c == '-'
	}
	if same {
		return raw
	}
	if k, ok := commonKeys[string(buf[:len(b)])]; ok {
		return k
	}
	return string(buf[:len(b)])
}

// commonKeys are the canonical names of the headers browsers and clients
// send with an upgrade, kept once.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Cookie", "Host", "Origin", "Pragma", "Upgrade", "User-Agent",
		"Sec-Websocket-Extensions", "Sec-Websocket-Key", "Sec-Websocket-Protocol",
		"Sec-Websocket-Version", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-Ip",
	} {
		m[k] = k
	}
	return m
}()

// hasClose reports whether a Connection value may hold the token "close".
func hasClose(v string) bool {
	for i := 0; i+5 <= len(v); i++ {
		if strings.EqualFold(v[i:i+5], "close") {
			return true
		}
	}
	return false
}
