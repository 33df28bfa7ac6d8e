package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/hubrt/hub/bench"
)

// cmdBench is "hub bench": the load tool (see package bench). With -child it
// is one of the tool's own client processes, talking to its parent over
// standard input and output.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "-child" {
		return bench.RunChild(os.Stdin, os.Stdout)
	}
	fs := flag.NewFlagSet("hub bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	caseName := fs.String("case", "all", "idle, connect, burst, paced, sustained, compression, chat, cluster, history-burst, history-sustained, recovery, a comma-separated list, fanout (burst and paced), history (the three history cases; -spawn only) or all (idle, burst, paced, sustained, compression, chat, cluster)")
	fs.BoolVar(&cfg.Spawn, "spawn", false, "start the hubs to measure on 127.0.0.1 (free ports) and stop them at the end")
	urls := fs.String("url", "", "ws:// URL of a running hub; comma-separated, one per node, for the cluster case")
	natsURLs := fs.String("nats", "", "NATS URL to publish to (the first node's), comma-separated per node")
	metricsURLs := fs.String("metrics", "", "/metrics URL per hub, comma-separated; default http://<ws host>/metrics")
	pids := fs.String("pid", "", "PID per hub, comma-separated, to read CPU and RSS from /proc (same machine only)")
	fs.StringVar(&cfg.HubExe, "hub-bin", "", "hub executable for -spawn (default: this one)")
	hubArgs := fs.String("hub-args", "", "extra flags for spawned hubs, space-separated")
	fs.IntVar(&cfg.Conns, "conns", 0, "connections: idle and connect 15000; burst, paced, sustained and history room members 10000")
	fs.IntVar(&cfg.Rooms, "rooms", 0, "rooms the idle connections spread over (default 100)")
	fs.IntVar(&cfg.Messages, "messages", 0, "messages per burst and cluster run (default 200)")
	fs.IntVar(&cfg.Size, "size", 0, "payload bytes (default 128; at least 43)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "paced: messages per second (default 5)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "paced and sustained: how long (default 10s)")
	fs.Float64Var(&cfg.SustainedRate, "sustained-rate", 0, "sustained: messages per second (default 50)")
	fs.IntVar(&cfg.ClusterNodes, "nodes", 0, "cluster: nodes to spawn (default 3)")
	fs.IntVar(&cfg.ClusterConns, "cluster-conns", 0, "cluster: room members per node (default 3000)")
	fs.IntVar(&cfg.ChatConns, "chat-conns", 0, "chat: connections (default 10000)")
	fs.IntVar(&cfg.ChatRoomSize, "chat-room-size", 0, "chat: members per room (default 10)")
	fs.Float64Var(&cfg.ChatRate, "chat-rate", 0, "chat: messages per second per connection (default 1)")
	fs.DurationVar(&cfg.ChatDuration, "chat-duration", 0, "chat: how long every connection sends (default 20s)")
	fs.BoolVar(&cfg.NoFloor, "no-floor", false, "do not measure the floor server beside the hub")
	fs.IntVar(&cfg.HistoryNodes, "history-nodes", 0, "history-sustained: nodes, and the history's replicas (default 3)")
	fs.StringVar(&cfg.HistoryStorage, "history-storage", "", "history cases: the namespace's storage, file or memory (default file)")
	fs.IntVar(&cfg.RecoveryMessages, "recovery-messages", 0, "recovery: messages stored while the members are away (default 1000)")
	publish := fs.String("publish", "nats,http", "burst: publish through nats, http or both")
	fs.IntVar(&cfg.PerChild, "per-child", 0, "sockets per client process (default 15000)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "upgrades in flight per client process (default 128)")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 0, "new connections per second per client process (0: as fast as accepted)")
	fs.BoolVar(&cfg.BrowserHeaders, "browser-headers", false, "clients send a desktop Chrome's upgrade headers (~700 B with a cookie) in every case; idle then measures only those (default: idle measures both sets)")
	fs.StringVar(&cfg.LocalAddr, "local", "", `client source address (default 127.0.0.2 for a loopback hub; "any" for none)`)
	fs.StringVar(&cfg.SubjectPrefix, "subject-prefix", envOr("HUB_SUBJECT_PREFIX", "hub"), "hub NATS subject prefix")
	fs.StringVar(&cfg.APIKey, "api-key", os.Getenv("HUB_API_KEY"), "HTTP API bearer key (env HUB_API_KEY)")
	fs.DurationVar(&cfg.Quiet, "quiet", 0, "a delivery run ends this long after the last delivery; the rest is loss (default 5s)")
	fs.DurationVar(&cfg.Settle, "settle", 0, "idle: wait before reading RSS (default 2s)")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "every run together stops after this (default 5m, 15m with -runs > 1)")
	fs.IntVar(&cfg.Runs, "runs", 1, "run the cases this many times; the table shows medians and ranges")
	jsonOut := fs.Bool("json", false, "print one JSON object on standard output, the table on standard error")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: hub bench [flags]

Load-tests a hub with the cases of PERF.md and prints each figure beside its
target. Clients run in child processes (at most -per-child sockets each) and
dial from 127.0.0.2. With -spawn the hubs are started and stopped by the tool;
otherwise give -url (and -nats to publish through NATS).

  hub bench -spawn                         every case with PERF.md's sizes
  hub bench -spawn -case fanout -conns 2000 -messages 50
  hub bench -spawn -case history -runs 3    burst and sustained with history beside
                                           the same runs without, and the recovery storm
  hub bench -url ws://127.0.0.1:8080/ws -nats nats://127.0.0.1:4222 -case idle,burst

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *caseName != "all" {
		cfg.Cases = bench.ExpandCases(splitList(*caseName))
	}
	cfg.URLs, cfg.NATSURLs, cfg.MetricsURLs = splitList(*urls), splitList(*natsURLs), splitList(*metricsURLs)
	for _, p := range splitList(*pids) {
		n, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(stderr, "hub bench: -pid %q: not a number\n", p)
			return 2
		}
		cfg.PIDs = append(cfg.PIDs, n)
	}
	cfg.HubArgs = strings.Fields(*hubArgs)
	cfg.Publish = splitList(*publish)
	cfg.Members = cfg.Conns
	cfg.Stderr = stderr

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		if *jsonOut {
			_ = rep.WriteTable(stderr)
			b, _ := json.Marshal(rep)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			_ = rep.WriteTable(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "hub bench: %v\n", err)
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
