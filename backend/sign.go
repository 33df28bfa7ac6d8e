package backend

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Headers of every request the hub sends a backend.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
	SignatureHeader = "Hub-Signature"
	// EventIDHeader carries the id of a webhook event (for a batch, the ids
	// of its events in array order, comma-separated). A retry carries the
	// same ids, so a backend de-duplicates by them.
	EventIDHeader = "Hub-Event-Id"
	// EventHeader names what the request is: connect, join, message, or the
	// event of a webhook ("disconnect", ...; "batch" for an array).
	EventHeader = "Hub-Event"
)

// DefaultTolerance is how far from now a signature's time may be for
// Verify to accept it.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Hub-Signature value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	b := make([]byte, 0, 80)
	b = append(b, "t="...)
	b = append(b, ts...)
	b = append(b, ",v1="...)
	return string(hex.AppendEncode(b, mac(secret, ts, body)))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Hub-Signature value against body: the HMAC must match and
// its time must be within tolerance of now (0 means DefaultTolerance). A
// backend written in Go can use it as it is.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if s, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStaleSignature
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrBadSignature
}
