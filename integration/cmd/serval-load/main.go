// Command serval-load plays N agents typing real traces (the Go standard
// library's function bodies) against a running serval for a bounded time,
// over loopback, and reports latency percentiles, requests by status and
// the server's queue depth, RSS, goroutines and open fds over time.
//
//	serval-load --server http://127.0.0.1:8080 --token srv_... --agents 100 --duration 60s --out load.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/integration/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "serval-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serval-load", flag.ContinueOnError)
	server := fs.String("server", "", "serval's base URL (loopback only)")
	token := fs.String("token", os.Getenv("SERVAL_TOKEN"), "API token ($SERVAL_TOKEN)")
	agents := fs.Int("agents", 100, "agents typing at once")
	duration := fs.Duration("duration", 60*time.Second, "how long to play")
	traces := fs.Int("traces", 50, "traces to build from the Go standard library")
	seed := fs.Uint64("seed", 1, "trace seed")
	goroot := fs.String("goroot", runtime.GOROOT(), "Go tree whose src/ gives the traces")
	out := fs.String("out", "", "write the report (with every sample) as JSON here")
	every := fs.Duration("sample", time.Second, "metrics sampling period")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*server)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--server %q: want http://127.0.0.1:PORT", *server)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("--server must be a loopback address: this tool floods what it points at")
	}
	if *duration > time.Hour {
		return errors.New("--duration is bounded to 1h")
	}
	tr, err := bench.Build(bench.GoSource(*goroot), *seed, bench.TraceOptions{Count: *traces, MinBody: 80, MaxBody: 600, MaxFileBytes: 64 << 10, Typist: bench.DefaultTypist})
	if err != nil {
		return err
	}
	rep, err := load.Run(ctx, load.Config{URL: *server, Token: *token, Agents: *agents, Duration: *duration, Traces: tr, SampleEvery: *every})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Table())
	fmt.Fprintln(stdout, "  t(s)  queue  busy  in-flight  RSS(MB)  goroutines  fds")
	step := max(1, len(rep.Samples)/12)
	for i := 0; i < len(rep.Samples); i += step {
		s := rep.Samples[i]
		fmt.Fprintf(stdout, "%6.0f %6.0f %5.0f %10.0f %8.1f %11.0f %4.0f\n", s.AtSec, s.QueueDepth, s.SlotsBusy, s.InFlight, s.RSSMB, s.Goroutines, s.FDs)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(*out, b, 0o644)
	}
	return nil
}
