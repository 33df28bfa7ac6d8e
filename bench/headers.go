package bench

import "strings"

// upgradeRequest is the WebSocket upgrade request a client sends: the
// minimal one (Host, Upgrade, Connection, key, version), or with browser
// set the one a desktop Chrome sends from a page of the hub's own origin,
// about 700 bytes with its cookie. Every connection of a run sends the same
// headers but its key; the hub keeps them (but the cookie and the key) for
// the connection's events, so the browser set is what its memory per
// connection is judged with. deflate adds a permessage-deflate offer to the
// minimal set (the browser set always has one).
func upgradeRequest(path, host, key string, browser, deflate bool) []byte {
	var b strings.Builder
	b.Grow(800)
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	if !browser {
		b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
			"\r\nSec-WebSocket-Version: 13\r\n")
		if deflate {
			b.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
		}
		b.WriteString("\r\n")
		return []byte(b.String())
	}
	// Chrome's order and values (Chrome 131 on Windows, a page on the hub's
	// own origin with a consent, an analytics and a session cookie).
	b.WriteString("Connection: Upgrade\r\n" +
		"Pragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\n" +
		"User-Agent: " + browserUserAgent + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Origin: http://" + host + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-US,en;q=0.9,de;q=0.8,fr;q=0.7\r\n" +
		"Cookie: " + browserCookie + "\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
	return []byte(b.String())
}

const (
	browserUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	browserCookie    = "cookieconsent_status=dismiss; _ga=GA1.1.1732904417.1733011200; _ga_7RJ2K4N5QX=GS1.1.1733011200.1.1.1733011305.0.0.0; " +
		"theme=dark; hub_session=s%3AQm9iIGlzIGxvZ2dlZCBpbg.v8Fq3xJtWzK9pL2mN7rT4yH6bC1dE5gA0sU"
)
