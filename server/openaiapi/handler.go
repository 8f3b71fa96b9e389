// Package openaiapi serves the OpenAI-compatible API: /openai/v1/completions,
// /openai/v1/chat/completions and /openai/v1/models, so that OpenAI clients
// and other serval instances can use serval as an upstream, and Tabby's
// /v1/chat/completions, which has the same shape. Handlers parse and validate
// once, make one engine call, and write the answer (whole or as server-sent
// events ending with [DONE]).
package openaiapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// MaxBodyBytes bounds request bodies; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Handler serves the OpenAI-compatible routes.
type Handler struct {
	Completion       engine.Engine // nil: completions answer 501
	CompletionModel  string
	Chat             engine.ChatEngine // nil: chat answers 501
	ChatModel        string
	DefaultMaxTokens int // when a request gives none; 0 means 256
	// Observe, when set, is told about every finished generation (metrics).
	Observe func(route string, u engine.Usage, err error)
	Log     *slog.Logger
}

// Register mounts the routes on mux; wrap adds auth and rate limits.
func (h *Handler) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("POST /openai/v1/completions", wrap(http.HandlerFunc(h.completions)))
	mux.Handle("POST /openai/v1/chat/completions", wrap(http.HandlerFunc(h.chat)))
	mux.Handle("POST /v1/chat/completions", wrap(http.HandlerFunc(h.chat)))
	mux.Handle("GET /openai/v1/models", wrap(http.HandlerFunc(h.models)))
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func (h *Handler) maxTokens(asked *int) int {
	if asked != nil && *asked > 0 {
		return *asked
	}
	if h.DefaultMaxTokens > 0 {
		return h.DefaultMaxTokens
	}
	return 256
}

func (h *Handler) completions(w http.ResponseWriter, r *http.Request) {
	if h.Completion == nil {
		writeError(w, http.StatusNotImplemented, "no completion model is configured", "")
		return
	}
	var req CompletionRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Prompt) != 1 {
		writeError(w, http.StatusBadRequest, "prompt must be one string", "prompt")
		return
	}
	ereq := engine.Request{
		Prompt:      req.Prompt[0],
		MaxTokens:   h.maxTokens(req.MaxTokens),
		Temperature: deref(req.Temperature, 1),
		TopP:        deref(req.TopP, 1),
		Seed:        deref(req.Seed, 0),
		Stop:        req.Stop,
	}
	gen := func(emit engine.Emit) (engine.Usage, error) {
		return h.Completion.Complete(r.Context(), ereq, emit)
	}
	id := "cmpl-" + randomID()
	model := orDefault(req.Model, h.CompletionModel)
	chunk := func(text string, finish *string) any {
		return Completion{ID: id, Object: "text_completion", Created: time.Now().Unix(), Model: model,
			Choices: []CompletionChoice{{Text: text, FinishReason: finish}}}
	}
	whole := func(text string, finish string, u *Usage) any {
		return Completion{ID: id, Object: "text_completion", Created: time.Now().Unix(), Model: model,
			Choices: []CompletionChoice{{Text: text, FinishReason: &finish}}, Usage: u}
	}
	h.serve(w, r, "completions", req.Stream, req.Stop, gen, nil, chunk, whole)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	if h.Chat == nil {
		writeError(w, http.StatusNotImplemented, "no chat model is configured: start serval with --chat-model", "")
		return
	}
	var req ChatRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "messages must not be empty", "messages")
		return
	}
	creq := engine.ChatRequest{
		MaxTokens:   h.maxTokens(req.MaxTokens),
		Temperature: deref(req.Temperature, 0.7),
		TopP:        deref(req.TopP, 1),
		Seed:        deref(req.Seed, 0),
		Stop:        req.Stop,
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("messages[%d].role %q is not one of system, user, assistant", i, m.Role), fmt.Sprintf("messages[%d].role", i))
			return
		}
		creq.Messages = append(creq.Messages, engine.Message{Role: m.Role, Content: string(m.Content)})
	}
	gen := func(emit engine.Emit) (engine.Usage, error) {
		return h.Chat.Chat(r.Context(), creq, emit)
	}
	id := "chatcmpl-" + randomID()
	model := orDefault(req.Model, h.ChatModel)
	chunk := func(text string, finish *string) any {
		return ChatCompletion{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: model,
			Choices: []ChatChoice{{Delta: &ChatResponse{Content: text}, FinishReason: finish}}}
	}
	first := ChatCompletion{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: model,
		Choices: []ChatChoice{{Delta: &ChatResponse{Role: "assistant"}}}}
	whole := func(text string, finish string, u *Usage) any {
		return ChatCompletion{ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: model,
			Choices: []ChatChoice{{Message: &ChatResponse{Role: "assistant", Content: text}, FinishReason: &finish}}, Usage: u}
	}
	h.serve(w, r, "chat", req.Stream, req.Stop, gen, first, chunk, whole)
}

// serve runs one generation, matching the request's stop words on the
// stream, and writes it whole or as server-sent events. An error before the
// first byte gets a real status; after it, an error event ends the stream.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, route string, stream bool, stops []string,
	gen func(engine.Emit) (engine.Usage, error), first any,
	chunk func(text string, finish *string) any, whole func(text, finish string, u *Usage) any) {
	matcher := prompt.NewStopMatcher(stops)
	var text strings.Builder
	started := false
	var sse *eventWriter
	emit := func(delta string) error {
		out, stopped := matcher.Push(delta)
		if out != "" {
			if stream {
				if !started {
					sse = startEvents(w)
					started = true
					if first != nil {
						if err := sse.send(first); err != nil {
							return err
						}
					}
				}
				if err := sse.send(chunk(out, nil)); err != nil {
					return err
				}
			} else {
				text.WriteString(out)
			}
		}
		if stopped {
			return errStopWord
		}
		return nil
	}
	u, err := gen(emit)
	if errors.Is(err, errStopWord) {
		err, u.StopReason = nil, "stop"
	}
	if h.Observe != nil {
		h.Observe(route, u, err)
	}
	if err == nil {
		if rest := matcher.Flush(); rest != "" {
			if stream {
				if !started {
					sse, started = startEvents(w), true
					if first != nil {
						sse.send(first)
					}
				}
				sse.send(chunk(rest, nil))
			} else {
				text.WriteString(rest)
			}
		}
	}
	if r.Context().Err() != nil {
		return // the client went away: nobody to answer
	}
	finish := "stop"
	if u.StopReason == "max_tokens" {
		finish = "length"
	}
	usage := &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.GeneratedTokens, TotalTokens: u.PromptTokens + u.GeneratedTokens}
	if !stream {
		if err != nil {
			h.writeEngineError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, whole(text.String(), finish, usage))
		return
	}
	if err != nil && !started {
		h.writeEngineError(w, err)
		return
	}
	if !started {
		sse = startEvents(w)
		if first != nil {
			sse.send(first)
		}
	}
	if err != nil {
		h.logger().Warn("generation failed mid-stream", "route", route, "err", err)
		sse.send(Error{Error: ErrorBody{Message: err.Error(), Type: "server_error"}})
	} else {
		last := chunk("", &finish)
		switch c := last.(type) {
		case Completion:
			c.Usage = usage
			last = c
		case ChatCompletion:
			c.Choices[0].Delta = &ChatResponse{}
			c.Usage = usage
			last = c
		}
		sse.send(last)
	}
	sse.done()
}

var errStopWord = errors.New("stop word reached")

func (h *Handler) writeEngineError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, engine.ErrQueueFull):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the server is busy: every slot is in use and the queue is full; retry shortly", "")
	case errors.Is(err, engine.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error(), "")
	case errors.Is(err, engine.ErrPromptTooLong):
		writeError(w, http.StatusBadRequest, err.Error(), "prompt")
	default:
		h.logger().Error("generation failed", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error(), "")
	}
}

func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	list := ModelList{Object: "list", Data: []Model{}}
	now := time.Now().Unix()
	if h.Completion != nil {
		list.Data = append(list.Data, Model{ID: h.CompletionModel, Object: "model", Created: now, OwnedBy: "serval"})
	}
	if h.Chat != nil && h.ChatModel != h.CompletionModel {
		list.Data = append(list.Data, Model{ID: h.ChatModel, Object: "model", Created: now, OwnedBy: "serval"})
	}
	writeJSON(w, http.StatusOK, list)
}

// decode reads a JSON body into v, answering 413 or 400 (naming the field) itself.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d bytes", MaxBodyBytes), "")
			return false
		}
		writeError(w, http.StatusBadRequest, "could not read the request body: "+err.Error(), "")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			writeError(w, http.StatusBadRequest, fmt.Sprintf("field %q must be %s", typeErr.Field, typeErr.Type), typeErr.Field)
		case errors.As(err, &syntaxErr):
			writeError(w, http.StatusBadRequest, "request body is not valid JSON: "+err.Error(), "")
		default:
			writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error(), "")
		}
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg, param string) {
	kind := "invalid_request_error"
	if code >= 500 {
		kind = "server_error"
	}
	writeJSON(w, code, Error{Error: ErrorBody{Message: msg, Type: kind, Param: param}})
}

// eventWriter writes server-sent events, flushing each one.
type eventWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func startEvents(w http.ResponseWriter) *eventWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &eventWriter{w: w, f: f}
}

func (e *eventWriter) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if e.f != nil {
		e.f.Flush()
	}
	return nil
}

func (e *eventWriter) done() {
	io.WriteString(e.w, "data: [DONE]\n\n")
	if e.f != nil {
		e.f.Flush()
	}
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
