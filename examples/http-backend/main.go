// Command http-backend is a backend for the hub that speaks HTTP only
// (SPEC §12): the hub asks it whether each connection may open (the connect
// proxy), posts it each client message and sends its answer back to the
// sender (a message flow), and tells it of connects and disconnects (a
// webhook flow). Every request is signed; it checks the signature first.
//
//	printf dev-backend-key > /tmp/backend.key
//	go run ./examples/http-backend -listen 127.0.0.1:9000 -secret-file /tmp/backend.key
//	./bin/hub -dev -config examples/http-backend/hub.hcl
//
// Policy: a connection needs ?name=<name> (it becomes the user, joins
// "lobby" server-side, and its info says the name); "mallory" is refused
// with 403; a message {"text":"bye"} is answered and the connection closed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hubrt/hub/backend"
)

type options struct {
	Listen string    // host:port to listen on
	Secret []byte    // the key in the hub's secret_file
	Out    io.Writer // where to log; nil for nowhere
	Ready  func(addr string)
}

func main() {
	o := options{Out: os.Stdout}
	var secretFile string
	flag.StringVar(&o.Listen, "listen", "127.0.0.1:9000", "listen address")
	flag.StringVar(&secretFile, "secret-file", "", "file holding the key of the hub connector's secret_file")
	flag.Parse()
	key, err := os.ReadFile(secretFile)
	if err != nil {
		log.Fatalf("-secret-file: %v", err)
	}
	o.Secret = bytes.TrimRight(key, "\r\n")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

// event is the part of a hub event the backend reads.
type event struct {
	Event        string              `json:"event"`
	ConnectionID string              `json:"connection_id"`
	User         string              `json:"user"`
	Query        map[string][]string `json:"query"`
	Message      json.RawMessage     `json:"message"`
	Room         string              `json:"room"`
	Reason       string              `json:"reason"`
}

type server struct {
	o    options
	mu   sync.Mutex
	seen map[string]bool // webhook event ids already handled
}

func run(ctx context.Context, o options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	s := &server{o: o, seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect", s.signed(s.connect))
	mux.HandleFunc("POST /messages", s.signed(s.message))
	mux.HandleFunc("POST /events", s.signed(s.webhook))
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(o.Out, "http backend listening on http://%s\n", ln.Addr())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// signed checks the Hub-Signature of a request before handling it.
func (s *server) signed(h func(w http.ResponseWriter, r *http.Request, e *event)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := backend.Verify(s.o.Secret, r.Header.Get(backend.SignatureHeader), body, time.Now(), 0); err != nil {
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		if r.Header.Get(backend.EventHeader) == "webhook" && bytes.HasPrefix(body, []byte("[")) {
			s.batch(w, r, body)
			return
		}
		var e event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		h(w, r, &e)
	}
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// connect decides a connection: the connect proxy.
func (s *server) connect(w http.ResponseWriter, r *http.Request, e *event) {
	name := ""
	if v := e.Query["name"]; len(v) > 0 {
		name = v[0]
	}
	switch name {
	case "":
		fmt.Fprintf(s.o.Out, "refused a connection from %s: no name\n", e.Query)
		reply(w, http.StatusUnauthorized, map[string]string{"error": "name required"})
	case "mallory":
		fmt.Fprintf(s.o.Out, "refused mallory\n")
		reply(w, http.StatusForbidden, map[string]string{"error": "banned"})
	default:
		fmt.Fprintf(s.o.Out, "accepted %s\n", name)
		reply(w, http.StatusOK, map[string]any{
			"user": name,
			"info": map[string]string{"name": name},
			"join": []string{"lobby"},
		})
	}
}

// message answers a client message: the answer is the reply.
func (s *server) message(w http.ResponseWriter, r *http.Request, e *event) {
	if e.Room != "" {
		w.WriteHeader(http.StatusNoContent) // room chatter: no answer
		return
	}
	var m struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(e.Message, &m)
	fmt.Fprintf(s.o.Out, "message from %s: %s\n", e.User, e.Message)
	reply(w, http.StatusOK, map[string]any{
		"body": map[string]any{"echo": e.Message, "from": "backend"},
		"end":  m.Text == "bye",
	})
}

// webhook logs an event once, whatever the retries.
func (s *server) webhook(w http.ResponseWriter, r *http.Request, e *event) {
	s.logOnce(r.Header.Get(backend.EventIDHeader), e)
	w.WriteHeader(http.StatusNoContent)
}

// batch takes a JSON array of events (the connector's batch > 1).
func (s *server) batch(w http.ResponseWriter, r *http.Request, body []byte) {
	var evs []event
	if err := json.Unmarshal(body, &evs); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	ids := bytes.Split([]byte(r.Header.Get(backend.EventIDHeader)), []byte(","))
	for i := range evs {
		id := ""
		if i < len(ids) {
			id = string(ids[i])
		}
		s.logOnce(id, &evs[i])
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) logOnce(id string, e *event) {
	s.mu.Lock()
	dup := s.seen[id]
	s.seen[id] = true
	s.mu.Unlock()
	if dup {
		return
	}
	fmt.Fprintf(s.o.Out, "webhook %s: %s %s (user %q) %s\n", id, e.Event, e.ConnectionID, e.User, e.Reason)
}
