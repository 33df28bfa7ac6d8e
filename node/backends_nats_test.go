package node_test

import (
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/nats-io/nats.go"
)

type natsMsg = nats.Msg

func newHTTPServer(h http.HandlerFunc) *httptest.Server { return httptest.NewServer(h) }

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
