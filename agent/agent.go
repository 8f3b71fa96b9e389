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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servalhq/serval/agent/postprocess"
	"github.com/servalhq/serval/context/gather"
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
	// Own is the agent's own time: request in to HTTP out plus HTTP in to
	// result out (debounce and server time excluded).
	Own time.Duration
}

// Options configures New.
type Options struct {
	Config     *ConfigStack
	Context    ContextSource // nil: a WindowSource
	OnStatus   func(Status)  // called on every status change, from any goroutine
	Logger     *slog.Logger
	HTTPClient *http.Client // nil: a kept-alive default
	UserAgent  string
}

// Agent orchestrates completions for one editor session. Its methods are
// safe for concurrent use; document events must arrive in order.
type Agent struct {
	log      *slog.Logger
	cfgStack *ConfigStack
	ctxSrc   ContextSource
	httpc    *http.Client
	ua       string

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

	mu      sync.Mutex
	docs    map[string]*docState
	folders []string
	seq     uint64
}

// docState is the agent's per-document state, guarded by Agent.mu.
type docState struct {
	language string
	flight   *flight     // the request in flight, if any
	last     *suggestion // the last non-empty result, for typed-ahead
	shown    *shown      // the suggestion the editor reported showing
}

type flight struct {
	seq    uint64
	cancel context.CancelCauseFunc
}

type shown struct {
	id       string
	choice   int
	at       time.Time
	accepted bool
}

// Reasons a request ends early without an error for the editor.
var (
	errSuperseded = errors.New("superseded by a newer request")
	errEdited     = errors.New("the document changed")
	errEnough     = errors.New("completion is complete")
)

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
		log:        opts.Logger,
		cfgStack:   opts.Config,
		ctxSrc:     opts.Context,
		httpc:      opts.HTTPClient,
		ua:         opts.UserAgent,
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

// SetConfigLayer replaces one configuration layer and applies the result.
// A layer that makes the configuration unusable is rejected and the previous
// one kept.
func (a *Agent) SetConfigLayer(layer ConfigLayer, c Config) error {
	a.cfgMu.Lock()
	defer a.cfgMu.Unlock()
	prev := a.cfgStack.Layer(layer)
	if err := a.apply(a.cfgStack.Set(layer, c)); err != nil {
		a.cfgStack.Set(layer, prev)
		return err
	}
	return nil
}

// apply switches to a new effective configuration.
func (a *Agent) apply(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	old := a.cfg.Load()
	a.cfg.Store(&cfg)
	if old == nil || old.Server.Endpoint != cfg.Server.Endpoint || old.Server.Token != cfg.Server.Token ||
		!mapsEqual(old.Server.RequestHeaders, cfg.Server.RequestHeaders) {
		c, err := api.NewClient(cfg.Server.Endpoint, cfg.Server.Token, a.httpc)
		if err != nil {
			return fmt.Errorf("server.endpoint: %w", err)
		}
		c.UserAgent = a.ua
		if len(cfg.Server.RequestHeaders) > 0 {
			c.Header = http.Header{}
			for k, v := range cfg.Server.RequestHeaders {
				c.Header.Set(k, v)
			}
		}
		a.client.Store(c)
		a.kickHealth()
	}
	a.cache.resize(cfg.Completion.Cache.Entries, time.Duration(cfg.Completion.Cache.TTLSec)*time.Second)
	if ws, ok := a.ctxSrc.(*WindowSource); ok {
		ws.mu.Lock()
		ws.PrefixChars, ws.SuffixChars = cfg.Completion.Prompt.MaxPrefixChars, cfg.Completion.Prompt.MaxSuffixChars
		ws.mu.Unlock()
	}
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// AddWorkspaceFolder records a workspace root (file paths in requests are
// relative to it) and tells the context source.
func (a *Agent) AddWorkspaceFolder(ctx context.Context, path string) error {
	a.mu.Lock()
	if !slices.Contains(a.folders, path) {
		a.folders = append(a.folders, path)
	}
	a.mu.Unlock()
	return a.ctxSrc.AddWorkspaceFolder(ctx, path)
}

// RemoveWorkspaceFolder forgets a workspace root.
func (a *Agent) RemoveWorkspaceFolder(path string) {
	a.mu.Lock()
	a.folders = slices.DeleteFunc(a.folders, func(f string) bool { return f == path })
	a.mu.Unlock()
}

// DidOpen starts tracking a document.
func (a *Agent) DidOpen(doc Document) {
	a.mu.Lock()
	a.docs[doc.URI] = &docState{language: doc.LanguageID}
	a.mu.Unlock()
	path := uriPath(doc.URI)
	if path != "" {
		a.repos.lookup(filepath.Dir(path)) // warm the cache off the hot path
	}
	a.ctxSrc.DidOpen(doc.URI, path, doc.LanguageID, doc.Text)
}

// DidChange records edits: the request in flight for the document is
// cancelled (its position is stale) and small edits feed the typing rhythm.
func (a *Agent) DidChange(doc Document, edits []gather.Edit) {
	a.mu.Lock()
	if st := a.docs[doc.URI]; st != nil && st.flight != nil {
		st.flight.cancel(errEdited)
		st.flight = nil
	}
	a.mu.Unlock()
	if len(edits) == 1 && edits[0].NewEndByte-edits[0].StartByte <= 2 && edits[0].OldEndByte-edits[0].StartByte <= 2 {
		a.debounce.keystroke(time.Now())
	}
	a.ctxSrc.DidChange(doc.URI, edits, doc.Text)
}

// DidClose stops tracking a document; a suggestion still shown is dismissed.
func (a *Agent) DidClose(uri string) {
	a.mu.Lock()
	if st := a.docs[uri]; st != nil {
		if st.flight != nil {
			st.flight.cancel(errEdited)
		}
		a.dismissLocked(st)
		delete(a.docs, uri)
	}
	a.mu.Unlock()
	a.ctxSrc.DidClose(uri)
}

// Complete answers one completion request. It returns an empty Result when
// there is nothing to show (including when a newer request or an edit
// superseded this one) and ctx's error when ctx was cancelled.
func (a *Agent) Complete(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	cfg := a.cfg.Load()
	doc := req.Document
	empty := &Result{}
	if req.Offset < 0 || req.Offset > len(doc.Text) {
		return empty, nil
	}
	if (cfg.Completion.Disabled != nil && *cfg.Completion.Disabled) || slices.Contains(cfg.Completion.Languages.Disabled, doc.LanguageID) {
		return empty, nil
	}

	// 1. Typing along the suggestion on screen: answer with the rest of it.
	a.mu.Lock()
	st := a.docs[doc.URI]
	if st == nil {
		a.mu.Unlock()
		return empty, nil
	}
	if st.last != nil {
		if rest, _, ok := st.last.continueAt(doc.Text, req.Offset); ok {
			id := st.last.id
			a.mu.Unlock()
			return a.result(id, rest, req.Offset, "typed-ahead", start, 0), nil
		}
		a.dismissLocked(st) // the suggestion on screen no longer applies
		st.last = nil
	}
	a.mu.Unlock()

	// 2. A position seen before.
	prefixWin, suffixWin := windows(doc.Text, req.Offset, cfg.Completion.Prompt.MaxPrefixChars, cfg.Completion.Prompt.MaxSuffixChars)
	key := a.cache.key(doc.URI, prefixWin, suffixWin)
	if e, ok := a.cache.get(key, start); ok {
		a.remember(doc, req.Offset, e.id, e.items)
		return a.result(e.id, e.items, req.Offset, "cache", start, 0), nil
	}

	// 3. The server: only when it is there.
	if !a.status.canRequest(start) {
		return empty, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	seq := a.startFlight(doc.URI, cancel)
	defer a.endFlight(doc.URI, seq)

	debounceStart := time.Now()
	if req.Trigger != Invoked {
		delay := a.debounce.delay(cfg.Completion.Debounce, spotAt(doc.Text, req.Offset))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return a.cancelled(ctx)
		case <-t.C:
		}
	}
	debounceEnd := time.Now()

	apiReq, err := a.buildRequest(ctx, cfg, doc, req.Offset, prefixWin, suffixWin)
	if err != nil {
		a.log.Debug("no completion", "uri", doc.URI, "err", err)
		return empty, nil
	}
	ppIn := postprocess.Input{Language: doc.LanguageID, Prefix: prefixWin, Suffix: suffixWin}
	httpOut := time.Now()
	resp, err := a.send(ctx, cfg, apiReq, ppIn)
	httpIn := time.Now()
	if ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded {
		return a.cancelled(ctx)
	}
	if st, ok := a.status.observe(httpIn.Sub(httpOut), err, httpIn); ok {
		a.setStatus(st)
	}
	if err != nil {
		a.log.Debug("completion failed", "uri", doc.URI, "err", err)
		return empty, nil
	}
	a.debounce.latency(httpIn.Sub(httpOut))

	var items []cachedItem
	for _, ch := range resp.Choices {
		ppIn.Completion = ch.Text
		out := postprocess.Process(ppIn)
		if out.Discarded || out.Text == "" {
			a.log.Debug("completion discarded", "reason", out.Reason)
			continue
		}
		items = append(items, cachedItem{Text: out.Text, ReplaceSuffixLen: out.ReplaceSuffixLen, Choice: ch.Index})
	}
	a.cache.put(key, resp.ID, items, httpIn)
	if len(items) == 0 {
		return &Result{Own: debounceStart.Sub(start) + httpOut.Sub(debounceEnd) + time.Since(httpIn)}, nil
	}
	a.remember(doc, req.Offset, resp.ID, items)
	return a.result(resp.ID, items, req.Offset, "server", httpIn, debounceStart.Sub(start)+httpOut.Sub(debounceEnd)), nil
}

// send makes the HTTP request, streaming unless configured not to, and stops
// the stream as soon as post-processing says the text is complete.
func (a *Agent) send(ctx context.Context, cfg *Config, req *api.CompletionRequest, pp postprocess.Input) (*api.CompletionResponse, error) {
	client := a.client.Load()
	if t := cfg.Timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	if cfg.Completion.Stream != nil && !*cfg.Completion.Stream {
		return client.Complete(ctx, req)
	}
	var text strings.Builder
	resp, err := client.CompleteStream(ctx, req, func(delta string) error {
		text.WriteString(delta)
		if strings.IndexByte(delta, '\n') < 0 {
			return nil
		}
		pp.Completion = text.String()
		if postprocess.Complete(pp) {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) && resp != nil {
		return resp, nil
	}
	return resp, err
}

// buildRequest fills the Tabby-schema request from the context source,
// falling back to the plain windows when it fails or is late. A document the
// context source excludes (secrets, keys) gets no request at all.
func (a *Agent) buildRequest(ctx context.Context, cfg *Config, doc Document, offset int, prefixWin, suffixWin string) (*api.CompletionRequest, error) {
	seg := &api.Segments{Prefix: prefixWin, Suffix: suffixWin}
	if _, isWindows := a.ctxSrc.(*WindowSource); !isWindows {
		gctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		g, err := a.ctxSrc.Gather(gctx, gather.Request{URI: doc.URI, Offset: offset,
			PrefixBudget: cfg.Completion.Prompt.MaxPrefixChars, SuffixBudget: cfg.Completion.Prompt.MaxSuffixChars})
		cancel()
		if errors.Is(err, gather.ErrExcluded) {
			return nil, err
		}
		if err == nil && (g.Prefix != "" || g.Suffix != "") {
			seg.Prefix, seg.Suffix = g.Prefix, g.Suffix
			seg.Declarations = g.Declarations
			seg.RelevantSnippetsFromChangedFiles = g.ChangedSnippets
			seg.RelevantSnippetsFromRecentlyOpenedFiles = g.OpenedSnippets
		} else if err != nil {
			a.log.Debug("context gathering failed", "err", err)
		}
	}
	if path := uriPath(doc.URI); path != "" {
		repo, _ := a.repos.lookup(filepath.Dir(path))
		seg.GitURL = repo.remoteURL
		seg.Filepath = a.relativePath(path, repo.root)
	}
	return &api.CompletionRequest{Language: doc.LanguageID, Segments: seg, MaxTokens: cfg.Completion.MaxTokens}, nil
}

// relativePath is path relative to the innermost workspace folder holding
// it, else to its repository, else its base name.
func (a *Agent) relativePath(path, repoRoot string) string {
	a.mu.Lock()
	best := ""
	for _, f := range a.folders {
		if len(f) > len(best) && isWithin(path, f) {
			best = f
		}
	}
	a.mu.Unlock()
	if best == "" && repoRoot != "" && isWithin(path, repoRoot) {
		best = repoRoot
	}
	if best != "" {
		if rel, err := filepath.Rel(best, path); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.Base(path)
}

func isWithin(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// result converts cached items at offset into a Result.
func (a *Agent) result(id string, items []cachedItem, offset int, source string, since time.Time, extra time.Duration) *Result {
	r := &Result{ID: id, Source: source, Items: make([]Item, 0, len(items))}
	for _, it := range items {
		r.Items = append(r.Items, Item{Text: it.Text, Start: offset, End: offset + it.ReplaceSuffixLen, Choice: it.Choice})
	}
	r.Own = time.Since(since) + extra
	return r
}

// remember makes items the document's suggestion for typed-ahead.
func (a *Agent) remember(doc Document, offset int, id string, items []cachedItem) {
	if len(items) == 0 {
		return
	}
	s := newSuggestion(id, doc.Text, offset, items)
	a.mu.Lock()
	if st := a.docs[doc.URI]; st != nil {
		st.last = s
	}
	a.mu.Unlock()
}

// startFlight cancels the document's request in flight and registers a new one.
func (a *Agent) startFlight(uri string, cancel context.CancelCauseFunc) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	st := a.docs[uri]
	if st == nil {
		return a.seq
	}
	if st.flight != nil {
		st.flight.cancel(errSuperseded)
	}
	st.flight = &flight{seq: a.seq, cancel: cancel}
	return a.seq
}

func (a *Agent) endFlight(uri string, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.docs[uri]; st != nil && st.flight != nil && st.flight.seq == seq {
		st.flight = nil
	}
}

// cancelled is the answer for a request whose context ended: an empty
// result when the agent itself superseded it, the context's error when the
// editor cancelled it.
func (a *Agent) cancelled(ctx context.Context) (*Result, error) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errSuperseded) || errors.Is(cause, errEdited) {
		return &Result{}, nil
	}
	return nil, ctx.Err()
}

// Shown records that the editor shows a suggestion (a "view" event).
func (a *Agent) Shown(uri, id string, choice int) {
	if id == "" {
		return
	}
	a.mu.Lock()
	st := a.docs[uri]
	var lang string
	if st != nil {
		if st.shown != nil && st.shown.id == id && st.shown.choice == choice {
			a.mu.Unlock()
			return // shown again while typing along it
		}
		a.dismissLocked(st)
		st.shown = &shown{id: id, choice: choice, at: time.Now()}
		lang = st.language
	}
	a.mu.Unlock()
	a.logEvent(&api.LogEventRequest{Type: api.EventView, CompletionID: id, ChoiceIndex: choice, Language: lang})
}

// Accepted records that the user accepted a suggestion: all of it, or with
// partial set a part of it (a line or a word; select_kind "line").
func (a *Agent) Accepted(uri, id string, choice int, partial bool) {
	if id == "" {
		return
	}
	ev := &api.LogEventRequest{Type: api.EventSelect, CompletionID: id, ChoiceIndex: choice}
	if partial {
		ev.SelectKind = "line"
	}
	a.mu.Lock()
	if st := a.docs[uri]; st != nil {
		ev.Language = st.language
		if st.shown != nil && st.shown.id == id {
			st.shown.accepted = true
			ms := time.Since(st.shown.at).Milliseconds()
			ev.Elapsed = &ms
		}
		if !partial {
			st.last = nil
		}
	}
	a.mu.Unlock()
	a.logEvent(ev)
}

// dismissLocked reports the shown suggestion as dismissed unless it was accepted.
func (a *Agent) dismissLocked(st *docState) {
	if st.shown == nil {
		return
	}
	if !st.shown.accepted {
		ms := time.Since(st.shown.at).Milliseconds()
		a.logEvent(&api.LogEventRequest{Type: api.EventDismiss, CompletionID: st.shown.id, ChoiceIndex: st.shown.choice, Elapsed: &ms, Language: st.language})
	}
	st.shown = nil
}

// logEvent queues an event; a full queue drops it (events never slow typing).
func (a *Agent) logEvent(ev *api.LogEventRequest) {
	select {
	case a.events <- ev:
	default:
		a.log.Debug("event dropped: queue full", "type", ev.Type)
	}
}

// sendEvents posts queued events until the agent stops.
func (a *Agent) sendEvents() {
	for {
		select {
		case <-a.life.Done():
			return
		case ev := <-a.events:
			ctx, cancel := context.WithTimeout(a.life, 5*time.Second)
			if err := a.client.Load().LogEvent(ctx, ev); err != nil {
				a.log.Debug("event not delivered", "type", ev.Type, "err", err)
			}
			cancel()
		}
	}
}

// setStatus changes the status; losing the server wakes the health checker.
func (a *Agent) setStatus(st Status) {
	a.status.set(st)
	if st.Kind != StatusReady && st.Kind != StatusSlow {
		a.kickHealth()
	}
}

func (a *Agent) kickHealth() {
	select {
	case a.healthKick <- struct{}{}:
	default:
	}
}

// healthLoop checks /v1/health at start, with backoff while the server is
// not usable, and now and then while it is.
func (a *Agent) healthLoop() {
	backoff := healthBackoff0
	select { // New's configuration kick: this first check covers it
	case <-a.healthKick:
	default:
	}
	for {
		ctx, cancel := context.WithTimeout(a.life, 3*time.Second)
		h, err := a.client.Load().Health(ctx)
		cancel()
		if a.life.Err() != nil {
			return
		}
		st := healthStatus(h, err)
		if cur := a.status.get(); st.Kind == StatusReady && (cur.Kind == StatusSlow || cur.Kind == StatusRateLimited && !a.status.canRequest(time.Now())) {
			st = cur // health says nothing about slowness or the rate limit
		}
		a.status.set(st)
		wait := healthReadyPoll
		if st.Kind == StatusReady || st.Kind == StatusSlow {
			backoff = healthBackoff0
		} else {
			wait = backoff
			backoff = min(backoff*2, healthBackoffMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-a.life.Done():
			t.Stop()
			return
		case <-a.healthKick:
			t.Stop()
		case <-t.C:
		}
	}
}

// uriPath returns the file system path of a file: URI, or "".
func uriPath(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return ""
	}
	return filepath.FromSlash(u.Path)
}

// isDecodeError reports an answer that was not the JSON it should be.
func isDecodeError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "decode")
}
