package agent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/servalhq/serval/agent/postprocess"
	"github.com/servalhq/serval/context/gather"
	"github.com/servalhq/serval/server/api"
)

// relatedWait is how long a completion waits for the related context (a
// late context source is left out rather than delay the suggestion).
const relatedWait = 200 * time.Millisecond

// Reasons a request ends early without an error for the editor.
var (
	errSuperseded = errors.New("superseded by a newer request")
	errEdited     = errors.New("the document changed")
)

// Suggest answers one completion request. It returns an empty Result when
// there is nothing to show (including when a newer request or an edit
// superseded this one) and ctx's error when ctx was cancelled.
func (a *Agent) Suggest(ctx context.Context, req Request) (res *Result, err error) {
	start := time.Now()
	ctx, span := a.startCompletion(ctx)
	if span.IsRecording() {
		defer func() { endCompletion(span, req.Document.LanguageID, res, err) }()
	}
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
	// A request for several candidates (cycling) is not answered with a
	// suggestion that has one.
	if st.last != nil && (req.Candidates <= 1 || st.last.several) {
		if rest, _, ok := st.last.continueAt(doc.Text, req.Offset); ok {
			id := st.last.id
			a.mu.Unlock()
			return a.result(id, rest, req.Offset, "typed-ahead", start, 0), nil
		}
		a.dismissLocked(st) // the suggestion on screen no longer applies
		st.last = nil
	}
	a.mu.Unlock()

	// 2. A position seen before. The windows, cut once, are the cache key,
	// the request's prefix and suffix and post-processing's input.
	greq := gather.Request{URI: doc.URI, Offset: req.Offset, Text: doc.Text,
		PrefixBudget: cfg.Completion.Prompt.MaxPrefixChars, SuffixBudget: cfg.Completion.Prompt.MaxSuffixChars}
	win, err := a.ctxSrc.Windows(ctx, greq)
	if err != nil {
		// gather.ErrExcluded: nothing of the document may reach the server.
		a.log.DebugContext(ctx, "no completion", "uri", doc.URI, "err", err)
		return empty, nil
	}
	// A request for several candidates is cached apart from the
	// one-candidate answers of typing.
	candidates := max(1, min(req.Candidates, InvokedCandidates))
	key := a.cache.key(doc.URI, win.Prefix, win.Suffix, candidates)
	if e, ok := a.cache.get(key, start); ok {
		a.remember(doc, req.Offset, e.id, e.items, candidates > 1)
		return a.result(e.id, e.items, req.Offset, "cache", start, 0), nil
	}

	// 3. The server: only when it is there. A real request replaces any
	// warm-up (the server would take its slot anyway).
	if !a.status.canRequest(start) {
		return empty, nil
	}
	a.stopWarm("", errWarmReplaced)
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
	a.traceSpan(ctx, "debounce", debounceStart, debounceEnd)

	apiReq, err := a.buildRequest(ctx, cfg, doc, greq, win, relatedWait)
	if err != nil {
		a.log.DebugContext(ctx, "no completion", "uri", doc.URI, "err", err)
		return empty, nil
	}
	if candidates > 1 {
		apiReq.N = candidates
	}
	ppIn := postprocess.Input{Language: doc.LanguageID, Prefix: win.Prefix, Suffix: win.Suffix}
	httpOut := time.Now()
	a.traceSpan(ctx, "context", debounceEnd, httpOut)
	reqCtx, endRequest := a.traceRequest(ctx)
	resp, err := a.send(reqCtx, cfg, apiReq, ppIn)
	endRequest(err)
	httpIn := time.Now()
	if ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded {
		return a.cancelled(ctx)
	}
	if st, ok := a.status.observe(httpIn.Sub(httpOut), err, httpIn); ok {
		a.setStatus(st)
	}
	if err != nil {
		a.log.DebugContext(ctx, "completion failed", "uri", doc.URI, "err", err)
		return empty, nil
	}
	a.debounce.latency(httpIn.Sub(httpOut))

	var items []cachedItem
	for _, ch := range resp.Choices {
		ppIn.Completion = ch.Text
		out := postprocess.Process(ppIn)
		if out.Discarded || out.Text == "" {
			a.log.DebugContext(ctx, "completion discarded", "reason", out.Reason, "choice", ch.Index)
			if span.IsRecording() {
				span.SetAttributes(attrDiscarded.String(out.Reason))
			}
			continue
		}
		items = addDistinct(items, cachedItem{Text: out.Text, ReplaceSuffixLen: out.ReplaceSuffixLen, Choice: ch.Index})
	}
	a.traceSpan(ctx, "postprocess", httpIn, time.Now())
	a.cache.put(key, resp.ID, items, httpIn)
	if a.log.Enabled(ctx, slog.LevelDebug) { // the trace id joins this line to the server's
		a.log.DebugContext(ctx, "completion answered", "id", resp.ID, "items", len(items), "server_ms", httpIn.Sub(httpOut).Milliseconds())
	}
	if len(items) == 0 {
		return &Result{AgentTime: debounceStart.Sub(start) + httpOut.Sub(debounceEnd) + time.Since(httpIn)}, nil
	}
	a.remember(doc, req.Offset, resp.ID, items, candidates > 1)
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
	// Several candidates come as one JSON answer (the server does not
	// stream them).
	if (cfg.Completion.Stream != nil && !*cfg.Completion.Stream) || req.N > 1 {
		return client.Complete(ctx, req)
	}
	var text strings.Builder
	return client.CompleteStream(ctx, req, func(delta string) (stop bool) {
		text.WriteString(delta)
		if strings.IndexByte(delta, '\n') < 0 {
			return false
		}
		pp.Completion = text.String()
		return postprocess.Finished(pp)
	})
}

// buildRequest fills the Tabby-schema request: the windows, the related
// context from the context source (left out when it fails or is late), the
// file's path and repository. A document the context source excludes
// (secrets, keys) gets no request at all.
func (a *Agent) buildRequest(ctx context.Context, cfg *Config, doc Document, greq gather.Request, win gather.Windows, wait time.Duration) (*api.CompletionRequest, error) {
	seg := &api.Segments{Prefix: win.Prefix, Suffix: win.Suffix}
	gctx, cancel := context.WithTimeout(ctx, wait)
	rel, err := a.ctxSrc.Related(gctx, greq)
	cancel()
	if errors.Is(err, gather.ErrExcluded) {
		return nil, err
	}
	if err != nil {
		a.log.Debug("context gathering failed", "err", err)
	}
	seg.Declarations = apiDeclarations(rel.Declarations)
	seg.RelevantSnippetsFromChangedFiles = apiSnippets(rel.ChangedSnippets)
	seg.RelevantSnippetsFromRecentlyOpenedFiles = apiSnippets(rel.OpenedSnippets)
	if path := FilePath(doc.URI); path != "" {
		repo, _ := a.repos.lookup(filepath.Dir(path))
		seg.GitURL = repo.remoteURL
		seg.Filepath = a.relativePath(path, repo.root)
	}
	return &api.CompletionRequest{Language: doc.LanguageID, Segments: seg, MaxTokens: cfg.Completion.MaxTokens}, nil
}

// result converts cached items at offset into a Result.
func (a *Agent) result(id string, items []cachedItem, offset int, source string, since time.Time, extra time.Duration) *Result {
	r := &Result{ID: id, Source: source, Items: make([]Item, 0, len(items))}
	for _, it := range items {
		r.Items = append(r.Items, Item{Text: it.Text, Start: offset, End: offset + it.ReplaceSuffixLen, Choice: it.Choice})
	}
	r.AgentTime = time.Since(since) + extra
	return r
}

// InvokedCandidates is how many candidates an explicit request (the user
// invoked completion, or cycles through the suggestions) asks the server
// for.
const InvokedCandidates = 3

// addDistinct appends it to items unless an earlier item is the same
// (candidates that post-process to one text): cycling never shows the
// same text twice.
func addDistinct(items []cachedItem, it cachedItem) []cachedItem {
	if slices.ContainsFunc(items, func(o cachedItem) bool { return o.Text == it.Text && o.ReplaceSuffixLen == it.ReplaceSuffixLen }) {
		return items
	}
	return append(items, it)
}

// remember makes items the document's suggestion for typed-ahead; several
// says it answers an explicit request for several candidates.
func (a *Agent) remember(doc Document, offset int, id string, items []cachedItem, several bool) {
	if len(items) == 0 {
		return
	}
	s := newSuggestion(id, doc.Text, offset, items)
	s.several = several
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

// apiDeclarations converts the context layer's declarations to the wire type.
func apiDeclarations(ds []gather.Declaration) []api.Declaration {
	if len(ds) == 0 {
		return nil
	}
	out := make([]api.Declaration, len(ds))
	for i, d := range ds {
		out[i] = api.Declaration{Filepath: d.Filepath, Body: d.Body}
	}
	return out
}

// apiSnippets converts the context layer's snippets to the wire type.
func apiSnippets(ss []gather.Snippet) []api.Snippet {
	if len(ss) == 0 {
		return nil
	}
	out := make([]api.Snippet, len(ss))
	for i, s := range ss {
		out[i] = api.Snippet{Filepath: s.Filepath, Body: s.Body, Score: s.Score}
	}
	return out
}
