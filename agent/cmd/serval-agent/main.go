// Command serval-agent is the language server editors spawn over stdio for
// Serval's ghost-text completions (LSP 3.18 textDocument/inlineCompletion).
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
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"go.opentelemetry.io/otel/trace"

	"github.com/servalhq/serval/agent"
	"github.com/servalhq/serval/buildinfo"
	"github.com/servalhq/serval/context/gather"
	"github.com/servalhq/serval/lsp"
	"github.com/servalhq/serval/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// agentVersion is the build's version, the same string serval reports.
func agentVersion() string { return buildinfo.Read().Version }

// run is the whole program; it returns the exit code. Nothing but LSP
// messages is ever written to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.ReadCloser, stdout io.Writer, stderr io.Writer) int {
	fs := flag.NewFlagSet("serval-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Bool("stdio", true, "speak LSP over stdin/stdout (the default and only transport)")
	logFile := fs.String("log-file", "", "write logs to this file instead of stderr")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: [logs] level of the config, else info)")
	configPath := fs.String("config", agent.DefaultConfigPath(getenv), "the agent.toml file, watched for changes")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole session to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file when the session ends")
	otlpEndpoint := fs.String("otlp-endpoint", "", "send OpenTelemetry traces to this OTLP/HTTP collector (http://host:4318); default $OTEL_EXPORTER_OTLP_ENDPOINT or $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else no tracing")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: serval-agent [--stdio] [flags]\n\n"+
			"Serval's language server. Editors start it and talk LSP over stdin/stdout.\n"+
			"Configuration, lowest precedence first: defaults, the config file, SERVAL_ENDPOINT and\n"+
			"SERVAL_TOKEN, initializationOptions, workspace/didChangeConfiguration (under \"serval\").\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "serval-agent", buildinfo.Read())
		return 0
	}

	// The agent's live heap is small (documents, the declaration index) and
	// it sits beside the editor: collect at 50% growth instead of 100%,
	// which keeps its resident memory about 4 MB lower at no measurable
	// completion latency (BenchmarkMemoryAfterWork). $GOGC still wins.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	// And a soft memory limit (memory.go); $GOMEMLIMIT still wins.
	if getenv("GOMEMLIMIT") == "" {
		setSoftMemoryLimit()
	}

	stack := agent.NewConfigStack(getenv)
	stack.SetFilePath(*configPath)
	fileCfg, fileErr := agent.LoadConfigFile(*configPath)
	cfg := stack.Set(agent.LayerFile, fileCfg)

	logOut := stderr
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "serval-agent: %v\n", err)
			return 1
		}
		defer f.Close()
		logOut = f
	}
	level := *logLevel
	if level == "" {
		level = cfg.Logs.Level
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		fmt.Fprintf(stderr, "serval-agent: --log-level %q: want debug, info, warn or error\n", level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: lv}))
	if fileErr != nil {
		log.Warn("config file ignored", "err", fileErr)
	}
	// Tracing, when the editor's environment (or --otlp-endpoint) asks for
	// it. A bad setting must not keep the editor from starting the agent:
	// it is logged and the agent runs untraced.
	tracing, err := telemetry.Start(ctx, telemetry.Config{ServiceName: "serval-agent", Version: agentVersion(),
		Endpoint: *otlpEndpoint, Getenv: getenv, Logger: log})
	if err != nil {
		log.Error("tracing off", "err", err)
	}
	defer tracing.Shutdown(ctx)
	if tracing != nil {
		log = slog.New(telemetry.LogHandler(log.Handler())) // log lines carry the trace id
		log.Info("tracing", "endpoint", tracing.Endpoint())
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cpu profile", "err", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	// The context source, chosen at startup: syntax-aware windows, workspace
	// declarations and recent-work snippets (context/gather), or plain windows.
	var source agent.ContextSource
	if cfg.Completion.Context != "windows" {
		g, err := gather.New(gather.Config{ExtraExcludes: cfg.Completion.Exclude, Logf: func(format string, args ...any) {
			log.Debug(fmt.Sprintf(format, args...))
		}})
		if err != nil {
			log.Error("context gatherer", "err", err)
			return 1
		}
		source = g
	}

	var server *lsp.Server
	opts := agent.Options{
		Context:   source,
		Config:    stack,
		Logger:    log,
		UserAgent: "serval-agent/" + agentVersion(),
		// nil when tracing is off: a typed nil would not be.
		TracerProvider: tracerProvider(tracing),
		OnStatus: func(st agent.Status) {
			log.Info("status", "status", st.Kind, "message", st.Message)
			if server != nil {
				server.SendStatus(st)
			}
		},
	}
	a, err := agent.New(opts)
	if err != nil {
		// A bad file or environment must not keep the editor from starting
		// the agent: drop those layers (the editor's own settings can still
		// fix the configuration) and say why.
		log.Error("configuration ignored: the config file and SERVAL_* are unusable", "err", err)
		stack.Set(agent.LayerFile, agent.Config{})
		stack.Set(agent.LayerEnv, agent.Config{})
		if a, err = agent.New(opts); err != nil {
			log.Error("bad configuration", "err", err)
			return 1
		}
	}
	eff := a.Config()
	log.Debug("configuration", "endpoint", eff.Server.Endpoint, "token set", eff.Server.Token != "",
		"timeout_ms", eff.Completion.TimeoutMS, "debounce", eff.Completion.Debounce.Mode, "context", eff.Completion.Context,
		"prefix_chars", eff.Completion.Prompt.MaxPrefixChars, "suffix_chars", eff.Completion.Prompt.MaxSuffixChars)
	defer a.Close()
	server = lsp.NewServer(a, lsp.Options{Name: "serval-agent", Version: agentVersion(), Logger: log})

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := agent.WatchConfigFile(watchCtx, *configPath, func(c agent.Config, err error) {
		if err == nil {
			err = a.SetConfigLayer(agent.LayerFile, c)
		}
		if err != nil {
			log.Warn("config file change ignored", "err", err)
			return
		}
		log.Info("config file reloaded", "path", *configPath)
	}); err != nil {
		log.Debug("config file not watched", "err", err)
	}

	// The endpoint in use is logged by the agent as "server endpoint", now and
	// after the editor's settings apply.
	log.Info("serval-agent started", "version", agentVersion(), "config", *configPath)
	err = server.Run(ctx, stdin, stdout, stdin)
	if *memProfile != "" { // before Close, while the session's memory is live
		if perr := writeHeapProfile(*memProfile); perr != nil {
			log.Error("heap profile", "err", perr)
		}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, lsp.ErrExitWithoutShutdown):
		log.Info("client went away without shutdown")
		return 1
	default:
		log.Info("stopped", "err", err)
		return 1
	}
}

// tracerProvider is tracing's provider, or a nil interface when it is off.
func tracerProvider(t *telemetry.Tracing) trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.TracerProvider()
}

// writeHeapProfile writes the heap profile after a collection, so that it
// shows what is live.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
