package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/prompt"
)

// handleCompletions serves POST /v1/completions: plain JSON, or server-sent
// events when the body says "stream": true.
func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	start := requestStart(r)
	var req api.CompletionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	creq, err := completionRequest(&req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	creq.Client, creq.Session = auth.QueueClient(r)
	if req.Warmup {
		s.warm(w, r, &req, creq)
		return
	}
	var sse *completionEvents
	var stream completion.Stream
	if req.Stream {
		sse = &completionEvents{httpx.NewEvents(w)}
		stream = sse.delta
	}
	res, err := s.svc.Answer(r.Context(), creq, stream)
	if res != nil {
		s.metrics.observeCompletion(res.Usage)
	}
	if err != nil {
		if sse != nil && sse.Started() {
			sse.fail(err)
			return
		}
		s.fail(w, r, err)
		return
	}
	var debug *api.DebugData
	if req.DebugOptions != nil {
		debug = debugData(&req, res, time.Since(start))
	}
	if sse != nil {
		sse.finish(res.ID, debug)
		return
	}
	writeJSON(w, http.StatusOK, api.CompletionResponse{
		ID:        res.ID,
		Choices:   choices(res),
		DebugData: debug,
	})
}

// choices are the answer's candidates: the first always (Tabby's clients
// read choices[0]), then each other one that is neither empty nor the same
// as an earlier one, with its own index (events name it as choice_index).
func choices(res *completion.Result) []api.Choice {
	out := []api.Choice{{Index: 0, Text: res.Text}}
	for i, text := range res.Candidates {
		if i == 0 || text == "" || slices.ContainsFunc(out, func(c api.Choice) bool { return c.Text == text }) {
			continue
		}
		out = append(out, api.Choice{Index: i, Text: text})
	}
	return out
}

func debugData(req *api.CompletionRequest, res *completion.Result, total time.Duration) *api.DebugData {
	d := &api.DebugData{Timing: timing(res.Usage, total), Usage: usage(res.Usage)}
	if req.DebugOptions.ReturnPrompt {
		d.Prompt = res.Prompt.Text
	}
	if req.DebugOptions.ReturnSnippets {
		d.Snippets = make([]api.Snippet, len(res.Prompt.Snippets))
		for i, sn := range res.Prompt.Snippets {
			d.Snippets[i] = api.Snippet{Filepath: sn.Filepath, Body: sn.Body, Score: sn.Score}
		}
	}
	return d
}

// completionRequest converts the wire request into the service's, checking
// what only the wire has: the mode, and segments (or a raw prompt).
func completionRequest(req *api.CompletionRequest) (*completion.Request, error) {
	switch req.Mode {
	case "", "standard", "next_edit_suggestion":
	default:
		return nil, &prompt.FieldError{Field: "mode", Reason: fmt.Sprintf("unknown mode %q (want standard or next_edit_suggestion)", req.Mode)}
	}
	c := &completion.Request{Temperature: req.Temperature, Seed: req.Seed, Candidates: req.N}
	c.Language, c.MaxTokens = req.Language, req.MaxTokens
	if d := req.DebugOptions; d != nil {
		c.RawPrompt, c.NoSnippets = d.RawPrompt, d.DisableRetrievalAugmentedCodeCompletion
	}
	seg := req.Segments
	if seg == nil {
		if c.RawPrompt == "" {
			return nil, &prompt.FieldError{Field: "segments.prefix", Reason: "required (or debug_options.raw_prompt)"}
		}
		return c, nil
	}
	c.Filepath, c.Prefix, c.Suffix = seg.Filepath, seg.Prefix, seg.Suffix
	for _, d := range seg.Declarations {
		c.Declarations = append(c.Declarations, prompt.Snippet{Filepath: d.Filepath, Body: d.Body})
	}
	c.ChangedSnippets = promptSnippets(seg.RelevantSnippetsFromChangedFiles)
	c.OpenedSnippets = promptSnippets(seg.RelevantSnippetsFromRecentlyOpenedFiles)
	return c, nil
}

func promptSnippets(ss []api.Snippet) []prompt.Snippet {
	if len(ss) == 0 {
		return nil
	}
	out := make([]prompt.Snippet, len(ss))
	for i, s := range ss {
		out[i] = prompt.Snippet{Filepath: s.Filepath, Body: s.Body, Score: s.Score}
	}
	return out
}

// timing breaks total (the request's whole time in the server) into the
// engine's parts and the server's own overhead, in milliseconds.
func timing(u engine.Usage, total time.Duration) *api.Timing {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	overhead := total - u.QueueWait - u.PromptEval - u.Generation
	if overhead < 0 {
		overhead = 0
	}
	return &api.Timing{
		QueueMS:      ms(u.QueueWait),
		PromptEvalMS: ms(u.PromptEval),
		GenerationMS: ms(u.Generation),
		OverheadMS:   ms(overhead),
		TotalMS:      ms(total),
	}
}

// usage converts the engine's counts to the wire type.
func usage(u engine.Usage) *api.Usage {
	return &api.Usage{
		PromptTokens:    u.PromptTokens,
		ReusedTokens:    u.ReusedTokens,
		EvaluatedTokens: u.EvaluatedTokens,
		GeneratedTokens: u.GeneratedTokens,
	}
}

// fail writes err as a JSON error with the status it maps to (httpx.FromError).
// A client that went away gets nothing.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.FromError(r, err, "segments")
	if e.Status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	}
	httpx.WriteError(w, httpx.Tabby, e)
}

// completionEvents streams a completion as Tabby's events.
type completionEvents struct{ *httpx.Events }

func (e completionEvents) delta(id, text string) error {
	return e.Send(api.StreamEvent{ID: id, Choices: []api.Choice{{Index: 0, Text: text}}})
}

func (e completionEvents) finish(id string, debug *api.DebugData) {
	if debug != nil {
		e.Send(api.StreamEvent{ID: id, Choices: []api.Choice{}, DebugData: debug})
	}
	e.Done()
}

// fail ends a started stream with an error event (no [DONE]).
func (e completionEvents) fail(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	e.Send(api.StreamEvent{Choices: []api.Choice{}, Error: err.Error()})
}
