package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func cmdPublish(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats-url", envOr("HUB_NATS_URL", nats.DefaultURL), "NATS server to publish to (env HUB_NATS_URL)")
	prefix := fs.String("subject-prefix", envOr("HUB_SUBJECT_PREFIX", "hub"), "hub subject prefix (env HUB_SUBJECT_PREFIX)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: hub publish [flags] TARGET [DATA]

Publishes DATA to connected clients through NATS, as a backend would. TARGET is
  broadcast        every connection
  room NAME        every member of room NAME
  user NAME        every connection of user NAME
  conn ID          one connection
DATA is JSON (delivered as is) or text (delivered as a JSON string); without
DATA, standard input is read.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	var subject string
	switch rest[0] {
	case "broadcast":
		subject, rest = "broadcast", rest[1:]
	case "room", "user", "conn":
		if len(rest) < 2 || !protocol.ValidName(rest[1]) {
			fmt.Fprintf(stderr, "hub publish: %s needs a valid name\n", rest[0])
			return 2
		}
		subject, rest = rest[0]+"."+rest[1], rest[2:]
	default:
		fmt.Fprintf(stderr, "hub publish: unknown target %q (broadcast, room NAME, user NAME or conn ID)\n", rest[0])
		return 2
	}
	var data []byte
	if len(rest) > 0 {
		data = []byte(strings.Join(rest, " "))
	} else {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintf(stderr, "hub publish: reading standard input: %v\n", err)
			return 1
		}
		data = bytes.TrimSpace(b)
	}
	nc, err := nats.Connect(*url, nats.Name("hub publish"), nats.Timeout(5*time.Second))
	if err != nil {
		fmt.Fprintf(stderr, "hub publish: cannot reach NATS at %s: %v\n", *url, err)
		return 1
	}
	defer nc.Close()
	full := *prefix + "." + subject
	if err := nc.Publish(full, data); err != nil {
		fmt.Fprintf(stderr, "hub publish: %v\n", err)
		return 1
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		fmt.Fprintf(stderr, "hub publish: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "published %d bytes to %s\n", len(data), full)
	return 0
}

func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("HUB_JWT_SECRET"), "HS256 secret, the hub's jwt_secret (env HUB_JWT_SECRET; default: from -config)")
	cfgFile := fs.String("config", os.Getenv("HUB_CONFIG"), "hub config file to read auth.jwt_secret from (env HUB_CONFIG)")
	user := fs.String("user", "", "the user (the token's sub); may also be given as the argument")
	rooms := fs.String("rooms", "", "comma-separated room patterns the token may join, e.g. \"chat.*,news\" (default: any room)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: hub token [flags] -user USER   (or: hub token [flags] USER)\n\nPrints a JWT (HS256) whose sub is USER, signed with the hub's configured secret,\nfor development and tests.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *user == "" && fs.NArg() == 1 {
		*user = fs.Arg(0)
	}
	if *user == "" || fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	if *secret == "" && *cfgFile != "" {
		cfg, err := config.LoadFile(*cfgFile)
		if err != nil {
			fmt.Fprintf(stderr, "hub token: %v\n", err)
			return 1
		}
		*secret = cfg.Auth.JWTSecret
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "hub token: a secret is required (-secret, HUB_JWT_SECRET, or -config with auth.jwt_secret)")
		return 2
	}
	var patterns []string
	if *rooms != "" {
		patterns = strings.Split(*rooms, ",")
	}
	tok, err := node.MintToken(*secret, *user, patterns, *ttl)
	if err != nil {
		fmt.Fprintf(stderr, "hub token: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

var durationType = reflect.TypeOf(time.Duration(0))

// readable turns a config into plain values for printing, with durations
// as "30s" rather than nanoseconds.
func readable(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				m[f.Name] = readable(v.Field(i))
			}
		}
		return m
	case v.Kind() == reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = readable(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "Usage: hub config check FILE\n\nChecks FILE and prints the settings it resolves to (secrets hidden).")
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	cfg, err := config.LoadFile(args[1])
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	b, _ := json.MarshalIndent(readable(reflect.ValueOf(*cfg.Redacted())), "", "  ")
	fmt.Fprintf(stdout, "%s: OK\n%s\n", args[1], b)
	return 0
}
