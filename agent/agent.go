// Package agent is the completion orchestration behind serval-agent: it
// decides when to ask the server for a completion (typed-ahead cache, LRU
// cache, adaptive debounce, one request in flight per document), builds the
// request in Tabby's schema from a ContextSource, streams the answer through
// post-processing (cutting it once it is complete), and reports status and
// completion events. It works in byte offsets on immutable document
// snapshots; the lsp package converts to and from protocol positions.
package agent

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/servalhq/serval/server/api"
)

// Document is an immutable snapshot of an open document.
type Document struct {
	URI        string
	LanguageID string
	Version    int32
	Text       []byte // never modified
}

// TriggerKind is LSP's InlineCompletionTriggerKind.
type TriggerKind int

// Invoked is an explicit user gesture (no debounce); Automatic is typing.
const (
	Invoked   TriggerKind = 1
	Automatic TriggerKind = 2
)

// Request asks for a completion at Offset (bytes) in Document.
type Request struct {
	Document Document
	Offset   int
	Trigger  TriggerKind
	// Candidates is how many candidates to ask the server for (0 or 1:
	// one): an explicit inline request asks for InvokedCandidates to cycle
	// through.
	Candidates int
}

// Item is one suggestion: Text replaces the document's bytes [Start, End)
// (End > Start when it swallows closers the editor auto-inserted).
type Item struct {
	Text       string
	Start, End int
	Choice     int
}

// Result is the answer to a Request; an empty Items means "nothing to show".
type Result struct {
	ID    string // the server's completion id, for events
	Items []Item
	// Source says where the items came from: "typed-ahead", "cache", "server", or "" when empty.
	Source string
	// AgentTime is the agent's own time: request in to HTTP out plus HTTP
	// in to result out (debounce and server time excluded).
	AgentTime time.Duration
}

// Options configures New.
type Options struct {
	Config     *ConfigStack
	Context    ContextSource // nil: a WindowSource
	OnStatus   func(Status)  // called on every status change, from any goroutine
	Logger     *slog.Logger
	HTTPClient *http.Client // nil: a kept-alive default
	UserAgent  string
	// TracerProvider traces each completion (trace.go); nil: untraced, at
	// no cost on the keystroke path.
	TracerProvider trace.TracerProvider
}

// Agent orchestrates completions for one editor session. Its methods are
// safe for concurrent use; document events must arrive in order.
type Agent struct {
	log      *slog.Logger
	cfgStack *ConfigStack
	ctxSrc   ContextSource
	httpc    *http.Client
	ua       string
	session  string       // api.SessionHeader: random per process
	tracer   trace.Tracer // nil: completions are not traced

	cfgMu  sync.Mutex // serializes configuration changes
	cfg    atomic.Pointer[Config]
	client atomic.Pointer[api.Client]

	status   statusTracker
	debounce debouncer
	cache    *completionCache
	repos    *repoResolver

	life       context.Context
	stop       context.CancelFunc
	startOnce  sync.Once
	wg         sync.WaitGroup
	events     chan *api.LogEventRequest
	healthKick chan struct{}

	signInMu     sync.Mutex
	cancelSignIn context.CancelFunc // of the sign-in running, if any (signin.go)

	warm warmer // the warm-up in progress (warmup.go)

	mu      sync.Mutex
	docs    map[string]*docState
	folders []string
	seq     uint64
}

// New returns an agent; call Start to begin health checks and Close to stop.
func New(opts Options) (*Agent, error) {
	if opts.Config == nil {
		opts.Config = NewConfigStack(func(string) string { return "" })
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 8
		tr.IdleConnTimeout = 5 * time.Minute
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	cfg := opts.Config.Effective()
	if opts.Context == nil {
		opts.Context = NewWindowSource(cfg.Completion.Prompt.MaxPrefixChars, cfg.Completion.Prompt.MaxSuffixChars)
	}
	life, stop := context.WithCancel(context.Background())
	a := &Agent{
		tracer:     tracerOf(opts.TracerProvider),
		log:        opts.Logger,
		cfgStack:   opts.Config,
		ctxSrc:     opts.Context,
		httpc:      opts.HTTPClient,
		ua:         opts.UserAgent,
		session:    rand.Text(),
		cache:      newCompletionCache(cfg.Completion.Cache.Entries, time.Duration(cfg.Completion.Cache.TTLSec)*time.Second),
		repos:      newRepoResolver(),
		life:       life,
		stop:       stop,
		events:     make(chan *api.LogEventRequest, 256),
		healthKick: make(chan struct{}, 1),
		docs:       make(map[string]*docState),
	}
	a.status.cur = Status{Kind: StatusStarting}
	a.status.notify = opts.OnStatus
	a.status.endpointHint = opts.Config.describeEndpointSource
	if err := a.apply(cfg); err != nil {
		stop()
		return nil, err
	}
	return a, nil
}

// Start launches the health checker, the event sender and the repository
// resolver; they stop on Close.
func (a *Agent) Start() {
	a.startOnce.Do(a.start)
}

func (a *Agent) start() {
	if a.life.Err() != nil {
		return // already closed
	}
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.healthLoop() }()
	go func() { defer a.wg.Done(); a.sendEvents() }()
	go func() { defer a.wg.Done(); a.repos.run(a.life) }()
}

// Close cancels everything in flight and waits for the agent's goroutines.
func (a *Agent) Close() error {
	a.stop()
	a.startOnce.Do(func() {}) // no Start from now on; waits for one in progress
	a.mu.Lock()
	for _, st := range a.docs {
		if st.flight != nil {
			st.flight.cancel(context.Canceled)
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
	return a.ctxSrc.Close()
}

// Status returns the current status.
func (a *Agent) Status() Status { return a.status.get() }

// Config returns the effective configuration.
func (a *Agent) Config() Config { return *a.cfg.Load() }
