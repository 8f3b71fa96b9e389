// Package openaiapi serves the OpenAI-compatible API: /openai/v1/completions,
// /openai/v1/chat/completions and /openai/v1/models, so that OpenAI clients
// and other serval instances can use serval as an upstream, and Tabby's
// /v1/chat/completions, which has the same shape. Handlers parse and validate
// once (completion.Sampling's bounds, the same as /v1's), run the shared
// generation step (completion.Generate: stop words), and write the answer
// whole or as server-sent events ending with [DONE]; errors, auth's
// included, come in OpenAI's shape (server/internal/httpx).
package openaiapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/internal/httpx"
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

// ErrorShape says that these routes, and the auth and rate limit wrap adds
// to them, answer errors in OpenAI's shape.
func (h *Handler) ErrorShape() httpx.Shape { return httpx.OpenAI }

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

// sampling checks the request's decoding settings against the bounds every
// route shares; max_tokens 0 or absent means the handler's default.
func (h *Handler) sampling(maxTokens *int, temperature, topP *float32) (completion.Sampling, error) {
	s := completion.Sampling{Temperature: temperature, TopP: topP}
	if maxTokens != nil {
		s.MaxTokens = *maxTokens
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	if s.MaxTokens == 0 {
		s.MaxTokens = h.DefaultMaxTokens
	}
	if s.MaxTokens <= 0 {
		s.MaxTokens = 256
	}
	return s, nil
}

// fail answers err in OpenAI's shape; promptField names the request field
// holding the prompt, for a prompt over the context.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error, promptField string) {
	e := httpx.FromError(r, err, promptField)
	if e.Status == http.StatusInternalServerError {
		h.logger().Error("generation failed", "err", err)
	}
	httpx.WriteError(w, httpx.OpenAI, e)
}

func (h *Handler) completions(w http.ResponseWriter, r *http.Request) {
	if h.Completion == nil {
		h.fail(w, r, &httpx.Error{Status: http.StatusNotImplemented, Message: "no completion model is configured"}, "")
		return
	}
	var req CompletionRequest
	if err := httpx.Decode(w, r, MaxBodyBytes, &req); err != nil {
		h.fail(w, r, err, "")
		return
	}
	if len(req.Prompt) != 1 {
		h.fail(w, r, httpx.BadRequest("prompt", "prompt must be one string"), "")
		return
	}
	s, err := h.sampling(req.MaxTokens, req.Temperature, req.TopP)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	ereq := engine.Request{
		Prompt:      req.Prompt[0],
		MaxTokens:   s.MaxTokens,
		Temperature: deref(req.Temperature, 1),
		TopP:        deref(req.TopP, 1),
		Seed:        deref(req.Seed, 0),
		Stop:        req.Stop,
	}
	ereq.Client, ereq.Session = auth.QueueClient(r)
	run := func(ctx context.Context, emit engine.Emit) (engine.Usage, error) {
		return h.Completion.Generate(ctx, ereq, emit)
	}
	id := "cmpl-" + randomID()
	model := orDefault(req.Model, h.CompletionModel)
	chunk := func(text string, finish *string) any {
		return Completion{ID: id, Object: "text_completion", Created: time.Now().Unix(), Model: model,
			Choices: []CompletionChoice{{Text: text, FinishReason: finish}}}
	}
	whole := func(text string, finish string, u *Usage, t *httpx.Timings) any {
		return Completion{ID: id, Object: "text_completion", Created: time.Now().Unix(), Model: model,
			Choices: []CompletionChoice{{Text: text, FinishReason: &finish}}, Usage: u, Timings: t}
	}
	h.serve(w, r, generation{route: "completions", promptField: "prompt", stream: req.Stream, stops: req.Stop, run: run, chunk: chunk, whole: whole})
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	if h.Chat == nil {
		h.fail(w, r, &httpx.Error{Status: http.StatusNotImplemented, Message: "no chat model is configured: start serval with --chat-model"}, "")
		return
	}
	var req ChatRequest
	if err := httpx.Decode(w, r, MaxBodyBytes, &req); err != nil {
		h.fail(w, r, err, "")
		return
	}
	if len(req.Messages) == 0 {
		h.fail(w, r, httpx.BadRequest("messages", "messages must not be empty"), "")
		return
	}
	s, err := h.sampling(req.MaxTokens, req.Temperature, req.TopP)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	creq := engine.ChatRequest{
		MaxTokens:   s.MaxTokens,
		Temperature: deref(req.Temperature, 0.7),
		TopP:        deref(req.TopP, 1),
		Seed:        deref(req.Seed, 0),
		Stop:        req.Stop,
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer":
		default:
			h.fail(w, r, httpx.BadRequest(fmt.Sprintf("messages[%d].role", i), fmt.Sprintf("messages[%d].role %q is not one of system, user, assistant", i, m.Role)), "")
			return
		}
		creq.Messages = append(creq.Messages, engine.Message{Role: m.Role, Content: string(m.Content)})
	}
	run := func(ctx context.Context, emit engine.Emit) (engine.Usage, error) {
		return h.Chat.Chat(ctx, creq, emit)
	}
	id := "chatcmpl-" + randomID()
	model := orDefault(req.Model, h.ChatModel)
	chunk := func(text string, finish *string) any {
		return ChatCompletion{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: model,
			Choices: []ChatChoice{{Delta: &ChatResponse{Content: text}, FinishReason: finish}}}
	}
	first := ChatCompletion{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: model,
		Choices: []ChatChoice{{Delta: &ChatResponse{Role: "assistant"}}}}
	whole := func(text string, finish string, u *Usage, t *httpx.Timings) any {
		return ChatCompletion{ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: model,
			Choices: []ChatChoice{{Message: &ChatResponse{Role: "assistant", Content: text}, FinishReason: &finish}}, Usage: u, Timings: t}
	}
	h.serve(w, r, generation{route: "chat", promptField: "messages", stream: req.Stream, stops: req.Stop, run: run, first: first, chunk: chunk, whole: whole})
}

// generation is one request's generation and how its answer is written.
type generation struct {
	route       string // for Observe: "completions" or "chat"
	promptField string // the request field holding the prompt
	stream      bool
	stops       []string
	run         func(context.Context, engine.Emit) (engine.Usage, error)
	first       any // the first event of a stream, if any
	chunk       func(text string, finish *string) any
	whole       func(text, finish string, u *Usage, t *httpx.Timings) any
}

// serve runs one generation through completion.Generate (the request's stop
// words) and writes it whole or as server-sent events. An error before the
// first byte gets a real status; after it, an error event ends the stream.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, g generation) {
	var text strings.Builder
	events := httpx.NewEvents(w)
	begin := func() error {
		if events.Started() {
			return nil
		}
		events.Start()
		if g.first != nil {
			return events.Send(g.first)
		}
		return nil
	}
	out := func(piece string) error {
		if !g.stream {
			text.WriteString(piece)
			return nil
		}
		if err := begin(); err != nil {
			return err
		}
		return events.Send(g.chunk(piece, nil))
	}
	u, _, err := completion.Generate(r.Context(), g.stops, g.run, out)
	if h.Observe != nil {
		h.Observe(g.route, u, err)
	}
	if r.Context().Err() != nil {
		return // the client went away: nobody to answer
	}
	finish := "stop"
	if u.StopReason == engine.StopMaxTokens {
		finish = "length"
	}
	usage := &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.GeneratedTokens, TotalTokens: u.PromptTokens + u.GeneratedTokens,
		PromptTokensDetails: &PromptTokensDetails{CachedTokens: u.ReusedTokens}}
	timings := httpx.TimingsOf(u)
	if !g.stream || (err != nil && !events.Started()) {
		if err != nil {
			h.fail(w, r, err, g.promptField)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, g.whole(text.String(), finish, usage, &timings))
		return
	}
	begin()
	if err != nil {
		h.logger().Warn("generation failed mid-stream", "route", g.route, "err", err)
		events.Send(httpx.ErrorBody(httpx.OpenAI, httpx.FromError(r, err, g.promptField)))
	} else {
		last := g.chunk("", &finish)
		switch c := last.(type) {
		case Completion:
			c.Usage, c.Timings = usage, &timings
			last = c
		case ChatCompletion:
			c.Choices[0].Delta = &ChatResponse{}
			c.Usage, c.Timings = usage, &timings
			last = c
		}
		events.Send(last)
	}
	events.Done()
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
	httpx.WriteJSON(w, http.StatusOK, list)
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
