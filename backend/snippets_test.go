package backend

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

// verify is the README's Go snippet; readmeGoSnippet holds its text.
func verify(secret []byte, header string, body []byte) bool {
	var ts, sig string
	fmt.Sscanf(strings.ReplaceAll(header, ",", " "), "t=%s v1=%s", &ts, &sig)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	want, _ := hex.DecodeString(sig)
	return hmac.Equal(m.Sum(nil), want)
}

const readmeGoSnippet = `func verify(secret []byte, header string, body []byte) bool {
	var ts, sig string
	fmt.Sscanf(strings.ReplaceAll(header, ",", " "), "t=%s v1=%s", &ts, &sig)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	want, _ := hex.DecodeString(sig)
	return hmac.Equal(m.Sum(nil), want)
}`

// readmeNodeSnippet is the README's Node snippet.
const readmeNodeSnippet = `const crypto = require("crypto");
function verify(secret, header, body) {
  const { t, v1 } = Object.fromEntries(header.split(",").map((p) => p.split("=")));
  const want = crypto.createHmac("sha256", secret).update(t + "." + body).digest("hex");
  return typeof v1 === "string" && v1.length === want.length && crypto.timingSafeEqual(Buffer.from(v1), Buffer.from(want));
}`

// The snippets tested here are the ones the README shows.
func TestSign_READMEShowsTheTestedSnippets(t *testing.T) {
	src, err := os.ReadFile("snippets_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "\n"+readmeGoSnippet+"\n") {
		t.Error("verify and readmeGoSnippet differ")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"Go": readmeGoSnippet, "Node": readmeNodeSnippet} {
		// The README indents nothing: the snippet is a code block as is.
		if !strings.Contains(string(readme), s) {
			t.Errorf("README.md does not show the tested %s snippet:\n%s", name, s)
		}
	}
}
