// Command hub runs a Hub node and the tools operators use at a terminal.
//
//	hub [flags]                      run a node (see hub -h)
//	hub version                      print the version
//	hub publish TARGET [DATA]        publish to clients through NATS
//	hub token [flags] USER           mint a JWT for a user (HS256)
//	hub config check [FILE] [-room R] validate the settings; -room: which namespace R falls in
//	hub bench [flags]                load-test a running hub
//	hub check [flags]                check a running hub end to end
//	hub peer list|remove NODE        the JetStream peers of a cluster with history
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/hubrt/hub/config"
	"github.com/hubrt/hub/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const commands = `
Commands:
  version               print the version and exit
  publish TARGET [DATA] publish DATA (or standard input) to clients through NATS;
                        TARGET is broadcast, room NAME, user NAME or conn ID
  token USER            mint a development JWT (HS256) for USER
  config check [FILE] [-room NAME]
                        check a config file and print the resolved settings
                        (and, with -room, the namespace NAME falls in)
  bench                 run the load tool against a running hub
  check                 check a running hub end to end (WebSocket + HTTP API)
  peer list             list the JetStream peers (history, clustered) and where
                        each history stream is kept
  peer remove NODE      remove NODE, gone for good after scaling down, from
                        JetStream (refused while it is live, unless -force)
Run "hub COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	node.Version = version
	if len(args) > 0 {
		switch args[0] {
		case "version":
			if len(args) > 1 && isHelp(args[1]) {
				fmt.Fprintln(stdout, "Usage: hub version\n\nPrints the version of this binary.")
				return 0
			}
			fmt.Fprintf(stdout, "hub %s\n", version)
			return 0
		case "help":
			return serve([]string{"-h"}, stdout, stderr)
		case "publish":
			return cmdPublish(args[1:], stdout, stderr)
		case "token":
			return cmdToken(args[1:], stdout, stderr)
		case "config":
			return cmdConfig(args[1:], stdout, stderr)
		case "bench":
			return cmdBench(args[1:], stdout, stderr)
		case "check":
			return cmdCheck(args[1:], stdout, stderr)
		case "peer":
			return cmdPeer(args[1:], stdout, stderr)
		}
	}
	return serve(args, stdout, stderr)
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, fs, err := config.Load(args, os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, config.Usage(fs), commands)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hub: %v\n", err)
		if fs != nil && !strings.Contains(err.Error(), ":") {
			fmt.Fprintln(stderr, "Run hub -h for the flags.")
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub: unknown command %q\n%s", fs.Arg(0), commands)
		return 2
	}
	logger := newLogger(cfg, stderr)
	slog.SetDefault(logger)
	gogc := tuneGC()
	logger.Info("starting hub", "version", version, "node", cfg.Node.Name, "config", cfg.Source, "gogc", gogc)

	n, err := node.New(cfg, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := n.Start(ctx); err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	<-ctx.Done()
	stop()
	logger.Info("signal received; draining", "timeout", cfg.Node.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Node.ShutdownTimeout)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		logger.Error("shutdown incomplete", "err", err)
		return 1
	}
	return 0
}

// defaultGOGC is the collector's heap headroom, in percent, when GOGC is not
// set. A hub's live heap is mostly long-lived connection state and it
// allocates little per delivery (frames are encoded once and shared), so a
// smaller headroom than Go's 100 costs little CPU and keeps RSS near the
// live heap: measured with `hub bench -case idle`, 1.94 KiB per idle
// connection at 100, 1.47 at 50, 1.25 at 25 (BENCHMARKS.md).
const defaultGOGC = 25

// tuneGC applies defaultGOGC unless the environment sets GOGC, and returns
// the setting in force.
func tuneGC() string {
	if v, ok := os.LookupEnv("GOGC"); ok {
		return v
	}
	debug.SetGCPercent(defaultGOGC)
	return strconv.Itoa(defaultGOGC)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Node.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Node.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
