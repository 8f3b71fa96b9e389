// Command serval-bench plays an editor against LSP completion agents and
// reports what typing with each of them feels like and costs.
//
//	serval-bench --serval bin/serval --model model.gguf \
//	    --agent serval=bin/serval-agent \
//	    --agent 'tabby=node .cache/npm-tabby/node_modules/tabby-agent/dist/cli.js --lsp --stdio'
//
// or, against a server already running: --server URL --token TOKEN.
// Every agent talks to the server through the bench's counting proxy and
// replays the same seeded traces. Results go to --out (bench.json,
// bench.md, latency-cdf.svg) and the table and ratios to stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/servalhq/serval/integration/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serval-bench:", err)
		os.Exit(1)
	}
}

type agentFlags []bench.Agent

func (a *agentFlags) String() string { return fmt.Sprint(*a) }

func (a *agentFlags) Set(v string) error {
	name, command, ok := strings.Cut(v, "=")
	fields := strings.Fields(command)
	if !ok || name == "" || len(fields) == 0 {
		return fmt.Errorf("want NAME=COMMAND, got %q", v)
	}
	for _, prev := range *a {
		if prev.Name == name {
			return fmt.Errorf("agent %q given twice", name)
		}
	}
	*a = append(*a, bench.Agent{Name: name, Command: fields})
	return nil
}

type options struct {
	agents     agentFlags
	serverURL  string
	token      string
	servalBin  string
	model      string
	seed       uint64
	goTraces   int
	pyTraces   int
	goroot     string
	pythonDir  string
	minBody    int
	maxBody    int
	speed      float64
	settle     time.Duration
	out        string
	serveExtra string
	lspLog     bool
	oracle     bool
	oracleWait time.Duration
	oracleText bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("serval-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.agents, "agent", "NAME=COMMAND of an LSP agent speaking over stdio (repeat; the first is the baseline of the ratios)")
	fs.StringVar(&o.serverURL, "server", "", "base URL of a running server (else --serval and --model start one)")
	fs.StringVar(&o.token, "token", os.Getenv("SERVAL_TOKEN"), "token for --server")
	fs.StringVar(&o.servalBin, "serval", "", "serval binary to start for the run")
	fs.StringVar(&o.model, "model", "", "model file for --serval")
	fs.StringVar(&o.serveExtra, "serve-args", "", "extra arguments for `serval serve`")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the trace set and the typing model")
	fs.IntVar(&o.goTraces, "go-traces", 3, "functions retyped from the Go standard library")
	fs.IntVar(&o.pyTraces, "python-traces", 3, "functions retyped from the Python standard library")
	fs.StringVar(&o.goroot, "goroot", os.Getenv("GOROOT"), "Go root whose src/ gives Go traces (default: go env GOROOT)")
	fs.StringVar(&o.pythonDir, "python-dir", "", "Python standard library directory (default: newest /usr/lib/python3.*)")
	fs.IntVar(&o.minBody, "min-body", 60, "smallest function body to retype, bytes")
	fs.IntVar(&o.maxBody, "max-body", 160, "largest function body to retype, bytes")
	fs.Float64Var(&o.speed, "speed", 1, "typing speed factor (2 = delays halved)")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after each trace's last key")
	fs.StringVar(&o.out, "out", "integration/bench/out", "directory for bench.json, bench.md, latency-cdf.svg and _work/ (agent logs)")
	fs.BoolVar(&o.oracle, "oracle", false, "serve completions from a perfect model (the text typed next) instead of a real server: measures the agents alone")
	fs.DurationVar(&o.oracleWait, "oracle-delay", 50*time.Millisecond, "simulated model time per --oracle completion")
	fs.BoolVar(&o.oracleText, "oracle-text", false, "with --server or --serval: each completion waits for the real server's answer (its latency, queue and cancellations), then the oracle's text is shown instead of the model's (for models with random weights, whose text every agent's filters drop)")
	fs.BoolVar(&o.lspLog, "lsp-log", false, "log every LSP message to <out>/_work/<agent>/lsp.log")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(o.agents) == 0 {
		return nil, errors.New("no --agent given")
	}
	sources := 0
	for _, set := range []bool{o.serverURL != "", o.servalBin != "", o.oracle} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("give one of --server URL, --serval BIN with --model FILE, or --oracle")
	}
	if o.servalBin != "" && o.model == "" {
		return nil, errors.New("--serval needs --model")
	}
	if o.oracleText && o.oracle {
		return nil, errors.New("--oracle-text times the oracle by a real server: give it --server or --serval, not --oracle")
	}
	if o.goTraces < 0 || o.pyTraces < 0 || o.goTraces+o.pyTraces == 0 {
		return nil, errors.New("need at least one trace (--go-traces, --python-traces)")
	}
	if o.speed <= 0 {
		return nil, errors.New("--speed must be positive")
	}
	return &o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	traces, err := buildTraces(ctx, o)
	if err != nil {
		return err
	}
	// The agents' workspaces and stderr logs stay beside the results for a look afterwards.
	work := filepath.Join(o.out, "_work") // "_": go ./... patterns skip it (traces are .go files)
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	serverURL, token := o.serverURL, o.token
	var srv *servalProcess
	if o.servalBin != "" {
		srv, err = startServal(ctx, o.servalBin, o.model, strings.Fields(o.serveExtra), filepath.Join(work, "server"))
		if err != nil {
			return err
		}
		defer srv.stop()
		serverURL, token = srv.url, srv.token
	}
	if o.oracle {
		oracleURL, stopOracle, err := serveOracle(bench.NewOracle(traces, "oracle-token", o.oracleWait))
		if err != nil {
			return err
		}
		defer stopOracle()
		serverURL, token = oracleURL, "oracle-token"
	}
	upstream, err := url.Parse(serverURL)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	metricsURL, metricsToken := serverURL, token // the model's server, also behind --oracle-text
	if o.oracleText {
		oracle := bench.NewOracle(traces, "oracle-token", 0)
		oracle.Upstream, oracle.UpstreamToken = upstream, token
		oracleURL, stopOracle, err := serveOracle(oracle)
		if err != nil {
			return err
		}
		defer stopOracle()
		if upstream, err = url.Parse(oracleURL); err != nil {
			return err
		}
		token = "oracle-token"
	}

	proxy := bench.NewCountingProxy(upstream)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	serveDone := make(chan error, 1)
	go func() { serveDone <- hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-serveDone
	}()
	endpoint := "http://" + ln.Addr().String()

	keys := 0
	for _, t := range traces {
		keys += len(t.Keys)
	}
	result := &bench.Result{Seed: o.seed, Speed: o.speed, Traces: traces, Keystrokes: keys, Server: serverURL, Oracle: o.oracle, OracleText: o.oracleText,
		Keys: map[string][]bench.KeyResult{}}
	fmt.Fprintf(stderr, "serval-bench: %d traces, %d keystrokes per agent, server %s\n", len(traces), keys, serverURL)
	failed := 0
	for _, agent := range o.agents {
		before, _ := bench.ScrapeMetrics(ctx, metricsURL, metricsToken)
		fmt.Fprintf(stderr, "serval-bench: playing %s (%s)\n", agent.Name, strings.Join(agent.Command, " "))
		ar, err := bench.Play(ctx, agent, traces, bench.RunConfig{
			Endpoint: endpoint, Token: token, Speed: o.speed, Settle: o.settle, WorkDir: work, Proxy: proxy, LSPLog: o.lspLog,
		})
		if err != nil && ar == nil {
			return err
		}
		if err != nil {
			// Keep going: the other agents' figures still stand; this one's are partial.
			fmt.Fprintf(stderr, "serval-bench: %v\n", err)
		}
		if srv != nil {
			// A server that died mid-run makes every later figure meaningless.
			if gone, why := srv.exited(); gone {
				return fmt.Errorf("serval exited while %s was playing (%v); its log: %s", agent.Name, why, srv.logPath)
			}
		}
		after, _ := bench.ScrapeMetrics(ctx, metricsURL, metricsToken)
		s := bench.Summarize(ar)
		s.PromptReuse = bench.PromptReuse(before, after)
		if err != nil {
			s.Error = err.Error()
			failed++
		}
		result.Agents = append(result.Agents, s)
		result.Keys[agent.Name] = ar.Keys
	}
	if err := writeResults(result, o.out, stdout); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d agents did not finish (see \"error\" in bench.json)", failed, len(o.agents))
	}
	return nil
}

// serveOracle serves o on a loopback port until the returned stop is called.
func serveOracle(o *bench.Oracle) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: o, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

func buildTraces(ctx context.Context, o *options) ([]bench.Trace, error) {
	topts := bench.TraceOptions{MinBody: o.minBody, MaxBody: o.maxBody, MaxFileBytes: 60 << 10, Typist: bench.DefaultTypist}
	var traces []bench.Trace
	if o.goTraces > 0 {
		goroot := o.goroot
		if goroot == "" {
			out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
			if err != nil {
				return nil, fmt.Errorf("find GOROOT (give --goroot): %w", err)
			}
			goroot = strings.TrimSpace(string(out))
		}
		topts.Count = o.goTraces
		t, err := bench.Build(bench.GoSource(goroot), o.seed, topts)
		if err != nil {
			return nil, err
		}
		traces = append(traces, t...)
	}
	if o.pyTraces > 0 {
		dir := o.pythonDir
		if dir == "" {
			matches, _ := filepath.Glob("/usr/lib/python3.*")
			for _, m := range matches {
				if fi, err := os.Stat(filepath.Join(m, "os.py")); err == nil && !fi.IsDir() {
					dir = m // Glob sorts; the last one with a stdlib wins
				}
			}
			if dir == "" {
				return nil, errors.New("no Python standard library under /usr/lib/python3.* (give --python-dir or --python-traces 0)")
			}
		}
		topts.Count = o.pyTraces
		t, err := bench.Build(bench.PythonSource(dir), o.seed, topts)
		if err != nil {
			return nil, err
		}
		traces = append(traces, t...)
	}
	return traces, nil
}

func writeResults(r *bench.Result, dir string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	md := r.Markdown()
	files := map[string]string{
		"bench.json":      string(data) + "\n",
		"bench.md":        md,
		"latency-cdf.svg": r.CDFSVG(),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, md)
	if ratios := r.Ratios(); ratios != "" {
		fmt.Fprint(stdout, "\n"+ratios)
	}
	fmt.Fprintf(stdout, "\nwrote %s/{bench.json,bench.md,latency-cdf.svg}\n", dir)
	return nil
}
