// Package llama is Serval's in-process llama.cpp engine: it loads a GGUF
// model through yzma (llama.cpp's C API without cgo) and serves
// engine.Requests from a fixed number of slots.
//
// All slots share one llama.cpp context; each slot is one sequence of its KV
// cache. A single worker goroutine owns the context: every step it builds one
// batch holding the next token of every generating slot plus a chunk of any
// pending prompt, decodes it, and samples each slot's next token. Requests
// beyond the slots wait in a bounded queue that keeps one request per client
// and serves the freshest, fairly shared work first (schedule.go).
//
// Each slot remembers the tokens whose keys and values are in its part of the
// KV cache; a new prompt is routed to the free slot sharing its longest token
// prefix, and only the rest of the prompt is evaluated (the prompt cache).
package llama

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/server/engine"
)

// Config configures an Engine.
type Config struct {
	ModelPath string
	// LibDir holds libllama.so and the ggml backends (see ResolveLibDir).
	LibDir string
	// Device is "cpu" (no offload), "cuda", "vulkan" or "metal" (all layers
	// on that GPU; fails without one) or "auto" (the GPU the libraries'
	// backends find, else the CPU, saying so on Log). Default cpu.
	Device string
	// Log receives startup notes (such as auto's fallback to the CPU); nil discards them.
	Log io.Writer
	// Parallel is the number of slots (sequences decoded together). Default 1.
	Parallel int
	// MaxQueue bounds the requests waiting for a slot. Default
	// 64×Parallel (one place per client: see schedule.go); negative means
	// no queue at all.
	MaxQueue int
	// MaxWait is the longest a request waits for a slot before it fails
	// with engine.ErrQueueTimeout: its answer would come too late to be
	// shown. Default 2 s.
	MaxWait time.Duration
	// SettleTime is how long a client must leave its waiting request
	// unreplaced for it to count as settled (the user paused), which ranks
	// it before requests still being replaced key by key. Default 200 ms.
	SettleTime time.Duration
	// CtxSize is the context of each slot in tokens. Default: the model's
	// training context, at most 4096.
	CtxSize int
	// Threads used by llama.cpp. Default: DefaultThreads().
	Threads int
	// BatchSize is the most tokens decoded in one step. Default 512.
	BatchSize int
	// Name overrides the model's display name (general.name).
	Name string
	// NoPromptCache evaluates every prompt from scratch (for measuring the cache).
	NoPromptCache bool
	// NoWarmup skips the warm-up decode at load (for measuring it; see warmUp).
	NoWarmup bool
	// ChunkReuseMin is the shortest run of cached tokens (after the common
	// prefix) worth reusing at a shifted position, such as the suffix of a
	// FIM prompt after the user typed before it. Default 32; negative
	// disables chunk reuse. See reuseChunks.
	ChunkReuseMin int
	// ClientCacheBytes bounds the memory of the clients' prompt caches kept
	// out of the slots (clientcache.go). Default 256 MiB; negative keeps none.
	ClientCacheBytes int
	// DetectTemplate names the model's FIM template for Info.FIMTemplate
	// from its general.name and vocabulary (prompt.DetectTemplateName);
	// nil leaves it "".
	DetectTemplate func(modelName string, hasToken func(text string) bool) string
}

// Engine runs one GGUF model in-process. It is safe for concurrent use.
type Engine struct {
	cfg          Config
	info         engine.Info // static fields; Busy/Queued are filled in by Info
	chatTemplate string

	model yz.Model
	vocab yz.Vocab
	lctx  yz.Context
	mem   yz.Memory
	batch yz.Batch
	pool  yz.Threadpool // lctx's CPU threads (newThreadPool); 0 when the libraries make none

	// beforeDecode, when set (by tests), runs in the worker before each decode.
	beforeDecode func()

	// life is held for reading while the model is used outside the worker
	// (tokenizing, chat templates) and for writing while Close frees it.
	life   sync.RWMutex
	closed atomic.Bool

	wake       chan struct{} // nudges the worker; capacity 1
	workerDone chan struct{}

	mu sync.Mutex
	// slots[i].job is set under mu. While a slot has a job its cached tokens
	// belong to the worker; once free, they are read under mu for routing.
	slots    []*slot
	queue    []*job             // waiting for a slot, in arrival order (schedule.go picks)
	served   map[string]service // client → its last slot and turn (schedule.go)
	stopping bool               // Close has begun: no new jobs
	useClock uint64             // counts slot releases, for lastUsed

	caches clientCaches // the clients' prompt caches out of the slots (worker only)
}

// slot is one sequence of the shared context.
type slot struct {
	seq     yz.SeqId
	scratch yz.SeqId   // holds reused chunks until they are spliced back (see reuseChunks)
	cached  []yz.Token // tokens of seq's KV entries, at positions 0..len-1
	// owner is the client (engine.Request.Client) whose prompts filled
	// cached; set by the worker while the slot is busy, read under Engine.mu
	// while free, like cached.
	owner string
	// lastPrompt is the text of the prompt that filled cached, for routing
	// a waiting job (not tokenized yet) to the slot that shares most of it;
	// written and read like owner.
	lastPrompt string
	// job is the request holding the slot, set under Engine.mu; nil when free.
	job *job
	// lastUsed orders free slots from least to most recently released (under Engine.mu).
	lastUsed uint64

	// Worker-only state: cur is the job being served (the worker's copy of job).
	cur        *job
	usage      engine.Usage // of cur, handed over when it finishes
	chunks     []chunk      // reused chunks waiting in scratch, in prompt order
	started    bool
	prompt     int // index of the next prompt token to evaluate
	generating bool
	last       yz.Token // sampled but not yet decoded
	logitIdx   int32    // batch index of this slot's logits in the current step
	added      int      // tokens added to the current batch
	sampler    yz.Sampler
	text       utf8Buffer
	piece      []byte
	genStart   time.Time
	promptFrom time.Time
}

var _ engine.Engine = (*Engine)(nil)
var _ engine.Tokenizer = (*Engine)(nil)
var _ engine.ChatEngine = (*Engine)(nil)
var _ engine.CandidateEngine = (*Engine)(nil)

// maxParallel keeps the sequences of every slot (its main and scratch ones
// and those of extra candidates) within llama.cpp's limit (256).
const maxParallel = 256 / (2 + candidateSeqsPerSlot)

// DefaultThreads is the llama.cpp thread count used when none is configured:
// the CPUs this process may run on (runtime.NumCPU reads the affinity mask)
// minus one, at least one. llama.cpp's threads spin and meet at a barrier
// after every graph node, so a thread preempted by the server's own
// goroutines (HTTP, streaming, the scheduler) stalls them all: on 2 cores,
// 2 threads made the engine ~20× slower than 1 (docs/engine.md).
func DefaultThreads() int {
	return max(1, runtime.NumCPU()-1)
}

// Info describes the engine and its current load.
func (e *Engine) Info() engine.Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	info := e.info
	info.CUDADevices = append([]string(nil), e.info.CUDADevices...)
	for _, s := range e.slots {
		if s.job != nil {
			info.Busy++
		}
	}
	info.Queued = len(e.queue)
	return info
}

// Config returns the engine's configuration with defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// tokenize tokenizes text with special tokens (FIM markers) parsed. NUL
// bytes cannot cross the C API and are dropped.
func (e *Engine) tokenize(text string) ([]yz.Token, error) {
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed.Load() {
		return nil, errClosed
	}
	return e.tokenizeLive(text), nil
}

// tokenizeLive is tokenize for a caller that knows the model is loaded:
// the worker, which Close waits for before freeing it.
func (e *Engine) tokenizeLive(text string) []yz.Token {
	text = strings.ReplaceAll(text, "\x00", "")
	if text == "" {
		return nil
	}
	return yz.Tokenize(e.vocab, text, false, true)
}

// promptTokens tokenizes a job's prompt on the worker: BOS alone for an
// empty prompt, ErrPromptTooLong for one the slot's context cannot hold.
func (e *Engine) promptTokens(prompt string) ([]yz.Token, error) {
	tokens := e.tokenizeLive(prompt)
	if len(tokens) == 0 {
		bos := yz.VocabBOS(e.vocab)
		if bos < 0 {
			return nil, errors.New("llama: empty prompt")
		}
		tokens = []yz.Token{bos}
	}
	if len(tokens) >= e.cfg.CtxSize {
		return tokens, fmt.Errorf("%w: %d prompt tokens, context of %d", engine.ErrPromptTooLong, len(tokens), e.cfg.CtxSize)
	}
	return tokens, nil
}

var errClosed = errors.New("llama: engine closed")

// CountTokens returns the number of tokens text tokenizes to (no BOS),
// with special tokens recognised as in prompts.
// It returns 0 once the engine is closed.
func (e *Engine) CountTokens(text string) int {
	toks, _ := e.tokenize(text)
	return len(toks)
}

// Close cancels running and queued requests, stops the worker and frees the model.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return nil
	}
	e.stopping = true
	queued := e.queue
	e.queue = nil
	e.mu.Unlock()
	for _, j := range queued {
		j.finish(engine.Usage{PromptTokens: len(j.tokens), StopReason: engine.StopError}, errClosed)
	}
	e.nudge()
	<-e.workerDone
	e.life.Lock()
	defer e.life.Unlock()
	e.closed.Store(true)
	yz.BatchFree(e.batch)
	yz.Free(e.lctx)
	yz.ThreadpoolFree(e.pool) // after the context that used it
	e.pool = 0
	yz.ModelFree(e.model)
	return nil
}
