package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubrt/hub/cluster"
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
	secretFile := fs.String("cluster-secret-file", os.Getenv("HUB_CLUSTER_SECRET_FILE"), "the cluster's secret file: sign in on the node's embedded NATS as the hub (env HUB_CLUSTER_SECRET_FILE, or the secret itself in HUB_CLUSTER_SECRET); not needed when the URL carries a backend user")
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
	opts := []nats.Option{nats.Name("hub publish"), nats.Timeout(5 * time.Second)}
	if !strings.Contains(*url, "@") {
		c := config.Default()
		c.Cluster.Secret, c.Cluster.SecretFile = os.Getenv("HUB_CLUSTER_SECRET"), *secretFile
		if *secretFile != "" {
			c.Cluster.Secret = ""
		}
		secret, err := node.LoadSecret(c)
		if err != nil {
			fmt.Fprintf(stderr, "hub publish: %v\n", err)
			return 2
		}
		if secret != nil {
			opts = append(opts, nats.UserInfo(cluster.HubUser, secret.HubPassword()))
		}
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "hub publish: cannot reach NATS at %s: %v\n", *url, err)
		return 1
	}
	defer nc.Close()
	full := *prefix + "." + subject
	if strings.HasPrefix(subject, "room.") {
		// A room with history (SPEC §10) is stored first: a JetStream
		// publish, whose acknowledgement carries the offset.
		js, err := jetstream.New(nc)
		if err != nil {
			fmt.Fprintf(stderr, "hub publish: %v\n", err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = js.StreamNameBySubject(ctx, full)
		switch {
		case err == nil:
			ack, err := js.Publish(ctx, full, data)
			if err != nil {
				fmt.Fprintf(stderr, "hub publish: not stored, not delivered (history unavailable): %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "stored %d bytes in %s at offset %d\n", len(data), full, ack.Sequence)
			return 0
		case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount), errors.Is(err, nats.ErrNoResponders):
			// No history for this room: a plain publish.
		default:
			fmt.Fprintf(stderr, "hub publish: cannot tell whether room %s keeps history (JetStream did not answer): %v\n", rest0(subject), err)
			return 1
		}
	}
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

func rest0(subject string) string { return strings.TrimPrefix(subject, "room.") }

func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("HUB_JWT_SECRET"), "HS256 secret, the hub's jwt_secret (env HUB_JWT_SECRET; default: from -config)")
	cfgFile := fs.String("config", os.Getenv("HUB_CONFIG"), "hub config file to read auth.jwt_secret from (env HUB_CONFIG)")
	user := fs.String("user", "", "the user (the token's sub); may also be given as the argument")
	rooms := fs.String("rooms", "", "comma-separated room patterns the token may join (\"*\" one dot-separated token, \">\" the rest), e.g. \"chat.>,news\" (default: any room)")
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
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return readable(v.Elem())
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

const configUsage = `Usage: hub config check [FILE] [-room NAME] [hub flags]

Resolves the settings exactly as "hub" would start with them (defaults < FILE,
-config or HUB_CONFIG < HUB_* environment variables < flags), checks them and
prints them as JSON with secrets hidden, then where each setting that is not a
default came from. Exits 0 when they are valid, 1 with every problem when not.

FILE is a shortcut for -config FILE. The flags are hub's own (hub -h lists
them), so the settings a pod really runs with can be checked in the pod:
  hub config check hub.hcl -port 9000
  HUB_PORT=9000 hub config check -config hub.hcl
  hub config check                  (HUB_CONFIG, HUB_* variables and defaults)

-room NAME also prints which namespace the room NAME falls in:
  hub config check hub.hcl -room chat.lobby
`

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) == 1 && isHelp(args[0]) {
			fmt.Fprint(stdout, configUsage)
			return 0
		}
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	rest := args[1:]
	for _, a := range rest {
		if isHelp(a) {
			fmt.Fprint(stdout, configUsage)
			return 0
		}
	}
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		rest = append([]string{"-config", rest[0]}, rest[1:]...)
	}
	rest, room, ok := cutRoomFlag(rest)
	if !ok {
		fmt.Fprintf(stderr, "hub config check: -room needs a room name\n%s", configUsage)
		return 2
	}
	cfg, fs, err := config.Load(rest, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		if e := err.Error(); strings.HasPrefix(e, "flag provided but not defined") || strings.HasPrefix(e, "invalid value") {
			fmt.Fprintln(stderr, "Run hub config check -h for the usage.")
			return 2
		}
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub config check: unexpected argument %q\n%s", fs.Arg(0), configUsage)
		return 2
	}
	src := cfg.Source
	if src == "" {
		src = "defaults and environment"
	}
	b, _ := json.MarshalIndent(readable(reflect.ValueOf(*cfg.Redacted())), "", "  ")
	fmt.Fprintf(stdout, "%s: OK\n%s\n", src, b)
	if o := cfg.Origins(); len(o) > 0 {
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(stdout, "set by:")
		for _, k := range keys {
			fmt.Fprintf(stdout, "  %-28s %s\n", k, o[k])
		}
	}
	if room != "" {
		if !protocol.ValidName(room) {
			fmt.Fprintf(stderr, "room %q is not a valid room name\n", room)
			return 1
		}
		set, err := cfg.NamespaceSet()
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		if ns, ok := set.Lookup(room); ok {
			fmt.Fprintf(stdout, "room %q: namespace %q (%s)\n", room, ns.Name, ns.Pos)
		} else {
			fmt.Fprintf(stdout, "room %q: no namespace (node defaults: no history, no presence)\n", room)
		}
	}
	return 0
}

// cutRoomFlag takes "-room NAME" or "-room=NAME" (one or two dashes) out of
// args; ok is false when -room has no value.
func cutRoomFlag(args []string) (rest []string, room string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "room" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, "", false
			}
			i++
			val = args[i]
		}
		if val == "" {
			return nil, "", false
		}
		room = val
	}
	return rest, room, true
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }
