package llama

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/server/engine"
)

// job is one request's journey through the engine.
type job struct {
	ctx      context.Context
	req      engine.Request
	tokens   []yz.Token
	enqueued time.Time
	cands    *candidates // several candidates of the prompt (candidates.go); nil for one

	// cancelled is set by Complete when the caller goes away or emit fails;
	// the worker then frees the slot at its next step.
	cancelled atomic.Bool
	// preempted is set with cancelled when a higher-priority request takes
	// the slot (preemptFor): the job then ends with engine.ErrPreempted.
	preempted atomic.Bool

	mu       sync.Mutex
	out      strings.Builder // text produced and not yet emitted
	finished bool
	usage    engine.Usage // set when finished
	err      error
	notify   chan struct{} // capacity 1
}

// push hands text to the waiting Complete.
func (j *job) push(text string) {
	j.mu.Lock()
	j.out.WriteString(text)
	j.mu.Unlock()
	j.signal()
	if testHookPushed != nil {
		testHookPushed(text)
	}
}

// testHookPushed, when set by a test, runs on the worker after each push. It
// lets a test hold the worker until the consumer has seen the text, which is
// how streaming can be checked without depending on scheduling: unhindered,
// a tiny model can finish before Complete's goroutine first runs, and the
// whole answer then (correctly) arrives as one chunk.
var testHookPushed func(text string)

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

// Generate generates text for req.Prompt, streaming it through emit. A
// temperature <= 0 decodes greedily. MaxTokens <= 0 generates until the end
// of generation or the slot's context is full.
func (e *Engine) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	return e.generate(ctx, req, emit, nil)
}

// generate is Generate, for several candidates of the prompt when cands
// is not nil (they then get the text, emit nothing).
func (e *Engine) generate(ctx context.Context, req engine.Request, emit engine.Emit, cands *candidates) (engine.Usage, error) {
	// The prompt is tokenized by the worker once the job has a slot
	// (prepare), not here: under overload most requests are replaced,
	// refused or abandoned while they wait, and tokenizing each on arrival
	// took half the server's CPU from the one decoding (docs/engine.md).
	if err := ctx.Err(); err != nil {
		return engine.Usage{StopReason: engine.StopCancelled}, err // abandoned before it reached the engine
	}
	j := &job{ctx: ctx, req: req, enqueued: time.Now(), notify: make(chan struct{}, 1), cands: cands}

	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return engine.Usage{}, errClosed
	}
	out, ok := e.admit(j, j.enqueued)
	e.mu.Unlock()
	finishDropped(out)
	if !ok {
		return engine.Usage{}, engine.ErrQueueFull
	}
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
				return engine.Usage{QueueWait: time.Since(j.enqueued), StopReason: engine.StopCancelled}, ctx.Err()
			}
			continue
		}
		j.mu.Lock()
		text := j.out.String()
		j.out.Reset()
		candidateTexts := cands.take()
		finished, usage, err := j.finished, j.usage, j.err
		j.mu.Unlock()
		if text != "" && emitErr == nil && !j.cancelled.Load() {
			if emitErr = emit(text); emitErr != nil {
				j.cancelled.Store(true)
			}
		}
		if candidateTexts != nil && !j.cancelled.Load() {
			cands.deliver(candidateTexts)
		}
		if finished {
			switch {
			case emitErr != nil && ctx.Err() != nil:
				// The write failed because the client went away: that is a
				// cancellation, whichever of the two was noticed first.
				usage.StopReason = engine.StopCancelled
				return usage, ctx.Err()
			case emitErr != nil:
				usage.StopReason = engine.StopError
				return usage, emitErr
			case ctx.Err() != nil && usage.StopReason == engine.StopCancelled && err == nil:
				// Cancelled by the client; a preemption (err set) that the
				// worker acted on before the client went away stays the verdict.
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

// bestFreeSlot returns the free slot for j, or nil: the one whose last
// prompt shares the longest prefix with j's, unless that would throw away
// most of a cache for little gain, in which case the least recently used free
// slot (so a user switching between two files keeps both prefixes cached).
// Prompts are compared as text: a waiting job is tokenized only once it has
// a slot. Only a cache j's own client filled counts (see start). e.mu is held.
func (e *Engine) bestFreeSlot(j *job) *slot {
	var best, lru *slot
	bestLen := -1
	for _, s := range e.slots {
		if s.job != nil {
			continue
		}
		n := 0
		if s.owner == clientOf(j) {
			n = commonTextPrefix(s.lastPrompt, j.req.Prompt)
		}
		if n > bestLen {
			best, bestLen = s, n
		}
		if lru == nil || s.lastUsed < lru.lastUsed {
			lru = s
		}
	}
	if best != nil && 2*bestLen < len(best.lastPrompt) {
		return lru
	}
	return best
}

// commonTextPrefix is the length in bytes of the prefix a and b share.
func commonTextPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
