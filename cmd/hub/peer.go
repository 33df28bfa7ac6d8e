package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hubrt/hub/node"
	"github.com/hubrt/hub/protocol"
)

// cmdPeer is `hub peer list` and `hub peer remove NODE`: the JetStream
// peers of a clustered deployment with history, through a running node's
// admin API (GET /api/history/cluster, DELETE /api/history/peers/{node}).
func cmdPeer(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprint(stderr, `Usage: hub peer list [flags]
       hub peer remove [flags] NODE

The JetStream peers of a cluster with history (the embedded NATS, clustered).
JetStream counts every node that ever joined in its quorums until it is
removed for good; after scaling down, remove each node that is gone.

  list           the meta group's peers (leader, current, offline, whether
                 gossip lists them) and where each history stream is kept
  remove NODE    remove NODE, gone for good, from the meta group: JetStream
                 stops counting it and moves its stream replicas to other
                 nodes where there are enough. Refused while NODE is still a
                 live member (unless -force), for an unknown NODE, with
                 history off, JetStream standalone, or an external NATS.

Run "hub peer list -h" or "hub peer remove -h" for the flags.
`)
	}
	if len(args) == 0 || isHelp(args[0]) {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	if sub != "list" && sub != "remove" {
		fmt.Fprintf(stderr, "hub peer: unknown command %q (list or remove)\n", sub)
		return 2
	}
	fs := flag.NewFlagSet("hub peer "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("HUB_URL", "http://127.0.0.1:8080"), "the HTTP address of any live node (env HUB_URL)")
	token := fs.String("admin-token", os.Getenv("HUB_ADMIN_TOKEN"), "admin token (env HUB_ADMIN_TOKEN); else -api-key")
	apiKey := fs.String("api-key", os.Getenv("HUB_API_KEY"), "HTTP API bearer key (env HUB_API_KEY)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole command (remove waits until the meta group no longer lists NODE)")
	var force *bool
	if sub == "remove" {
		force = fs.Bool("force", false, "remove NODE even though it is still live (gossip lists it, or JetStream heard from it within 5s): it loses its JetStream state")
	}
	fs.Usage = func() {
		if sub == "list" {
			fmt.Fprint(stderr, "Usage: hub peer list [flags]\n\nLists the JetStream meta group and where each history stream is kept.\n\nFlags:\n")
		} else {
			fmt.Fprint(stderr, "Usage: hub peer remove [flags] NODE\n\nRemoves NODE, gone for good, from the JetStream meta group. Exits 0 once\nthe meta group no longer lists it, 1 when refused or failed (the reason is\nprinted).\n\nFlags:\n")
		}
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	u, err := url.Parse(strings.TrimRight(*base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "hub peer: -url must be http(s)://host:port, got %q\n", *base)
		return 2
	}
	bearer := *token
	if bearer == "" {
		bearer = *apiKey
	}
	c := checker{base: u.String(), apiKey: bearer, out: stdout}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if sub == "list" {
		if fs.NArg() > 0 {
			fs.Usage()
			return 2
		}
		hc, err := c.historyCluster(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "hub peer list: %v\n", err)
			return 1
		}
		printHistoryCluster(stdout, hc)
		return 0
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	name := fs.Arg(0)
	if !protocol.ValidName(name) {
		fmt.Fprintf(stderr, "hub peer remove: invalid node name %q\n", name)
		return 2
	}
	path := "/api/history/peers/" + name
	if *force {
		path += "?force=true"
	}
	var status int
	var b []byte
	for {
		status, b, err = c.do(ctx, http.MethodDelete, path, "")
		if err != nil {
			fmt.Fprintf(stderr, "hub peer remove: %v\n", err)
			return 1
		}
		// 503: no meta leader answered (an election, say right after the
		// node that led the meta group stopped): try again.
		if status != http.StatusServiceUnavailable || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if status != http.StatusOK {
		fmt.Fprintf(stderr, "hub peer remove: %s\n", apiError(status, b))
		return 1
	}
	// The meta leader applies the removal through its log, then each
	// stream's group drops the peer: wait until both show, then say where
	// the streams are kept now.
	var last *node.HistoryCluster
	for {
		hc, err := c.historyCluster(ctx)
		if err == nil && hc.Error == "" && !hasPeer(hc, name) {
			last = hc
			if !inStreams(hc, name) {
				fmt.Fprintf(stdout, "removed %s from the JetStream meta group and its streams\n", name)
				printHistoryCluster(stdout, hc)
				return 0
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				fmt.Fprintf(stdout, "removed %s from the JetStream meta group; a stream still lists it after %v (JetStream moves it on; see hub peer list)\n", name, *timeout)
				printHistoryCluster(stdout, last)
				return 0
			}
			fmt.Fprintf(stderr, "hub peer remove: the removal of %s was accepted, but the meta group still lists it after %v (run hub peer list)\n", name, *timeout)
			return 1
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func inStreams(hc *node.HistoryCluster, name string) bool {
	for _, s := range hc.Streams {
		if s.Leader == name {
			return true
		}
		for _, f := range s.Followers {
			if f.Name == name {
				return true
			}
		}
	}
	return false
}

func hasPeer(hc *node.HistoryCluster, name string) bool {
	for _, p := range hc.Peers {
		if p.Name == name {
			return true
		}
	}
	return false
}

// apiError is the text of an API error answer.
func apiError(status int, b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		if status == http.StatusUnauthorized {
			return e.Error + " (-admin-token, HUB_ADMIN_TOKEN, or -api-key, HUB_API_KEY)"
		}
		return e.Error
	}
	return fmt.Sprintf("%d %s", status, b)
}

func (c checker) historyCluster(ctx context.Context) (*node.HistoryCluster, error) {
	status, b, err := c.do(ctx, http.MethodGet, "/api/history/cluster", "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s", apiError(status, b))
	}
	var hc node.HistoryCluster
	if err := json.Unmarshal(b, &hc); err != nil {
		return nil, fmt.Errorf("GET /api/history/cluster: %w", err)
	}
	return &hc, nil
}

func printHistoryCluster(w io.Writer, hc *node.HistoryCluster) {
	switch hc.JetStream {
	case "off":
		fmt.Fprintf(w, "history is off on %s: no JetStream\n", hc.Node)
		return
	case "external":
		fmt.Fprintf(w, "%s uses an external NATS: its JetStream peers are that cluster's (nats server list)\n", hc.Node)
	case "standalone":
		fmt.Fprintf(w, "JetStream runs standalone on %s: no peers\n", hc.Node)
	default:
		if hc.Error != "" {
			fmt.Fprintf(w, "JetStream meta group unavailable (asked %s): %s\n", hc.Node, hc.Error)
		} else {
			fmt.Fprintf(w, "JetStream meta group: %d peers, leader %s (asked %s)\n", len(hc.Peers), hc.MetaLeader, hc.Node)
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tSTATE\tGOSSIP\tLAST HEARD")
			for _, p := range hc.Peers {
				state := "current"
				switch {
				case p.Leader:
					state = "leader"
				case p.Offline:
					state = "offline"
				case !p.Current:
					state = "behind"
				}
				g := "gone"
				if p.Gossip {
					g = "alive"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\n", p.Name, state, g, p.SeenAgo)
			}
			tw.Flush()
		}
	}
	if len(hc.Streams) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tNAMESPACE\tREPLICAS\tKEPT ON")
	for _, s := range hc.Streams {
		if s.Err != "" {
			fmt.Fprintf(tw, "%s\t%s\t?\t%s\n", s.Stream, s.Namespace, s.Err)
			continue
		}
		on := []string{}
		if s.Leader != "" {
			on = append(on, s.Leader+" (leader)")
		} else {
			on = append(on, "no leader")
		}
		for _, f := range s.Followers {
			switch {
			case f.Offline:
				on = append(on, f.Name+" (offline)")
			case !f.Current:
				on = append(on, f.Name+" (behind)")
			default:
				on = append(on, f.Name)
			}
		}
		kept := strings.Join(on, ", ")
		if held := len(s.Followers) + 1; s.Leader != "" && held < s.Replicas {
			kept += fmt.Sprintf("  (%d of %d: a replica short until a node joins)", held, s.Replicas)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Stream, s.Namespace, s.Replicas, kept)
	}
	tw.Flush()
}
