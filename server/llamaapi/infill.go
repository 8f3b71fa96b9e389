// Package llamaapi serves llama.cpp server's native /infill route from serval,
// so that llama.cpp's own editor clients (llama.vim, llama.vscode) work against
// serval unchanged: the same request fields (input_prefix, input_suffix,
// input_extra chunks, prompt, n_predict, stop, stream, response_fields), the
// API key as a Bearer token (serval's token auth), and the same response
// fields (content, stop, timings, tokens, ...). Requests run through the same
// completion path as Tabby's /v1/completions: serval's FIM template, prompt
// budget, stop words and prompt cache.
package llamaapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/prompt"
)

// MaxBodyBytes bounds request bodies; larger ones get 413. It is the 1 MiB
// of every other route: llama.vim's extra context ring (16 chunks of 64
// lines by default) is about 100 KB, and the prompt keeps only what fits
// the context window anyway.
const MaxBodyBytes = 1 << 20

// Bounds of a request's own stop strings (llama.vim sends a handful).
const (
	MaxStops     = 64
	MaxStopBytes = 256
)

// Handler serves POST /infill.
type Handler struct {
	Service *completion.Service // required
	Model   string              // reported in "model"
	// Observe, when set, is told about every finished generation (metrics).
	Observe func(u engine.Usage)
	Log     *slog.Logger
}

// Register mounts /infill on mux; wrap adds auth and metrics.
func (h *Handler) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("POST /infill", wrap(http.HandlerFunc(h.infill)))
}

// errStopWord ends generation when one of the request's own stop words completed.
var errStopWord = errors.New("llamaapi: stop word reached")

func (h *Handler) infill(w http.ResponseWriter, r *http.Request) {
	var req InfillRequest
	if err := httpx.Decode(w, r, MaxBodyBytes, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	creq, err := completionRequest(&req)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	// The service matches the template's and language's stop words; the
	// request's own are matched here, on what the service lets through.
	stops := prompt.NewStopMatcher(req.Stop)
	var content strings.Builder
	pieces := 0
	var events *httpx.Events
	send := func(text string) error {
		if text == "" {
			return nil
		}
		pieces++
		content.WriteString(text)
		if events == nil {
			return nil
		}
		return events.Send(InfillChunk{Content: text, Tokens: []int{}, TokensPredicted: pieces})
	}
	stream := func(_, delta string) error {
		out, stopped := stops.Push(delta)
		if err := send(out); err != nil {
			return err
		}
		if stopped {
			return errStopWord
		}
		return nil
	}
	if req.Stream {
		events = httpx.NewEvents(w)
	}
	creq.Client, creq.Session = auth.QueueClient(r)
	res, err := h.Service.Answer(r.Context(), creq, stream)
	if res != nil && h.Observe != nil {
		h.Observe(res.Usage)
	}
	stopWord := ""
	switch {
	case errors.Is(err, errStopWord):
		stopWord = stops.Matched()
		res.Usage.StopReason = engine.StopWord
	case err != nil:
		if events != nil && events.Started() {
			if r.Context().Err() == nil {
				events.Send(httpx.ErrorBody(httpx.Llama, httpx.FromError(r, err, "input_prefix")))
			}
			return
		}
		h.fail(w, r, err)
		return
	default:
		if err := send(stops.Flush()); err != nil {
			return
		}
		stopWord = res.StopWord
	}

	out := response(res, content.String(), stopWord, h.Model)
	if events != nil {
		// As llama-server: the last event carries the totals; the text
		// went out in the chunks before it.
		out.Content = ""
		// No [DONE]: llama-server ends its /infill stream without one.
		events.Send(selectFields(out, req.ResponseFields))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, selectFields(out, req.ResponseFields))
}

// completionRequest maps an /infill request onto serval's completion request.
func completionRequest(req *InfillRequest) (*completion.Request, error) {
	if req.InputPrefix == nil {
		return nil, httpx.BadRequest("input_prefix", `"input_prefix" is required`)
	}
	if req.InputSuffix == nil {
		return nil, httpx.BadRequest("input_suffix", `"input_suffix" is required`)
	}
	// The stop matcher is built before the request waits for a slot: half a
	// million stop strings made it take 118 MB per request, even for one
	// then refused with 503 (issue 27, M3).
	if len(req.Stop) > MaxStops {
		return nil, httpx.BadRequest("stop", fmt.Sprintf(`"stop": at most %d strings`, MaxStops))
	}
	for _, st := range req.Stop {
		if len(st) > MaxStopBytes {
			return nil, httpx.BadRequest("stop", fmt.Sprintf(`"stop": each at most %d bytes`, MaxStopBytes))
		}
	}
	if req.ReturnTokens {
		return nil, httpx.BadRequest("return_tokens", `"return_tokens" is not supported: serval does not expose token ids`)
	}
	creq := &completion.Request{Temperature: req.Temperature}
	creq.Prefix, creq.Suffix = *req.InputPrefix+req.Prompt, *req.InputSuffix
	for i, c := range req.InputExtra {
		if c.Text == nil {
			return nil, httpx.BadRequest("input_extra", fmt.Sprintf(`input_extra[%d]: extra_context chunk must contain a "text" field with a string value`, i))
		}
		// llama.cpp keeps the chunks nearest the end when the context is
		// short: later chunks are the more relevant ones.
		creq.OpenedSnippets = append(creq.OpenedSnippets,
			prompt.Snippet{Filepath: c.Filename, Body: *c.Text, Score: float64(i+1) / float64(len(req.InputExtra))})
	}
	if req.NPredict != nil && *req.NPredict > 0 {
		// llama-server's n_predict is unbounded; serval's output budget is not.
		creq.MaxTokens = min(*req.NPredict, completion.MaxOutputLimit)
	}
	if req.Seed != nil && *req.Seed >= 0 {
		seed := uint32(*req.Seed)
		creq.Seed = &seed
	}
	return creq, nil
}

// response builds the final answer from a finished completion.
func response(res *completion.Result, content, stopWord, model string) InfillResponse {
	u := res.Usage
	return InfillResponse{
		Content:         content,
		Tokens:          []int{},
		Stop:            true,
		Model:           model,
		TokensPredicted: u.GeneratedTokens,
		TokensEvaluated: u.PromptTokens,
		Prompt:          res.Prompt.Text,
		HasNewLine:      strings.Contains(content, "\n"),
		Truncated:       res.Prompt.PrefixTruncated || res.Prompt.SuffixTruncated,
		StopType:        stopType(u.StopReason),
		StoppingWord:    stopWord,
		TokensCached:    u.PromptTokens + u.GeneratedTokens,
		Timings:         httpx.TimingsOf(u),
	}
}

// stopType names why generation ended the way llama-server does.
func stopType(reason string) string {
	switch reason {
	case engine.StopEOS:
		return "eos"
	case engine.StopMaxTokens:
		return "limit"
	case engine.StopWord:
		return "word"
	default:
		return "none"
	}
}

// selectFields applies llama-server's response_fields: only the listed
// fields, nested ones named by a path such as "timings/prompt_n" and keyed by
// that path. Paths that name nothing are left out, as llama-server does.
func selectFields(v any, paths []string) any {
	if len(paths) == 0 {
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return v
	}
	out := make(map[string]any, len(paths))
	for _, path := range paths {
		var cur any = all
		found := true
		for _, key := range strings.Split(path, "/") {
			obj, ok := cur.(map[string]any)
			if !ok {
				found = false
				break
			}
			if cur, ok = obj[key]; !ok {
				found = false
				break
			}
		}
		if found {
			out[path] = cur
		}
	}
	return out
}

// fail writes err as llama-server's error body with its status.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.FromError(r, err, "input_prefix")
	if e.Status == http.StatusInternalServerError && h.Log != nil {
		h.Log.Error("infill failed", "err", err)
	}
	httpx.WriteError(w, httpx.Llama, e)
}
