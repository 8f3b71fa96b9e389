package agent

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/servalhq/serval/context/gather"
)

// Warm-ups: when the user opens or focuses a document, or the cursor jumps
// to a new place and rests there, the editor tells the agent (Warm) and the
// agent asks the server to evaluate the prompt of that place without
// generating anything (api.CompletionRequest.Warmup), so the first
// suggestion there finds its prompt in the engine's cache instead of paying
// for a whole prompt evaluation. The server runs a warm-up only on a slot no
// real request wants. The agent keeps at most one warm-up, for the latest
// place: a newer one, any edit of its document and any completion request
// cancel it, and one whose document changed before it was sent is dropped.

// warmRest is how long the cursor must stay before the warm-up is sent: a
// jump followed at once by typing needs none (the completion is coming).
const warmRest = 150 * time.Millisecond

// warmRelatedWait bounds the warm-up's wait for the related context.
const warmRelatedWait = 3 * time.Second

// errWarmReplaced cancels a warm-up overtaken by newer work.
var errWarmReplaced = errors.New("warm-up replaced")

// warmer holds the warm-up in progress.
type warmer struct {
	mu     sync.Mutex
	uri    string
	cancel context.CancelCauseFunc
	seq    uint64
	// done, when set by a test, receives each warm-up's outcome.
	done func(uri string, err error)
}

// Warm asks the server to evaluate the prompt for a completion at offset in
// doc (bytes), after warmRest, unless something else happens first.
func (a *Agent) Warm(doc Document, offset int) {
	cfg := a.cfg.Load()
	if offset < 0 || offset > len(doc.Text) || cfg.Completion.Warmup != nil && !*cfg.Completion.Warmup ||
		cfg.Completion.Disabled != nil && *cfg.Completion.Disabled || slices.Contains(cfg.Completion.Languages.Disabled, doc.LanguageID) {
		return
	}
	ctx, cancel := context.WithCancelCause(a.life)
	a.warm.mu.Lock()
	if a.warm.cancel != nil {
		a.warm.cancel(errWarmReplaced)
	}
	a.warm.seq++
	seq := a.warm.seq
	a.warm.uri, a.warm.cancel = doc.URI, cancel
	a.warm.mu.Unlock()

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := a.warmUp(ctx, cfg, doc, offset)
		cancel(nil)
		a.warm.mu.Lock()
		if a.warm.seq == seq {
			a.warm.uri, a.warm.cancel = "", nil
		}
		done := a.warm.done
		a.warm.mu.Unlock()
		if done != nil {
			done(doc.URI, err)
		}
	}()
}

// stopWarm cancels the warm-up in progress when it is for uri ("" for any).
func (a *Agent) stopWarm(uri string, cause error) {
	a.warm.mu.Lock()
	defer a.warm.mu.Unlock()
	if a.warm.cancel != nil && (uri == "" || a.warm.uri == uri) {
		a.warm.cancel(cause)
		a.warm.uri, a.warm.cancel = "", nil
	}
}

// current reports whether doc is still the agent's version of the document.
func (a *Agent) current(doc Document) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.docs[doc.URI]
	return st != nil && st.version == doc.Version
}

func (a *Agent) warmUp(ctx context.Context, cfg *Config, doc Document, offset int) (err error) {
	t := time.NewTimer(warmRest)
	select {
	case <-ctx.Done():
		t.Stop()
		return context.Cause(ctx)
	case <-t.C:
	}
	if !a.current(doc) {
		return errEdited
	}
	if !a.status.canRequest(time.Now()) {
		return errors.New("server unavailable")
	}
	ctx, span := a.startWarmup(ctx)
	defer func() {
		if span.IsRecording() {
			endSpan(span, err)
		}
	}()
	// The context source's background work (the declarations of a
	// document just opened) would reach the first completion but not
	// this request, and the prompts would differ.
	sctx, cancel := context.WithTimeout(ctx, warmRelatedWait)
	err = a.ctxSrc.Settle(sctx, doc.URI)
	cancel()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err != nil {
		a.log.Debug("warm-up: context not settled", "uri", doc.URI, "err", err)
	}
	greq := gather.Request{URI: doc.URI, Offset: offset, Text: doc.Text,
		PrefixBudget: cfg.Completion.Prompt.MaxPrefixChars, SuffixBudget: cfg.Completion.Prompt.MaxSuffixChars}
	win, err := a.ctxSrc.Windows(ctx, greq)
	if err != nil {
		return err // gather.ErrExcluded: nothing of it may reach the server
	}
	// Off the keystroke path, the warm-up can wait for the context source
	// (the first parse of a document just opened): a completion there a
	// moment later finds it ready and must build the same prompt.
	req, err := a.buildRequest(ctx, cfg, doc, greq, win, warmRelatedWait)
	if err != nil {
		return err
	}
	if !a.current(doc) {
		return errEdited // changed while the context was gathered
	}
	req.Warmup = true
	if t := cfg.Timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	rctx, endRequest := a.traceRequest(ctx)
	_, err = a.client.Load().Complete(rctx, req)
	endRequest(err)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		a.log.Debug("warm-up failed", "uri", doc.URI, "err", err)
		return err
	}
	return nil
}
