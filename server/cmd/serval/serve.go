package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/connlimit"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/engine/llama"
	"github.com/servalhq/serval/server/httpapi"
	"github.com/servalhq/serval/server/llamaapi"
	"github.com/servalhq/serval/server/models"
	"github.com/servalhq/serval/server/openaiapi"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
	"github.com/servalhq/serval/telemetry"
)

// serveConfig is every setting of `serval serve`, one flag each.
type serveConfig struct {
	models         stringList // --model, repeatable
	chatModels     stringList // --chat-model, repeatable
	configFile     string
	ollamaURL      string
	ollamaPull     bool
	host           string
	port           int
	dataDir        string
	database       string
	device         string
	parallel       int
	maxQueue       int
	maxQueueWait   time.Duration
	ctxSize        int
	threads        int
	libDir         string
	promptTemplate string
	registry       string
	maxTokens      int
	noAuth         bool
	rateLimit      float64
	rateBurst      int
	// maxTokensPerUser bounds the tokens of one account.
	maxTokensPerUser int
	shutdownGrace    time.Duration
	requestTimeout   time.Duration
	logLevel         string
	logFormat        string
	trustedProxies   stringList // --trusted-proxy: see web.go
	// maxConnsPerAddress and limitLoopback bound the connections one
	// client address holds open (connlimit).
	maxConnsPerAddress int
	limitLoopback      bool
	otlpEndpoint       string
	auditRetention     string // --audit-retention: see audit.go
}

func (c *serveConfig) flags(fs *flag.FlagSet, getenv env) {
	fs.Var(&c.models, "model", "completion model `spec` (default "+defaultModel+"): a GGUF file path or a registry name (downloaded into <data-dir>/models when missing), ollama:<name>, or openai:<base-url>#<model>; repeat for a pool of remote upstreams")
	fs.Var(&c.chatModels, "chat-model", "chat model `spec` for /v1/chat/completions, in the forms of --model (none: chat answers 501)")
	fs.StringVar(&c.configFile, "config", "", "TOML file with [[model.completion.upstream]] / [[model.chat.upstream]] lists and [pool] settings (see docs/engines.md)")
	fs.StringVar(&c.ollamaURL, "ollama-url", "", "Ollama server for ollama: models (default $OLLAMA_HOST, else http://127.0.0.1:11434)")
	fs.BoolVar(&c.ollamaPull, "ollama-pull", false, "pull an ollama: model Ollama does not have yet, with progress, instead of failing")
	fs.StringVar(&c.host, "host", cmp.Or(getenv("SERVAL_HOST"), "127.0.0.1"), "address to listen on ($SERVAL_HOST; the container image sets 0.0.0.0)")
	fs.IntVar(&c.port, "port", 8080, "port to listen on (0: any free port, printed at startup)")
	fs.StringVar(&c.database, "database", getenv("SERVAL_DATABASE_URL"),
		"`URL` of the database: postgres://USER:PASSWORD@HOST:5432/DB (one database for any number of replicas) or a SQLite file path; default: serval.db in --data-dir ($SERVAL_DATABASE_URL)")
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir(getenv), "directory for the database, tokens and downloaded models ($SERVAL_DATA_DIR)")
	fs.StringVar(&c.device, "device", "cpu", "in-process engine: cpu, cuda, vulkan, metal (where this platform's llama.cpp build has them) or auto (the GPU found, else the CPU)")
	fs.IntVar(&c.parallel, "parallel", 1, "requests decoded concurrently (slots)")
	fs.IntVar(&c.maxQueue, "max-queue", 0, "requests that may wait for a slot, one per token and editor, before the server answers 503 (0: 64 × --parallel, -1: none)")
	fs.DurationVar(&c.maxQueueWait, "max-queue-wait", 0, "longest a request waits for a slot before it is answered 503: its suggestion would come too late (0: 2s)")
	fs.IntVar(&c.ctxSize, "ctx-size", 0, "context size per slot in tokens (0: the model's, at most 4096)")
	fs.IntVar(&c.threads, "threads", 0, "llama.cpp threads (0: the cores this process may use, minus one left to the HTTP server: llama.cpp threads spin)")
	fs.StringVar(&c.libDir, "lib-dir", "", "directory of the llama.cpp libraries (default $SERVAL_LIB_DIR, else bin/lib/<device> beside the executable)")
	fs.StringVar(&c.promptTemplate, "prompt-template", "", "FIM template override: a name ("+strings.Join(prompt.TemplateNames(), ", ")+") or a literal with {prefix} and {suffix}")
	fs.StringVar(&c.registry, "registry", "", "TOML file extending or overriding the model registry")
	fs.IntVar(&c.maxTokens, "max-tokens", prompt.DefaultMaxOutputTokens, "default tokens generated per completion")
	fs.BoolVar(&c.noAuth, "no-auth", false, "serve without tokens (refused unless --host is a loopback address)")
	fs.Float64Var(&c.rateLimit, "rate-limit", auth.DefaultRatePerMinute, "requests per minute per token (-1: unlimited)")
	fs.IntVar(&c.rateBurst, "rate-burst", auth.DefaultBurst, "requests a token may make at once before the rate limit applies")
	fs.IntVar(&c.maxTokensPerUser, "max-tokens-per-user", store.DefaultMaxUserTokens, "tokens one account may hold (web app and editor sign-in); each has its own rate limit")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error; info logs one line per completion request, debug every request and all settings")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json (one JSON object per log line, for log collectors)")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 5*time.Second, "how long a shutdown waits for requests in flight")
	fs.DurationVar(&c.requestTimeout, "request-timeout", httpapi.DefaultRequestTimeout, "longest a request may run, streamed answer included")
	fs.StringVar(&c.otlpEndpoint, "otlp-endpoint", "", "send OpenTelemetry traces to this OTLP/HTTP collector (http://host:4318); default $OTEL_EXPORTER_OTLP_ENDPOINT or $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else no tracing (docs/deploy.md)")
	fs.StringVar(&c.auditRetention, "audit-retention", defaultAuditRetention, "how long the audit log keeps events (\"400d\", \"720h\"; \"forever\": never deleted)")
	fs.IntVar(&c.maxConnsPerAddress, "max-conns-per-address", defaultMaxConnsPerAddress, "connections one client address (an IPv6 /64) may hold open; more are answered 503 and closed (0: no limit; loopback and --trusted-proxy addresses are not limited)")
	fs.BoolVar(&c.limitLoopback, "limit-loopback", false, "apply --max-conns-per-address to loopback clients too (a machine shared with users you do not trust)")
	fs.Var(&c.trustedProxies, "trusted-proxy", "`address or CIDR` of a reverse proxy whose X-Forwarded-For/-Proto the web app believes (repeatable)")
}

// validate checks what flags alone can tell.
func (c *serveConfig) validate() error {
	if c.port < 0 || c.port > 65535 {
		return fmt.Errorf("%w: --port %d is not a port", errUsage, c.port)
	}
	if c.parallel < 1 {
		return fmt.Errorf("%w: --parallel must be at least 1", errUsage)
	}
	if c.maxQueueWait < 0 {
		return fmt.Errorf("%w: --max-queue-wait must not be negative", errUsage)
	}
	if c.maxConnsPerAddress < 0 {
		return fmt.Errorf("%w: --max-conns-per-address must not be negative (0: no limit)", errUsage)
	}
	if c.maxQueue < -1 {
		return fmt.Errorf("%w: --max-queue must be -1 (none), 0 (default) or more", errUsage)
	}
	if c.ctxSize < 0 || c.threads < 0 || c.maxTokens < 1 {
		return fmt.Errorf("%w: --ctx-size and --threads must not be negative, --max-tokens must be positive", errUsage)
	}
	if c.maxTokensPerUser < 1 {
		return fmt.Errorf("%w: --max-tokens-per-user must be at least 1", errUsage)
	}
	if c.rateBurst < 1 {
		return fmt.Errorf("%w: --rate-burst must be at least 1", errUsage)
	}
	if _, err := c.retention(); err != nil {
		return err
	}
	if c.noAuth && !isLoopback(c.host) {
		return fmt.Errorf("%w: --no-auth is refused unless the server listens only on loopback (--host 127.0.0.1, ::1 or localhost); --host %q would expose an open server", errUsage, c.host)
	}
	return nil
}

// isLoopback reports whether host names only loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// libDir resolves --lib-dir, then $SERVAL_LIB_DIR, then bin/lib/<device> beside the executable.
func (c *serveConfig) resolvedLibDir(getenv env) string {
	return llama.ResolveLibDir(c.libDir, c.device, getenv)
}

// runServe implements `serval serve`.
func runServe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlagSet("serval serve", stderr)
	cfg.flags(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	proxies, err := parseTrustedProxies(cfg.trustedProxies) // the web app's and the connection limit's
	if err != nil {
		return err
	}
	logger, err := newServeLogger(&cfg, stderr)
	if err != nil {
		return err
	}
	tracing, err := telemetry.Start(ctx, telemetry.Config{ServiceName: "serval", Version: buildVersion().GitDescribe,
		Endpoint: cfg.otlpEndpoint, Getenv: getenv, Logger: logger})
	if err != nil {
		return fmt.Errorf("%w: tracing: %v", errUsage, err)
	}
	defer tracing.Shutdown(ctx)
	if tracing != nil {
		logger = slog.New(telemetry.LogHandler(logger.Handler())) // log lines carry the trace id
		fmt.Fprintf(stderr, "serval: tracing: spans go to %s\n", tracing.Endpoint())
	}

	// Sign-in settings are checked (and providers discovered) before
	// anything else starts: a wrong issuer or a missing secret stops here.
	signin, err := loadSignIn(ctx, cfg.configFile, getenv, logger)
	if err != nil {
		return err
	}

	// Listen first: a busy port fails before the model is loaded.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return listenError(cfg.host, cfg.port, err)
	}
	defer ln.Close()

	st, err := openStore(ctx, cfg.database, cfg.dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	unlock, err := store.LockDataDir(cfg.dataDir, false) // `serval restore` waits for servers to stop
	if err != nil {
		return err
	}
	defer unlock()

	reg, err := models.LoadRegistry(cfg.registry)
	if err != nil {
		return err
	}
	engines, err := openEngines(ctx, &cfg, fs, reg, getenv, stderr)
	if err != nil {
		return err
	}
	defer engines.close()
	eng, info := engines.completion.Engine, engines.completion.Engine.Info()

	tmpl, err := prompt.ChooseTemplate(engines.promptTemplate, engines.completion.Entry.Template, info.FIMTemplate)
	if err != nil {
		return fmt.Errorf("%w: --prompt-template: %v", errUsage, err)
	}
	if err := checkFIMVocabulary(engines.completion, engines.promptTemplate, info, tmpl.Name); err != nil {
		return err
	}
	// The first token is made only once the model is there and usable: a start
	// that fails (no model, no network, no FIM tokens) leaves no token behind and prints none.
	var authn *auth.Authenticator
	app, err := newWebApp(&cfg, proxies, st, engines, signin, logger)
	if err != nil {
		return err
	}
	if !cfg.noAuth {
		if err := ensureInitialToken(ctx, st, cfg.dataDir, stdout); err != nil {
			return err
		}
		acfg := auth.Config{Lookup: auth.StoreLookup(st), RatePerMinute: cfg.rateLimit, Burst: cfg.rateBurst, Session: app.SessionToken}
		if st.IsPostgres() {
			acfg.Shared = st.TakeRequest // one budget per token across replicas
		}
		authn = auth.New(acfg)
	} else {
		fmt.Fprintln(stderr, "serval: --no-auth: serving without tokens on loopback only")
	}
	// Remote engines do not say their context: --ctx-size, else the builder's default.
	ctxSize := info.ContextSize
	if ctxSize == 0 {
		ctxSize = cmp.Or(cfg.ctxSize, prompt.DefaultContextSize)
	}
	builder, err := prompt.NewBuilder(prompt.Config{
		Template:        tmpl,
		ContextSize:     ctxSize,
		MaxOutputTokens: cfg.maxTokens,
		Tokenizer:       engines.completion.Tokenizer, // nil for remote engines: estimated
	})
	if err != nil {
		return err
	}
	svc, err := completion.New(completion.Config{Engine: eng, Prompts: builder, ContextSize: ctxSize})
	if err != nil {
		return err
	}
	openai := &openaiapi.Handler{Completion: eng, CompletionModel: info.Model, Log: logger}
	infill := &llamaapi.Handler{Service: svc, Model: info.Model, Log: logger}
	var chatEngine engine.Engine
	if chat := engines.chat; chat != nil {
		openai.Chat, openai.ChatModel, chatEngine = chat.Chat, chat.Name, chat.Engine
	}
	srv, err := httpapi.New(httpapi.Config{
		RequestTimeout: cfg.requestTimeout,
		Service:        svc,
		Store:          st,
		Auth:           authn,
		Version:        buildVersion(),
		Logger:         logger,
		Extra:          []httpapi.Registrar{openai, infill},
		Chat:           chatEngine,
		Web:            app,
	})
	if err != nil {
		return err
	}
	openai.Observe = func(_ string, u engine.Usage, _ error) { srv.ObserveGeneration(u) }
	infill.Observe = srv.ObserveGeneration
	fmt.Fprintf(stderr, "serval %s: model %s (template %s%s, %s × %d tokens, device %s)\n", buildVersion().GitDescribe,
		engines.completion.Describe(), tmpl.Name, templateNote(engines.promptTemplate, engines.completion.Entry.Template, info.FIMTemplate, engines.completion.Tokenizer != nil),
		plural(info.Slots, "slot"), ctxSize, info.Device)
	if isDemoModel(engines.completion.Describe()) {
		fmt.Fprintln(stderr, "serval: "+demoModelNote)
	}
	if engines.chat != nil {
		fmt.Fprintf(stderr, "serval: chat model %s\n", engines.chat.Describe())
	}
	if err := app.Start(ctx, setupBaseURL(ln.Addr()), stdout); err != nil {
		return err
	}
	// `serval invite create` and `serval user` print links to where this server runs.
	if cfg.dataDir != "" {
		if err := os.WriteFile(filepath.Join(cfg.dataDir, serverURLFile), []byte(setupBaseURL(ln.Addr())+"\n"), 0o644); err != nil {
			logger.Warn("cannot note the server's address for printed links", "err", err)
		}
	}
	retention, _ := cfg.retention()
	stopRetention := keepAuditRetention(ctx, st, retention, logger)
	defer stopRetention()
	auditServerStart(ctx, st, &cfg, signin, logger)
	printSignIn(stderr, signin)
	// Tests and scripts read this line to find the port.
	fmt.Fprintf(stderr, "serval: listening on http://%s\n", ln.Addr())
	printSettings(stderr, fs, logger.Enabled(ctx, slog.LevelDebug))
	printNextStep(stderr, ln.Addr(), cfg.noAuth, usableInitialToken(ctx, st, cfg.dataDir))
	err = srv.Serve(ctx, limitConnections(ln, &cfg, proxies, logger), cfg.shutdownGrace)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "serval: shut down")
	}
	return err
}

// serverURLFile in the data directory holds the address this server last
// started on, for the links the CLI prints.
const serverURLFile = "server-url"

// InitialTokenFile is written at the first start, mode 0600.
const initialTokenFile = "initial-token"

// ensureInitialToken creates a first token when there is none, so that a
// fresh `make run` is usable at once: printed once and saved to
// <data-dir>/initial-token (mode 0600).
func ensureInitialToken(ctx context.Context, st *store.Store, dataDir string, stdout io.Writer) error {
	n, err := st.CountTokens(ctx)
	if err != nil || n > 0 {
		return err
	}
	secret, err := st.CreateToken(ctx, "initial")
	if errors.Is(err, store.ErrTokenExists) {
		return nil // another process just made it
	}
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, initialTokenFile)
	if err := store.WritePrivateFile(path, secret+"\n"); err != nil {
		return fmt.Errorf("save the initial token: %w", err)
	}
	fmt.Fprintf(stdout, "serval: created the first API token %q, saved to %s (shown only now; more with `serval token create --name NAME`):\n%s\n",
		"initial", path, secret)
	return nil
}

// defaultMaxConnsPerAddress bounds one client address's open connections:
// far above what an editor (a few) or a team behind one NAT address needs,
// far below what the machine can hold.
const defaultMaxConnsPerAddress = 256

// limitConnections wraps ln with the per-address connection limit; turned
// away clients are logged at most once a minute.
func limitConnections(ln net.Listener, cfg *serveConfig, proxies []netip.Prefix, logger *slog.Logger) net.Listener {
	var mu sync.Mutex
	var lastLog time.Time
	refused := 0
	return connlimit.Listen(ln, connlimit.Config{
		PerAddress:    cfg.maxConnsPerAddress,
		Exempt:        proxies,
		LimitLoopback: cfg.limitLoopback,
		OnRefuse: func(key string) {
			mu.Lock()
			defer mu.Unlock()
			refused++
			if time.Since(lastLog) >= time.Minute {
				logger.Warn("connections refused: a client address holds --max-conns-per-address open", "client", key, "limit", cfg.maxConnsPerAddress, "refused", refused)
				lastLog, refused = time.Now(), 0
			}
		},
	})
}
