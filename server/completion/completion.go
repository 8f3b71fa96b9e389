// Package completion is the service between the HTTP handlers and the
// engine: it validates a completion request (its own Request type; the HTTP
// layer converts the wire request), builds the prompt (server/prompt), runs
// it on the engine, matches stop words on the streamed text (the stop text
// is never returned) and reports usage.
package completion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

var tracer = otel.Tracer("github.com/servalhq/serval/server/completion")

// Span attributes of the service's spans.
const (
	attrStopWordMatched = attribute.Key("serval.stop_word_matched")
	attrLanguage        = attribute.Key("serval.language")
	attrSnippets        = attribute.Key("serval.prompt.snippets")
	attrPromptChars     = attribute.Key("serval.prompt.chars")
)

// Prompter builds the engine prompt for a request; *prompt.Builder is one.
type Prompter interface {
	Build(req *prompt.Request) (prompt.Prompt, error)
}

// Request is one code completion: what the prompt is built from and the
// decoding settings the client chose.
type Request struct {
	prompt.Request
	Temperature *float32 // nil: greedy (0)
	Seed        *uint32
	// Client and Session say who asked, for the engine's wait queue
	// (engine.Request).
	Client, Session string
	// Candidates is how many completions to generate (0 or 1: one; at
	// most engine.MaxCandidates). They are not streamed.
	Candidates int
}

// Config configures a Service.
type Config struct {
	Engine  engine.Engine // required
	Prompts Prompter      // required
	// ContextSize is passed to engines as the budgeted context (Ollama's num_ctx).
	ContextSize int
	// RecentIDs bounds the memory of completion ids → language used to fill
	// the language of events (0: 4096).
	RecentIDs int
}

// Service completes code. It is safe for concurrent use.
type Service struct {
	engine  engine.Engine
	prompts Prompter
	numCtx  int
	recent  *recentLanguages
	jobs    jobTime
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Engine == nil || cfg.Prompts == nil {
		return nil, errors.New("completion: Engine and Prompts are required")
	}
	if cfg.RecentIDs <= 0 {
		cfg.RecentIDs = 4096
	}
	return &Service{engine: cfg.Engine, prompts: cfg.Prompts, numCtx: cfg.ContextSize, recent: newRecentLanguages(cfg.RecentIDs)}, nil
}

// Engine returns the service's engine (for health and metrics).
func (s *Service) Engine() engine.Engine { return s.engine }

// Stream receives each new piece of completion text as it is decided (after
// stop-word matching), with the completion's id. Returning an error stops the
// generation.
type Stream func(id, delta string) error

// Result is a finished completion.
type Result struct {
	ID     string
	Text   string        // the whole completion, stop word excluded
	Prompt prompt.Prompt // what was sent to the engine
	Usage  engine.Usage
	// StopWord is the stop word that ended the text, "" otherwise.
	StopWord string
	// Candidates holds every candidate's text when several were asked
	// for, by candidate index (Text is the first); a candidate that failed
	// is "".
	Candidates []string
}

// NewID returns a fresh completion id in Tabby's form.
func NewID() string { return "cmpl-" + uuid.NewString() }

// Answer runs one completion. stream, when not nil, receives the text as
// it is generated; the Result holds it all either way. Errors: a
// *prompt.FieldError for a bad request (with a nil Result), the engine's
// errors (engine.ErrQueueFull, ...), ctx's error when the client went away,
// or stream's error; once the engine ran, the Result is returned with the
// error so that its Usage can still be counted.
func (s *Service) Answer(ctx context.Context, req *Request, stream Stream) (*Result, error) {
	start := time.Now()
	if err := (Sampling{MaxTokens: req.MaxTokens, Temperature: req.Temperature}).Validate(); err != nil {
		return nil, err
	}
	if req.Candidates < 0 || req.Candidates > engine.MaxCandidates {
		return nil, &prompt.FieldError{Field: "n", Reason: fmt.Sprintf("must be between 1 and %d", engine.MaxCandidates)}
	}
	if req.Candidates > 1 && stream != nil {
		return nil, &prompt.FieldError{Field: "n", Reason: "several candidates are answered as one JSON body; ask without stream"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // abandoned while it waited for the CPU: build nothing
	}
	_, span := tracer.Start(ctx, "prompt build")
	preq := req.Request
	if s.overloaded() {
		preq.MaxPromptTokens = OverloadPromptTokens
	}
	p, err := s.prompts.Build(&preq)
	if err != nil {
		span.End()
		return nil, err
	}
	if span.IsRecording() {
		span.SetAttributes(attrLanguage.String(p.Language), attrSnippets.Int(len(p.Snippets)), attrPromptChars.Int(len(p.Text)))
	}
	span.End()
	res := &Result{ID: NewID(), Prompt: p}
	s.recent.add(res.ID, p.Language)

	ereq := engine.Request{
		Prompt:    p.Text,
		MaxTokens: p.MaxTokens,
		Stop:      p.Stop,
		NumCtx:    s.numCtx,
		Client:    req.Client,
		Session:   req.Session,
	}
	if req.Temperature != nil {
		ereq.Temperature = *req.Temperature
	}
	if req.Seed != nil {
		ereq.Seed = *req.Seed
	}

	if req.Candidates > 1 {
		err := s.answerCandidates(ctx, ereq, req.Candidates, res)
		if err == nil {
			s.recent.setLatency(res.ID, time.Since(start))
		}
		return res, err
	}

	var text strings.Builder
	out := func(piece string) error {
		text.WriteString(piece)
		if stream != nil {
			return stream(res.ID, piece)
		}
		return nil
	}
	run := func(ctx context.Context, emit engine.Emit) (engine.Usage, error) {
		return s.engine.Generate(ctx, ereq, emit)
	}
	res.Usage, res.StopWord, err = Generate(ctx, p.Stop, run, out)
	if err != nil {
		return res, err
	}
	s.jobs.observe(res.Usage)
	res.Text = text.String()
	s.recent.setLatency(res.ID, time.Since(start))
	return res, nil
}

// Language returns the language of a recent completion id, "" when unknown
// (events for it then carry the client's language, if any).
func (s *Service) Language(id string) string { return s.recent.get(id).language }

// Latency returns how long the recent completion id took to produce, 0 when
// unknown or failed (events for it then carry no latency).
func (s *Service) Latency(id string) time.Duration { return s.recent.get(id).latency }

// recentLanguages remembers the language (and, once done, the latency) of
// the last n completion ids.
type recentLanguages struct {
	mu    sync.Mutex
	byID  map[string]recentCompletion
	order []string // ring of ids, oldest at next
	next  int
}

type recentCompletion struct {
	language string
	latency  time.Duration
}

func newRecentLanguages(n int) *recentLanguages {
	return &recentLanguages{byID: make(map[string]recentCompletion, n), order: make([]string, n)}
}

func (r *recentLanguages) add(id, lang string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.order[r.next]; old != "" {
		delete(r.byID, old)
	}
	r.order[r.next] = id
	r.next = (r.next + 1) % len(r.order)
	r.byID[id] = recentCompletion{language: lang}
}

func (r *recentLanguages) setLatency(id string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byID[id]; ok {
		c.latency = d
		r.byID[id] = c
	}
}

func (r *recentLanguages) get(id string) recentCompletion {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}
