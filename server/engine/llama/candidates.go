package llama

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/server/engine"
)

// Several candidates of one prompt (engine.CandidateEngine) share its
// evaluation: the job holds one slot like any other and evaluates its
// prompt in the slot's sequence. When the prompt is done, its KV entries
// are given to one more sequence per extra candidate (MemorySeqCp: in the
// unified cache the cells only gain a sequence id, nothing is copied),
// every candidate samples its first token from the prompt's logits with
// its own sampler, and from then on each decode step carries the next
// token of every live candidate. The first candidate lives in the slot's
// own sequence, so its tokens stay in the prompt cache like a single
// request's; the others' sequences are dropped when the job ends.

// candidateSeqsPerSlot is the number of extra sequences each slot keeps
// for the candidates after the first.
const candidateSeqsPerSlot = engine.MaxCandidates - 1

// candidateSeq is the sequence of the k-th extra candidate (k ≥ 1) of the
// slot whose main sequence is seq. Sequences 0..2·Parallel-1 are the
// slots' main and scratch ones (see Open).
func (e *Engine) candidateSeq(seq yz.SeqId, k int) yz.SeqId {
	return yz.SeqId(2*e.cfg.Parallel + int(seq)*candidateSeqsPerSlot + k - 1)
}

// candidates are the generations of a job that asked for several.
type candidates struct {
	emit     engine.CandidateEmit // called on the Generate goroutine only
	limit    int                  // most tokens each candidate generates; 0: none
	list     []*candidate
	genStart time.Time // when the prompt was done (worker-only)
}

// candidate is one generation of a candidates job.
type candidate struct {
	req engine.Request // its sampling (engine.Request.Candidate)

	// Worker-only state.
	seq      yz.SeqId
	sampler  yz.Sampler // the slot's own for the first candidate
	text     utf8Buffer
	piece    []byte
	last     yz.Token // sampled, not yet decoded
	pos      int      // position of last
	logitIdx int32    // its logits in the current batch, -1 when not in it
	inBatch  bool
	live     bool
	usage    engine.Usage // set when it ends, before the job finishes

	// stop is set on the Generate goroutine when emit returned an error;
	// the worker ends the candidate at its next step.
	stop atomic.Bool
	// emitErr is what emit returned (Generate goroutine only).
	emitErr error

	out strings.Builder // under job.mu: produced, not yet emitted
}

// GenerateCandidates generates n candidates of req sharing one prompt
// evaluation (see engine.CandidateEngine). When the slot's context cannot
// hold n of them at req.MaxTokens each, it generates fewer.
func (e *Engine) GenerateCandidates(ctx context.Context, req engine.Request, n int, emit engine.CandidateEmit) ([]engine.CandidateResult, error) {
	n = max(1, min(n, engine.MaxCandidates))
	c := &candidates{emit: emit}
	for i := range n {
		c.list = append(c.list, &candidate{req: req.Candidate(i)})
	}
	_, err := e.generate(ctx, req, func(string) error { return nil }, c)
	if err != nil && (ctx.Err() != nil || c.list[0].usage.StopReason == "") {
		return nil, err // it never ran, or the caller went away
	}
	results := make([]engine.CandidateResult, len(c.list))
	for i, cand := range c.list {
		results[i] = engine.CandidateResult{Usage: cand.usage, Err: cand.emitErr}
		if results[i].Err == nil {
			results[i].Err = err
		}
	}
	return results, nil
}

// fit shrinks the candidates to what a slot's context of ctxSize tokens
// holds after a prompt of promptLen tokens: each candidate's tokens take
// cells of their own.
func (c *candidates) fit(promptLen, ctxSize, maxTokens int) {
	room := ctxSize - promptLen - 1
	if maxTokens <= 0 {
		c.limit = max(1, room/len(c.list))
		return
	}
	c.limit = maxTokens
	c.list = c.list[:max(1, min(len(c.list), room/maxTokens))]
}

// take returns the text each candidate produced since the last call.
// job.mu is held.
func (c *candidates) take() []string {
	if c == nil {
		return nil
	}
	var texts []string
	for i, cand := range c.list {
		if cand.out.Len() == 0 {
			continue
		}
		if texts == nil {
			texts = make([]string, len(c.list))
		}
		texts[i] = cand.out.String()
		cand.out.Reset()
	}
	return texts
}

// deliver passes texts (from take) to emit, on the Generate goroutine; a
// candidate whose emit fails gets nothing more and is stopped.
func (c *candidates) deliver(texts []string) {
	for i, text := range texts {
		cand := c.list[i]
		if text == "" || cand.emitErr != nil {
			continue
		}
		if err := c.emit(i, text); err != nil {
			cand.emitErr = err
			cand.stop.Store(true)
		}
	}
}

// startCandidates runs on the worker once slot s's prompt is evaluated:
// the other candidates' sequences get the prompt's cache, and every
// candidate samples its first token from the prompt's logits.
func (e *Engine) startCandidates(s *slot) {
	c := s.cur.cands
	c.genStart = time.Now()
	base := s.usage
	base.PromptEval = c.genStart.Sub(s.promptFrom)
	for k, cand := range c.list {
		cand.usage = base
		cand.pos = len(s.cached)
		cand.logitIdx = s.logitIdx
		cand.live = true
		if k == 0 {
			cand.seq, cand.sampler = s.seq, s.sampler
			continue
		}
		cand.seq = e.candidateSeq(s.seq, k)
		yz.MemorySeqRm(e.mem, cand.seq, -1, -1)
		if err := yz.MemorySeqCp(e.mem, s.seq, cand.seq, 0, -1); err != nil {
			cand.live = false
			cand.usage.StopReason = engine.StopError
			continue
		}
		cand.sampler = newSampler(cand.req)
	}
	e.sampleCandidates(s)
}

// addCandidates adds the next token of each live candidate of slot s to
// the batch, at most budget of them, and reports how many it added and
// whether any candidate is still live.
func (e *Engine) addCandidates(s *slot, budget int) (added int, live bool) {
	for _, cand := range s.cur.cands.list {
		if !cand.live {
			continue
		}
		if cand.stop.Load() {
			e.endCandidate(s.cur.cands, cand, engine.StopWord)
			continue
		}
		live = true
		cand.logitIdx = -1
		if added == budget {
			continue
		}
		e.batch.Add(cand.last, yz.Pos(cand.pos), []yz.SeqId{cand.seq}, true)
		cand.logitIdx, cand.inBatch = e.batch.NTokens-1, true
		added++
	}
	return added, live
}

// sampleCandidates records the tokens of slot s's candidates that the
// last decode evaluated and samples the next token of each candidate
// whose logits it produced. The slot is released when none is left.
func (e *Engine) sampleCandidates(s *slot) {
	j := s.cur
	c := j.cands
	for k, cand := range c.list {
		if !cand.live {
			continue
		}
		if cand.inBatch {
			cand.inBatch = false
			cand.pos++
			if k == 0 {
				s.cached = append(s.cached, cand.last)
			}
		}
		if cand.logitIdx < 0 {
			continue
		}
		tok := yz.SamplerSample(cand.sampler, e.lctx, cand.logitIdx)
		if yz.VocabIsEOG(e.vocab, tok) {
			e.endCandidate(c, cand, engine.StopEOS)
			continue
		}
		cand.usage.GeneratedTokens++
		if text := cand.text.write(e.piece(tok, &cand.piece)); text != "" {
			j.mu.Lock()
			cand.out.WriteString(text)
			j.mu.Unlock()
			j.signal()
		}
		cand.last = tok
		if c.limit > 0 && cand.usage.GeneratedTokens >= c.limit {
			e.endCandidate(c, cand, engine.StopMaxTokens)
		}
	}
	for _, cand := range c.list {
		if cand.live {
			return
		}
	}
	e.release(s, c.list[0].usage.StopReason, nil)
}

// piece returns the text of tok, in *buf.
func (e *Engine) piece(tok yz.Token, buf *[]byte) []byte {
	if cap(*buf) < 256 {
		*buf = make([]byte, 256)
	}
	n := yz.TokenToPiece(e.vocab, tok, (*buf)[:cap(*buf)], 0, false)
	if n < 0 { // the buffer is too small: -n bytes are needed
		*buf = make([]byte, -n)
		n = yz.TokenToPiece(e.vocab, tok, *buf, 0, false)
	}
	return (*buf)[:max(n, 0)]
}

// endCandidate stops one candidate of c.
func (e *Engine) endCandidate(c *candidates, cand *candidate, reason string) {
	cand.live = false
	cand.text.flush()
	cand.usage.StopReason = reason
	cand.usage.Generation = time.Since(c.genStart)
}

// endCandidates runs when slot s's job j ends, whatever the reason, with
// the slot's usage final: every candidate still live gets reason, the
// extra samplers are freed and the extra sequences dropped from the cache.
func (e *Engine) endCandidates(s *slot, j *job, reason string) {
	c := j.cands
	for k, cand := range c.list {
		if cand.live {
			e.endCandidate(c, cand, reason)
		}
		if cand.usage.StopReason == "" {
			cand.usage = s.usage
			cand.usage.StopReason = reason
		}
		if k == 0 {
			continue // the slot's own sequence and sampler
		}
		if cand.sampler != 0 {
			yz.SamplerFree(cand.sampler)
			cand.sampler = 0
		}
		yz.MemorySeqRm(e.mem, e.candidateSeq(s.seq, k), -1, -1)
	}
}
