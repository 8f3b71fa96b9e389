// Package engine defines the small interface every text-generation backend
// implements (the in-process llama.cpp engine, Ollama, OpenAI-compatible
// upstreams and pools of them), and the errors the HTTP layer maps to status codes.
package engine

import (
	"context"
	"errors"
	"time"
)

// Request is one generation: a finished prompt (template already applied by
// server/prompt) and decoding settings.
type Request struct {
	Prompt      string
	MaxTokens   int
	Temperature float32 // 0 means greedy
	TopP        float32 // 0 or 1 means disabled
	Seed        uint32
	// Stop words are matched on the generated text by the caller
	// (completion.Generate);
	// engines that can stop upstream earlier (Ollama, OpenAI) also pass them on.
	Stop []string
	// NumCtx is the context size the prompt was budgeted for (Ollama's num_ctx).
	NumCtx int
	// Client names who asked (the token): an engine with a wait queue
	// shares its slots fairly between clients. "" stands for a client of
	// its own.
	Client string
	// Session tells apart the editors of one client: the queue keeps one
	// waiting request per client and session, a newer one replacing the
	// older (which fails with ErrSuperseded).
	Session string
	// Priority orders the requests waiting for a slot (PriorityInteractive,
	// the zero value, for what a user waits on).
	Priority Priority
	// PromptOnly evaluates the prompt into a slot's cache and generates
	// nothing (a warm-up: the next request with this prompt, or one that
	// extends it, finds it evaluated). Only engines that implement
	// PromptCache honour it.
	PromptOnly bool
}

// PromptCache is implemented by engines that keep evaluated prompts between
// requests, so that a PromptOnly request makes the next one faster.
type PromptCache interface {
	CachesPrompts() bool
}

// Priority is a request's class in an engine's wait queue: a higher class
// is always served first, and may take the slot of a running lower one.
type Priority int

const (
	// PriorityWarmup is the lowest class, for work no user waits on (such as
	// evaluating a prompt ahead of time): it gets only a slot no other
	// request wants, and gives it up (ErrPreempted) as soon as one does.
	PriorityWarmup Priority = -1
	// PriorityInteractive is a completion a user is waiting for.
	PriorityInteractive Priority = 0
)

// Emit receives generated text in order. Every call carries valid UTF-8
// (engines buffer a character split across tokens). Returning a non-nil error
// stops generation at once; Complete then returns that error.
type Emit func(text string) error

// Usage counts and times one generation.
type Usage struct {
	PromptTokens    int // tokens in the prompt
	ReusedTokens    int // prompt tokens served from the slot's KV cache
	EvaluatedTokens int // prompt tokens evaluated for this request
	GeneratedTokens int
	QueueWait       time.Duration
	PromptEval      time.Duration
	Generation      time.Duration
	StopReason      string // one of the Stop* constants
	Upstream        string // which pool member served it, when pooled
}

// Engine generates text for prompts.
type Engine interface {
	// Generate streams the generation of req through emit. It returns when the
	// model stops (end of generation, MaxTokens), emit returns an error, or ctx
	// is cancelled (the client went away): the slot is free again within one decode step.
	Generate(ctx context.Context, req Request, emit Emit) (Usage, error)
	// Info describes the engine for /v1/health.
	Info() Info
	// Close releases the model and any worker.
	Close() error
}

// Tokenizer is implemented by engines that can count tokens exactly; prompt
// budgets fall back to an estimate for engines that cannot.
type Tokenizer interface {
	// CountTokens returns the number of tokens text tokenizes to (no BOS).
	CountTokens(text string) int
}

// Info is what /v1/health shows of an engine.
type Info struct {
	Model       string   // display name
	Device      string   // "cpu", "cuda", "remote"
	CUDADevices []string // names of GPUs in use
	ContextSize int      // tokens, 0 when unknown
	Slots       int
	Busy        int
	Queued      int
	MaxQueue    int
	// FIMTemplate is the template detected from the model file, if any ("" when unknown).
	FIMTemplate string
	Upstreams   []UpstreamInfo
}

// UpstreamInfo is the state of one member of a pool.
type UpstreamInfo struct {
	Name      string
	URL       string
	Healthy   bool
	InFlight  int
	LastError string
}

var (
	// ErrQueueFull means every slot is busy and the wait queue is full: HTTP 503 with Retry-After.
	ErrQueueFull = errors.New("engine: all slots busy and the queue is full")
	// ErrUnavailable means no upstream can serve the request: HTTP 503.
	ErrUnavailable = errors.New("engine: no healthy upstream")
	// ErrSuperseded means a newer request from the same client replaced this
	// one while it waited: HTTP 409, the client has moved on.
	ErrSuperseded = errors.New("engine: superseded by a newer request from the same client")
	// ErrQueueTimeout means the request waited for a slot longer than its
	// answer could still be used: HTTP 503 with Retry-After.
	ErrQueueTimeout = errors.New("engine: waited too long for a slot")
	// ErrPreempted means a lower-priority request gave its slot, or its place
	// in the queue, to a higher one: HTTP 503 with Retry-After.
	ErrPreempted = errors.New("engine: gave way to a higher-priority request")
	// ErrPromptTooLong means the prompt does not fit the context even after budgeting.
	ErrPromptTooLong = errors.New("engine: prompt longer than the context")
)

// Why a generation ended (Usage.StopReason); /metrics and the APIs report them.
const (
	StopEOS       = "eos"        // the model ended its text
	StopMaxTokens = "max_tokens" // the output budget or the slot's context ran out
	StopWord      = "stop"       // a stop word matched
	StopCancelled = "cancelled"  // the caller went away
	StopError     = "error"      // the generation failed
)
