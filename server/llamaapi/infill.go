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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// MaxBodyBytes bounds request bodies; larger ones get 413. llama.vim's extra
// context ring is a few dozen chunks of ~64 lines.
const MaxBodyBytes = 4 << 20

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
	if err := decode(w, r, &req); err != nil {
		h.fail(w, err)
		return
	}
	creq, err := completionRequest(&req)
	if err != nil {
		h.fail(w, err)
		return
	}

	// The service matches the template's and language's stop words; the
	// request's own are matched here, on what the service lets through.
	stops := prompt.NewStopMatcher(req.Stop)
	var content strings.Builder
	pieces := 0
	var events *eventWriter
	send := func(text string) error {
		if text == "" {
			return nil
		}
		pieces++
		content.WriteString(text)
		if events == nil {
			return nil
		}
		return events.send(InfillChunk{Content: text, Tokens: []int{}, TokensPredicted: pieces})
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
		events = &eventWriter{w: w}
	}
	res, err := h.Service.Complete(r.Context(), creq, stream)
	if res != nil && h.Observe != nil {
		h.Observe(res.Usage)
	}
	stopWord := ""
	switch {
	case errors.Is(err, errStopWord):
		stopWord = stops.Matched()
		res.Usage.StopReason = "stop"
	case err != nil:
		if events != nil && events.started {
			if !errors.Is(err, context.Canceled) {
				events.send(errorBody(err))
			}
			return
		}
		h.fail(w, err)
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
		events.send(selectFields(out, req.ResponseFields))
		return
	}
	writeJSON(w, http.StatusOK, selectFields(out, req.ResponseFields))
}

// completionRequest maps an /infill request onto serval's completion request.
func completionRequest(req *InfillRequest) (*completion.Request, error) {
	if req.InputPrefix == nil {
		return nil, badRequest(`"input_prefix" is required`)
	}
	if req.InputSuffix == nil {
		return nil, badRequest(`"input_suffix" is required`)
	}
	if req.ReturnTokens {
		return nil, badRequest(`"return_tokens" is not supported: serval does not expose token ids`)
	}
	creq := &completion.Request{Temperature: req.Temperature}
	creq.Prefix, creq.Suffix = *req.InputPrefix+req.Prompt, *req.InputSuffix
	for i, c := range req.InputExtra {
		if c.Text == nil {
			return nil, badRequest(fmt.Sprintf(`input_extra[%d]: extra_context chunk must contain a "text" field with a string value`, i))
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
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	per := func(d time.Duration, n int) (perToken, perSecond float64) {
		if n == 0 || d <= 0 {
			return 0, 0
		}
		return ms(d) / float64(n), float64(n) / d.Seconds()
	}
	t := Timings{CacheN: u.ReusedTokens, PromptN: u.EvaluatedTokens, PromptMS: ms(u.PromptEval),
		PredictedN: u.GeneratedTokens, PredictedMS: ms(u.Generation)}
	t.PromptPerTokenMS, t.PromptPerSecond = per(u.PromptEval, u.EvaluatedTokens)
	t.PredictedPerTokenMS, t.PredictedPerSecond = per(u.Generation, u.GeneratedTokens)
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
		Timings:         t,
	}
}

// stopType names why generation ended the way llama-server does.
func stopType(reason string) string {
	switch reason {
	case "eos":
		return "eos"
	case "max_tokens":
		return "limit"
	case "stop":
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

// requestError is an error with its HTTP status and llama-server error type.
type requestError struct {
	code int
	typ  string
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) error {
	return &requestError{http.StatusBadRequest, "invalid_request_error", msg}
}

// decode reads one JSON object into v; errors are 400s naming the problem, or 413.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	err := dec.Decode(v)
	var (
		mbe *http.MaxBytesError
		typ *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return &requestError{http.StatusRequestEntityTooLarge, "invalid_request_error", fmt.Sprintf("body: larger than the %d-byte limit", MaxBodyBytes)}
	case errors.Is(err, io.EOF):
		return badRequest("body: empty; expected a JSON object")
	case errors.As(err, &typ) && typ.Field != "":
		return badRequest(fmt.Sprintf("%q must be %s, got JSON %s", typ.Field, typ.Type, typ.Value))
	default:
		return badRequest("body: " + err.Error())
	}
}

// errorBody maps err to llama-server's error shape and status.
func errorBody(err error) ErrorResponse {
	var (
		re *requestError
		fe *prompt.FieldError
	)
	switch {
	case errors.As(err, &re):
		return ErrorResponse{ErrorBody{re.code, re.msg, re.typ}}
	case errors.As(err, &fe):
		return ErrorResponse{ErrorBody{http.StatusBadRequest, fe.Error(), "invalid_request_error"}}
	case errors.Is(err, engine.ErrPromptTooLong):
		return ErrorResponse{ErrorBody{http.StatusBadRequest, err.Error(), "exceed_context_size_error"}}
	case errors.Is(err, engine.ErrQueueFull), errors.Is(err, engine.ErrUnavailable):
		return ErrorResponse{ErrorBody{http.StatusServiceUnavailable, err.Error(), "unavailable_error"}}
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorResponse{ErrorBody{http.StatusRequestTimeout, "completion timed out", "server_error"}}
	default:
		return ErrorResponse{ErrorBody{http.StatusInternalServerError, err.Error(), "server_error"}}
	}
}

// fail writes err as llama-server's error body with its status.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away: nobody reads an answer
	}
	body := errorBody(err)
	if body.Error.Code == http.StatusInternalServerError && h.Log != nil {
		h.Log.Error("infill failed", "err", err)
	}
	if body.Error.Code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, body.Error.Code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// eventWriter writes server-sent events as llama-server does for /infill:
// "data: {json}" lines, no closing [DONE]. The response starts with the first
// event, so an error before any text still gets a real status.
type eventWriter struct {
	w       http.ResponseWriter
	started bool
}

func (e *eventWriter) send(v any) error {
	if !e.started {
		e.started = true
		h := e.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		e.w.WriteHeader(http.StatusOK)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return http.NewResponseController(e.w).Flush()
}
