package llama

import (
	"errors"
	"fmt"
	"math"
	"time"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/server/engine"
)

// work is the engine's single worker: it owns the llama.cpp context and
// runs decode steps while any slot has a job.
func (e *Engine) work() {
	defer close(e.workerDone)
	for {
		e.mu.Lock()
		out := e.dispatch(time.Now())
		var active []*slot
		for _, s := range e.slots {
			if s.job != nil {
				s.cur = s.job
				active = append(active, s)
			}
		}
		closed := e.stopping
		waiting := len(e.queue) > 0
		e.mu.Unlock()
		finishDropped(out)

		if len(active) == 0 {
			if closed {
				return
			}
			<-e.wake
			continue
		}
		e.step(active, closed, waiting)
	}
}

// step advances every active slot by one decode. While requests wait for
// a slot, prompts advance in chunks of at most waitingChunk tokens.
func (e *Engine) step(active []*slot, closed, waiting bool) {
	e.batch.Clear()
	budget := e.cfg.BatchSize
	var inBatch []*slot

	// Generating slots first (one token each), then prompt chunks.
	for _, generating := range []bool{true, false} {
		for _, s := range active {
			j := s.cur
			if j == nil {
				continue // released earlier in this step
			}
			if s.generating != generating {
				continue
			}
			if closed {
				e.release(s, engine.StopError, errClosed)
				continue
			}
			if j.preempted.Load() {
				e.release(s, engine.StopCancelled, engine.ErrPreempted)
				continue
			}
			if j.cancelled.Load() || j.ctx.Err() != nil {
				e.release(s, engine.StopCancelled, nil)
				continue
			}
			if !s.started && !e.prepare(s) {
				continue // its prompt cannot be served: the job ended
			}
			if !s.started {
				e.start(s)
			}
			if budget == 0 {
				continue
			}
			s.added, s.logitIdx = 0, -1
			pos := len(s.cached)
			if generating && j.cands != nil {
				n, live := e.addCandidates(s, budget)
				if !live {
					e.release(s, j.cands.list[0].usage.StopReason, nil)
					continue
				}
				s.added = n
				budget -= n
			} else if generating {
				e.batch.Add(s.last, yz.Pos(pos), []yz.SeqId{s.seq}, true)
				s.added, s.logitIdx = 1, e.batch.NTokens-1
				budget--
			} else {
				e.spliceDue(s)
				pos = len(s.cached)
				n := min(budget, len(j.tokens)-s.prompt)
				if j.req.PromptOnly {
					n = min(n, warmupChunk)
				}
				if waiting {
					n = min(n, waitingChunk)
				}
				if len(s.chunks) > 0 {
					n = min(n, s.chunks[0].at-s.prompt) // stop where the next chunk goes
				}
				for i := range n {
					last := s.prompt+i == len(j.tokens)-1
					e.batch.Add(j.tokens[s.prompt+i], yz.Pos(pos+i), []yz.SeqId{s.seq}, last)
					if last {
						s.logitIdx = e.batch.NTokens - 1
					}
				}
				s.added = n
				budget -= n
			}
			inBatch = append(inBatch, s)
		}
	}
	if len(inBatch) == 0 {
		return
	}

	// Cancellation is checked between decode steps (above), not inside a
	// decode through llama.cpp's abort callback: that callback re-enters Go
	// once per graph node, which made a 2-thread decode ~9× slower on a loaded
	// machine (docs/engine.md). A step is at most BatchSize tokens.
	if e.beforeDecode != nil {
		e.beforeDecode()
	}
	rc, err := yz.Decode(e.lctx, e.batch)
	if err != nil || rc != 0 {
		// Drop whatever part of the batch reached the cache, so each
		// slot's cached tokens describe its cache exactly again.
		for _, s := range inBatch {
			e.trimCache(s, len(s.cached))
			e.dropSplice(s)
		}
		if err == nil {
			err = fmt.Errorf("llama_decode returned %d", rc)
			if rc == 1 {
				err = errors.New("llama_decode: no room in the KV cache")
			}
		}
		for _, s := range inBatch {
			e.release(s, engine.StopError, fmt.Errorf("llama: %w", err))
		}
		return
	}

	for _, s := range inBatch {
		j := s.cur
		if s.generating && j.cands != nil {
			e.sampleCandidates(s)
			continue
		} else if s.generating {
			s.cached = append(s.cached, s.last)
		} else {
			s.cached = append(s.cached, j.tokens[s.prompt:s.prompt+s.added]...)
			s.prompt += s.added
			e.spliceDue(s)
			if s.prompt < len(j.tokens) {
				continue // more prompt to evaluate
			}
			if j.req.PromptOnly {
				e.release(s, engine.StopMaxTokens, nil) // a warm-up: the prompt is in the cache
				continue
			}
			s.generating = true
			s.genStart = time.Now()
			if j.cands != nil {
				e.startCandidates(s)
				continue
			}
		}
		e.sample(s)
	}
}

// waitingChunk bounds a step's prompt chunk while requests wait: a job
// whose client goes away holds its slot until the end of the step it is
// in (cancellation is checked between steps), and under overload most
// jobs end that way, so a 512-token step wasted up to 512 tokens of
// evaluation each time. Below capacity nothing waits and prompts go in
// full batches.
const waitingChunk = 128

// prepare tokenizes the prompt of slot s's new job (and fits its
// candidates to the context). A prompt that cannot be served ends the job
// with its error and frees the slot, leaving its cache as it was; prepare
// then reports false.
func (e *Engine) prepare(s *slot) bool {
	j := s.cur
	if j.tokens != nil {
		return true
	}
	tokens, err := e.promptTokens(j.req.Prompt)
	if err == nil {
		j.tokens = tokens
		if j.cands != nil {
			j.cands.fit(len(tokens), e.cfg.CtxSize, j.req.MaxTokens)
		}
		return true
	}
	s.cur = nil
	e.mu.Lock()
	s.job = nil
	e.mu.Unlock()
	// No stop reason: the job never ran (GenerateCandidates tells by it).
	j.finish(engine.Usage{PromptTokens: len(tokens), QueueWait: time.Since(j.enqueued)}, err)
	return false
}

// start sets up a slot for its new job: reuse the cached prefix, drop the
// rest of the slot's cache, and build the sampler.
func (e *Engine) start(s *slot) {
	j := s.cur
	s.started = true
	s.generating = false
	s.text.flush()
	s.promptFrom = time.Now()
	s.usage = engine.Usage{PromptTokens: len(j.tokens), QueueWait: s.promptFrom.Sub(j.enqueued)}

	// A slot's cache serves only the client that filled it: how much of a
	// prompt another's cache matched (reused tokens, or just the prompt's
	// time) would tell one user about another's code (docs/engine.md).
	if s.owner != clientOf(j) && !e.cfg.NoPromptCache && e.caches.budget > 0 {
		e.swapClientCache(s, clientOf(j)) // clientcache.go
	}
	cross := s.owner != clientOf(j)
	s.owner, s.lastPrompt = clientOf(j), j.req.Prompt
	// Matched after the swap: s.cached is now the client's own sequence.
	reuse := commonPrefix(s.cached, j.tokens)
	if e.cfg.NoPromptCache || cross {
		reuse = 0
	}
	if reuse == len(j.tokens) {
		reuse-- // the last prompt token is evaluated again to get its logits
	}
	if !e.cfg.NoPromptCache && !cross && e.cfg.ChunkReuseMin > 0 {
		e.reuseChunks(s, reuse)
	}
	e.trimCache(s, reuse)
	s.prompt = len(s.cached)
	s.usage.ReusedTokens = s.prompt
	for _, c := range s.chunks {
		s.usage.ReusedTokens += c.n
	}
	s.usage.EvaluatedTokens = len(j.tokens) - s.usage.ReusedTokens

	s.sampler = newSampler(j.req)
}

// newSampler builds the sampler chain of req's decoding settings.
func newSampler(req engine.Request) yz.Sampler {
	chain := yz.SamplerChainInit(yz.SamplerChainDefaultParams())
	temp, topP := float64(req.Temperature), float64(req.TopP)
	if math.IsNaN(temp) || temp <= 0 {
		yz.SamplerChainAdd(chain, yz.SamplerInitGreedy())
	} else {
		if topP > 0 && topP < 1 { // NaN fails both tests: disabled
			yz.SamplerChainAdd(chain, yz.SamplerInitTopP(float32(topP), 1))
		}
		yz.SamplerChainAdd(chain, yz.SamplerInitTemp(float32(min(temp, maxTemperature))))
		yz.SamplerChainAdd(chain, yz.SamplerInitDist(req.Seed))
	}
	return chain
}

// maxTemperature caps the temperature: beyond it sampling is uniform anyway,
// and an infinite one would turn every logit into NaN.
const maxTemperature = 100

// sample picks slot s's next token after a decode and streams its text.
func (e *Engine) sample(s *slot) {
	j := s.cur
	tok := yz.SamplerSample(s.sampler, e.lctx, s.logitIdx)
	if s.usage.GeneratedTokens == 0 {
		s.usage.PromptEval = s.genStart.Sub(s.promptFrom)
	}
	if yz.VocabIsEOG(e.vocab, tok) {
		e.release(s, engine.StopEOS, nil)
		return
	}
	s.usage.GeneratedTokens++
	if cap(s.piece) < 256 {
		s.piece = make([]byte, 256)
	}
	n := yz.TokenToPiece(e.vocab, tok, s.piece[:cap(s.piece)], 0, false)
	if n < 0 { // the buffer is too small: -n bytes are needed
		s.piece = make([]byte, -n)
		n = yz.TokenToPiece(e.vocab, tok, s.piece, 0, false)
	}
	if n > 0 {
		if text := s.text.write(s.piece[:n]); text != "" {
			j.push(text)
		}
	}
	s.last = tok
	switch {
	case j.req.MaxTokens > 0 && s.usage.GeneratedTokens >= j.req.MaxTokens:
		e.release(s, engine.StopMaxTokens, nil)
	case len(s.cached)+1 >= e.cfg.CtxSize:
		e.release(s, engine.StopMaxTokens, nil) // the slot's context is full
	}
}

// release ends slot s's job and frees the slot.
func (e *Engine) release(s *slot, reason string, err error) {
	j := s.cur
	s.cur = nil
	if !s.started { // ended before its first step
		s.usage = engine.Usage{PromptTokens: len(j.tokens), QueueWait: time.Since(j.enqueued)}
	}
	s.text.flush()
	if s.sampler != 0 {
		yz.SamplerFree(s.sampler)
		s.sampler = 0
	}
	s.usage.StopReason = reason
	if s.generating {
		s.usage.Generation = time.Since(s.genStart)
	} else if s.started {
		s.usage.PromptEval = time.Since(s.promptFrom)
	}
	s.started, s.generating = false, false
	if j.cands != nil {
		e.endCandidates(s, j, reason)
	}
	if reason == engine.StopCancelled {
		e.keepSplice(s, j.tokens)
	} else {
		e.dropSplice(s)
	}
	e.mu.Lock()
	s.job = nil
	e.useClock++
	s.lastUsed = e.useClock
	e.mu.Unlock()
	j.finish(s.usage, err)
}
