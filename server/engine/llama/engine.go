// Package llama is Serval's in-process llama.cpp engine: it loads a GGUF
// model through yzma (llama.cpp's C API without cgo) and serves
// engine.Requests from a fixed number of slots.
//
// All slots share one llama.cpp context; each slot is one sequence of its KV
// cache. A single worker goroutine owns the context: every step it builds one
// batch holding the next token of every generating slot plus a chunk of any
// pending prompt, decodes it, and samples each slot's next token. Requests
// beyond the slots wait in a bounded FIFO queue (engine.ErrQueueFull past it).
//
// Each slot remembers the tokens whose keys and values are in its part of the
// KV cache; a new prompt is routed to the free slot sharing its longest token
// prefix, and only the rest of the prompt is evaluated (the prompt cache).
package llama

import (
	"context"
	"errors"
	"fmt"
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
	// Device is "cpu" (no offload), "cuda" (all layers on the GPU; fails
	// without one) or "auto" (cuda when a GPU is usable). Default cpu.
	Device string
	// Parallel is the number of slots (sequences decoded together). Default 1.
	Parallel int
	// MaxQueue bounds the requests waiting for a slot. Default 4×Parallel;
	// negative means no queue at all.
	MaxQueue int
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
	// ChunkReuseMin is the shortest run of cached tokens (after the common
	// prefix) worth reusing at a shifted position, such as the suffix of a
	// FIM prompt after the user typed before it. Default 32; negative
	// disables chunk reuse. See reuseChunks.
	ChunkReuseMin int
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
	queue    []*job // waiting for a slot, oldest first
	stopping bool   // Close has begun: no new jobs
	useClock uint64 // counts slot releases, for lastUsed
}

// slot is one sequence of the shared context.
type slot struct {
	seq     yz.SeqId
	scratch yz.SeqId   // holds reused chunks until they are spliced back (see reuseChunks)
	cached  []yz.Token // tokens of seq's KV entries, at positions 0..len-1
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

// job is one request's journey through the engine.
type job struct {
	ctx      context.Context
	req      engine.Request
	tokens   []yz.Token
	enqueued time.Time

	// cancelled is set by Complete when the caller goes away or emit fails;
	// the worker then frees the slot at its next step.
	cancelled atomic.Bool

	mu       sync.Mutex
	out      strings.Builder // text produced and not yet emitted
	finished bool
	usage    engine.Usage // set when finished
	err      error
	notify   chan struct{} // capacity 1
}

// push hands text (and, with finished, the end) to the waiting Complete.
func (j *job) push(text string) {
	j.mu.Lock()
	j.out.WriteString(text)
	j.mu.Unlock()
	j.signal()
}

func (j *job) finish(u engine.Usage, err error) {
	j.mu.Lock()
	j.usage, j.err, j.finished = u, err, true
	j.mu.Unlock()
	j.signal()
}

func (j *job) signal() {
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

var _ engine.Engine = (*Engine)(nil)
var _ engine.Tokenizer = (*Engine)(nil)
var _ engine.ChatEngine = (*Engine)(nil)

// Open validates the model file, loads llama.cpp and the model, and starts
// the engine's worker. Close releases them.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.ModelPath == "" {
		return nil, errors.New("llama: no model file given")
	}
	hdr, err := readGGUFHeader(cfg.ModelPath)
	if err != nil {
		return nil, err
	}
	switch cfg.Device {
	case "":
		cfg.Device = "cpu"
	case "cpu", "cuda", "auto":
	default:
		return nil, fmt.Errorf("llama: unknown device %q (want cpu, cuda or auto)", cfg.Device)
	}
	if cfg.LibDir == "" {
		cfg.LibDir = ResolveLibDir("", cfg.Device)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.Parallel > maxParallel {
		return nil, fmt.Errorf("llama: %d slots requested; at most %d", cfg.Parallel, maxParallel)
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 4 * cfg.Parallel
	} else if cfg.MaxQueue < 0 {
		cfg.MaxQueue = 0
	}
	if cfg.Threads <= 0 {
		cfg.Threads = DefaultThreads()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	train := int(hdr.Uints[hdr.Strings["general.architecture"]+".context_length"])
	if cfg.CtxSize <= 0 {
		cfg.CtxSize = 4096
		if train > 0 && train < cfg.CtxSize {
			cfg.CtxSize = train
		}
	}
	if cfg.Name == "" {
		cfg.Name = hdr.Strings["general.name"]
	}

	if err := loadLibraries(cfg.LibDir); err != nil {
		return nil, err
	}
	gpus := gpuDevices()
	device := cfg.Device
	if device == "auto" {
		device = "cpu"
		if len(gpus) > 0 {
			device = "cuda"
		}
	}
	mp := yz.ModelDefaultParams()
	if device == "cuda" {
		if len(gpus) == 0 {
			return nil, fmt.Errorf("llama: --device cuda: llama.cpp found no usable GPU (needs libggml-cuda.so in %s, from `make deps DEVICE=cuda`, and a working NVIDIA driver with CUDA 13)", lib.dir)
		}
		mp.NGpuLayers = 999 // every layer
	} else {
		mp.SetCPUOnly()
		gpus = nil
	}
	model, err := yz.ModelLoadFromFile(cfg.ModelPath, mp)
	if err != nil || model == 0 {
		return nil, fmt.Errorf("llama: loading model %s failed (is it a llama.cpp-compatible GGUF?): %v", cfg.ModelPath, err)
	}
	e := &Engine{
		cfg:        cfg,
		model:      model,
		vocab:      yz.ModelGetVocab(model),
		wake:       make(chan struct{}, 1),
		workerDone: make(chan struct{}),
	}
	cp := yz.ContextDefaultParams()
	cp.NCtx = uint32(cfg.CtxSize * cfg.Parallel)
	// Each slot has a main sequence and a scratch one that holds a reused
	// chunk while the tokens before it are evaluated; cells move between
	// them without copies only in a unified KV cache.
	cp.NSeqMax = uint32(2 * cfg.Parallel)
	cp.NBatch = uint32(cfg.BatchSize)
	cp.NUbatch = uint32(cfg.BatchSize)
	cp.NThreads = int32(cfg.Threads)
	cp.NThreadsBatch = int32(cfg.Threads)
	cp.KVUnified = 1
	cp.NoPerf = 1
	if device == "cpu" {
		cp.OpOffload = 0
		cp.Offload_kqv = 0
	}
	e.lctx, err = yz.InitFromModel(model, cp)
	if err != nil || e.lctx == 0 {
		yz.ModelFree(model)
		return nil, fmt.Errorf("llama: creating a context of %d tokens × %d slots for %s failed: %v", cfg.CtxSize, cfg.Parallel, cfg.ModelPath, err)
	}
	if e.mem, err = yz.GetMemory(e.lctx); err != nil {
		yz.Free(e.lctx)
		yz.ModelFree(model)
		return nil, fmt.Errorf("llama: %w", err)
	}
	e.batch = yz.BatchInit(int32(cfg.BatchSize), 0, 1)
	for i := range cfg.Parallel {
		e.slots = append(e.slots, &slot{seq: yz.SeqId(i), scratch: yz.SeqId(cfg.Parallel + i)})
	}
	if cfg.ChunkReuseMin == 0 {
		e.cfg.ChunkReuseMin = 32
	}
	if ok, err := yz.MemoryCanShift(e.mem); !ok || err != nil {
		e.cfg.ChunkReuseMin = -1 // positions cannot be shifted in this model's cache
	}
	e.chatTemplate = yz.ModelChatTemplate(model, "")
	e.info = engine.Info{
		Model:       cfg.Name,
		Device:      device,
		CUDADevices: gpus,
		ContextSize: cfg.CtxSize,
		Slots:       cfg.Parallel,
		MaxQueue:    cfg.MaxQueue,
		FIMTemplate: detectFIMTemplate(hdr.Strings["general.name"], hdr.Tokens),
	}
	go e.work()
	return e, nil
}

// maxParallel keeps the 2 sequences per slot within llama.cpp's limit (256).
const maxParallel = 64

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

// ChatTemplate returns the model's chat template (tokenizer.chat_template), or "".
func (e *Engine) ChatTemplate() string { return e.chatTemplate }

// tokenize tokenizes text with special tokens (FIM markers) parsed. NUL
// bytes cannot cross the C API and are dropped.
func (e *Engine) tokenize(text string) ([]yz.Token, error) {
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed.Load() {
		return nil, errClosed
	}
	text = strings.ReplaceAll(text, "\x00", "")
	if text == "" {
		return nil, nil
	}
	return yz.Tokenize(e.vocab, text, false, true), nil
}

var errClosed = errors.New("llama: engine closed")

// CountTokens returns the number of tokens text tokenizes to (no BOS),
// with special tokens recognised as in prompts.
// It returns 0 once the engine is closed.
func (e *Engine) CountTokens(text string) int {
	toks, _ := e.tokenize(text)
	return len(toks)
}

// ApplyChatTemplate renders messages with the model's chat template (or
// ChatML when the model has none), ending with the assistant's turn opened.
func (e *Engine) ApplyChatTemplate(messages []engine.Message) (string, error) {
	if len(messages) == 0 {
		return "", errors.New("llama: no chat messages")
	}
	tmpl := e.chatTemplate
	if tmpl == "" {
		tmpl = "chatml"
	}
	msgs := make([]yz.ChatMessage, len(messages))
	size := 256
	for i, m := range messages {
		msgs[i] = yz.NewChatMessage(strings.ReplaceAll(m.Role, "\x00", ""), strings.ReplaceAll(m.Content, "\x00", ""))
		size += 2 * (len(m.Role) + len(m.Content) + 32)
	}
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed.Load() {
		return "", errClosed
	}
	buf := make([]byte, size)
	n := yz.ChatApplyTemplate(tmpl, msgs, true, buf)
	runtime.KeepAlive(msgs)
	if int(n) > len(buf) {
		buf = make([]byte, n)
		n = yz.ChatApplyTemplate(tmpl, msgs, true, buf)
		runtime.KeepAlive(msgs)
	}
	if n <= 0 || int(n) > len(buf) {
		return "", fmt.Errorf("llama: the model's chat template is not supported by llama.cpp")
	}
	return string(buf[:n]), nil
}

// Chat applies the chat template to req.Messages and generates the reply.
func (e *Engine) Chat(ctx context.Context, req engine.ChatRequest, emit engine.Emit) (engine.Usage, error) {
	prompt, err := e.ApplyChatTemplate(req.Messages)
	if err != nil {
		return engine.Usage{}, err
	}
	return e.Complete(ctx, engine.Request{
		Prompt:      prompt,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Seed:        req.Seed,
		Stop:        req.Stop,
	}, emit)
}

// Complete generates text for req.Prompt, streaming it through emit. A
// temperature <= 0 decodes greedily. MaxTokens <= 0 generates until the end
// of generation or the slot's context is full.
func (e *Engine) Complete(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	tokens, err := e.tokenize(req.Prompt)
	if err != nil {
		return engine.Usage{}, err
	}
	if len(tokens) == 0 {
		bos := yz.VocabBOS(e.vocab)
		if bos < 0 {
			return engine.Usage{}, errors.New("llama: empty prompt")
		}
		tokens = []yz.Token{bos}
	}
	if len(tokens) >= e.cfg.CtxSize {
		return engine.Usage{PromptTokens: len(tokens)}, fmt.Errorf("%w: %d prompt tokens, context of %d", engine.ErrPromptTooLong, len(tokens), e.cfg.CtxSize)
	}
	j := &job{ctx: ctx, req: req, tokens: tokens, enqueued: time.Now(), notify: make(chan struct{}, 1)}

	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return engine.Usage{}, errClosed
	}
	if s := e.bestFreeSlot(tokens); s != nil {
		s.job = j
	} else if len(e.queue) < e.cfg.MaxQueue {
		e.queue = append(e.queue, j)
	} else {
		e.mu.Unlock()
		return engine.Usage{PromptTokens: len(tokens)}, engine.ErrQueueFull
	}
	e.mu.Unlock()
	e.nudge()

	var emitErr error
	done := ctx.Done()
	for {
		select {
		case <-j.notify:
		case <-done:
			done = nil
			j.cancelled.Store(true)
			if e.dequeue(j) {
				return engine.Usage{PromptTokens: len(tokens), QueueWait: time.Since(j.enqueued), StopReason: "cancelled"}, ctx.Err()
			}
			continue
		}
		j.mu.Lock()
		text := j.out.String()
		j.out.Reset()
		finished, usage, err := j.finished, j.usage, j.err
		j.mu.Unlock()
		if text != "" && emitErr == nil && !j.cancelled.Load() {
			if emitErr = emit(text); emitErr != nil {
				j.cancelled.Store(true)
			}
		}
		if finished {
			switch {
			case emitErr != nil && ctx.Err() != nil:
				// The write failed because the client went away: that is a
				// cancellation, whichever of the two was noticed first.
				usage.StopReason = "cancelled"
				return usage, ctx.Err()
			case emitErr != nil:
				usage.StopReason = "error"
				return usage, emitErr
			case ctx.Err() != nil && usage.StopReason == "cancelled":
				return usage, ctx.Err()
			}
			return usage, err
		}
	}
}

// dequeue removes j from the wait queue, reporting whether it was there.
func (e *Engine) dequeue(j *job) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, q := range e.queue {
		if q == j {
			e.queue = append(e.queue[:i], e.queue[i+1:]...)
			return true
		}
	}
	return false
}

// bestFreeSlot returns the free slot for a prompt of tokens, or nil: the one
// whose cache shares the longest prefix with it, unless that would throw away
// most of a cache for little gain, in which case the least recently used free
// slot (so a user switching between two files keeps both prefixes cached).
// e.mu is held.
func (e *Engine) bestFreeSlot(tokens []yz.Token) *slot {
	var best, lru *slot
	bestLen := -1
	for _, s := range e.slots {
		if s.job != nil {
			continue
		}
		if n := commonPrefix(s.cached, tokens); n > bestLen {
			best, bestLen = s, n
		}
		if lru == nil || s.lastUsed < lru.lastUsed {
			lru = s
		}
	}
	if best != nil && 2*bestLen < len(best.cached) {
		return lru
	}
	return best
}

func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
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
		j.finish(engine.Usage{PromptTokens: len(j.tokens), StopReason: "error"}, errClosed)
	}
	e.nudge()
	<-e.workerDone
	e.life.Lock()
	defer e.life.Unlock()
	e.closed.Store(true)
	yz.BatchFree(e.batch)
	yz.Free(e.lctx)
	yz.ModelFree(e.model)
	return nil
}
