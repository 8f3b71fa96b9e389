// Package httpapi is Serval's HTTP layer: the Tabby-compatible routes
// (/v1/completions plain and streamed, /v1/health, /v1/events,
// /v1beta/server_setting), /metrics, request decoding with field-naming
// 400s, body limits, and the mapping of errors to status codes. Handlers are
// thin: decode and validate once, make one call, write the answer.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/store"
)

// MaxBodyBytes bounds request bodies; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Config configures a Server.
type Config struct {
	Service *completion.Service // required
	Store   *store.Store        // required: events are stored here
	// Auth guards every route; nil serves without authentication (--no-auth).
	Auth *auth.Authenticator
	// Version is reported by /v1/health.
	Version api.Version
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Registry receives the metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// Extra are more routes mounted behind the same auth and request
	// metrics (the OpenAI-compatible API of server/openaiapi).
	Extra []Registrar
	// Chat is the chat model's engine, for /v1/health and /metrics; nil when
	// none is configured.
	Chat engine.Engine
	// BodyTimeout bounds the reading of a request body; 0 means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// RequestTimeout bounds a whole request: past it the engine stops
	// working for a client that is no longer waiting, whatever the
	// network says. 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Web serves every path outside the API (the web app of server/web);
	// nil answers them 404.
	Web http.Handler
}

// Registrar mounts routes on a mux; wrap adds auth, rate limit and metrics.
type Registrar interface {
	Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler)
}

// ErrorShaper is a Registrar whose routes answer errors in a shape other
// than Tabby's; wrap's auth and rate-limit errors then use it too.
type ErrorShaper interface {
	ErrorShape() httpx.Shape
}

// Server serves the API. Build it with New.
type Server struct {
	svc            *completion.Service
	store          *store.Store
	auth           *auth.Authenticator
	log            *slog.Logger
	metrics        *metrics
	chat           engine.Engine   // nil without a chat model
	health         api.HealthState // static part, filled at New
	handler        http.Handler
	methods        map[string][]string // path → allowed methods, for 405s
	events         *eventSink
	bodyTimeout    time.Duration
	requestTimeout time.Duration
	web            http.Handler // nil without the web app
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Store == nil {
		return nil, errors.New("httpapi: Service and Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{svc: cfg.Service, store: cfg.Store, auth: cfg.Auth, log: cfg.Logger, chat: cfg.Chat, web: cfg.Web, methods: map[string][]string{}}
	s.bodyTimeout, s.requestTimeout = cfg.BodyTimeout, cfg.RequestTimeout
	if s.bodyTimeout <= 0 {
		s.bodyTimeout = DefaultBodyTimeout
	}
	if s.requestTimeout <= 0 {
		s.requestTimeout = DefaultRequestTimeout
	}
	s.metrics = newMetrics(cfg.Registry, cfg.Service.Engine())
	s.events = newEventSink(cfg.Registry, s.log)
	registerRuntimeCollectors(cfg.Registry)
	cfg.Registry.MustRegister(newUpstreamCollector(cfg.Service.Engine(), cfg.Chat))
	s.health = api.HealthState{
		Arch:        runtime.GOARCH,
		CPUInfo:     cpuInfo(),
		CPUCount:    runtime.NumCPU(),
		CUDADevices: []string{},
		Version:     cfg.Version,
	}

	mux := http.NewServeMux()
	s.route(mux, "POST /v1/completions", s.handleCompletions)
	s.route(mux, "GET /v1/health", s.handleHealth)
	s.route(mux, "POST /v1/health", s.handleHealth)
	s.route(mux, "POST /v1/events", s.handleEvents)
	s.route(mux, "GET /v1beta/server_setting", s.handleServerSetting)
	s.route(mux, "GET /metrics", s.metrics.handler(cfg.Registry).ServeHTTP)
	mux.HandleFunc("GET "+LivenessPath, handleLiveness) // unauthenticated on purpose: see liveness.go
	for _, x := range cfg.Extra {
		shape := httpx.Tabby
		if sh, ok := x.(ErrorShaper); ok {
			shape = sh.ErrorShape()
		}
		x.Register(mux, func(h http.Handler) http.Handler { return s.metrics.instrument("", s.guardShaped(shape, h)) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := s.methods[r.URL.Path]; len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": method not allowed; use "+strings.Join(allowed, " or "))
			return
		}
		if s.web != nil && !isAPIPath(r.URL.Path) {
			s.web.ServeHTTP(w, r)
			return
		}
		shape := httpx.Tabby
		if strings.HasPrefix(r.URL.Path, "/openai/") {
			shape = httpx.OpenAI
		}
		httpx.WriteError(w, shape, &httpx.Error{Status: http.StatusNotFound, Message: "no such route: " + r.Method + " " + r.URL.Path})
	})
	s.handler = traceRequests(s.logRequests(recoverPanics(s.log, s.protect(mux))))
	return s, nil
}

// isAPIPath reports whether path belongs to the API (JSON errors, and with
// --no-auth the cross-site guard), not the web app: the prefixes of the
// Tabby and OpenAI routes, /metrics, and llama.cpp's /infill.
func isAPIPath(path string) bool {
	for _, p := range []string{"/v1/", "/v1beta/", "/openai/", "/metrics"} {
		if strings.HasPrefix(path, p) || path+"/" == p {
			return true
		}
	}
	return path == "/infill"
}

// route registers h under pattern behind auth and the request metrics.
func (s *Server) route(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.methods[path] = append(s.methods[path], method)
	mux.Handle(pattern, s.metrics.instrument(pattern, s.guard(h)))
}

func (s *Server) guard(h http.Handler) http.Handler { return s.guardShaped(httpx.Tabby, h) }

func (s *Server) guardShaped(shape httpx.Shape, h http.Handler) http.Handler {
	if s.auth == nil {
		return h
	}
	return s.auth.MiddlewareShaped(shape, noteToken(h))
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves on ln until ctx is cancelled, then shuts down gracefully,
// giving in-flight requests up to grace to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	// Requests run on their own context, not ctx: when ctx ends they may
	// still finish, within grace, instead of being cut at the signal.
	reqCtx, cutRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cutRequests()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Shutdown closes the listener at once (new connections are refused)
	// and idle connections, then waits for the requests in flight.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Past the grace period: cut what still runs and give it a moment
		// to end its answer cleanly before the connections are closed.
		s.log.Warn("shutdown grace period over: cutting requests still in flight", "grace", grace)
		cutRequests()
		ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		srv.Shutdown(ectx)
		ecancel()
		srv.Close()
	}
	<-errc
	return err
}

func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// cpuInfo returns the CPU model name for /v1/health.
func cpuInfo() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
