package llama

import (
	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// trimCache keeps the first n cached tokens of slot s and drops the rest of
// its sequence from the KV cache (all of it when partial removal fails).
func (e *Engine) trimCache(s *slot, n int) {
	if n >= len(s.cached) {
		s.cached = s.cached[:min(n, len(s.cached))]
		// Still drop anything beyond: a failed decode may have left entries.
		yz.MemorySeqRm(e.mem, s.seq, yz.Pos(len(s.cached)), -1)
		return
	}
	if ok, err := yz.MemorySeqRm(e.mem, s.seq, yz.Pos(n), -1); ok && err == nil {
		s.cached = s.cached[:n]
		return
	}
	yz.MemorySeqRm(e.mem, s.seq, -1, -1)
	s.cached = s.cached[:0]
}

// chunk is a run of a slot's previous tokens reused at a new position.
type chunk struct {
	at int // index in the new prompt where the run goes
	n  int // its length in tokens
}

// maxChunkGap bounds how far (in tokens) after the previous match a reusable
// chunk is looked for, in the old and in the new prompt.
const maxChunkGap = 512

// findChunk returns the longest run of tokens shared by old[jFrom:jEnd] and
// new[kFrom:kEnd] that starts within maxChunkGap of jFrom and kFrom: it starts
// at k in new and at j in old and is m tokens long (m = 0 when none).
func findChunk(old, new []yz.Token, kFrom, kEnd, jFrom, jEnd int) (k, j, m int) {
	for kk := kFrom; kk < min(kEnd, kFrom+maxChunkGap); kk++ {
		for jj := jFrom; jj < min(jEnd, jFrom+maxChunkGap); jj++ {
			if old[jj] != new[kk] {
				continue
			}
			if kk > kFrom && jj > jFrom && old[jj-1] == new[kk-1] {
				continue // inside a run that starts earlier
			}
			if n := commonPrefix(old[jj:jEnd], new[kk:kEnd]); n > m {
				k, j, m = kk, jj, n
			}
		}
	}
	return k, j, m
}

// moved is a chunk found by findChunks: from old[j:j+n] to new[k:k+n].
type moved struct{ k, j, n int }

// findChunks returns, in order, runs of at least minLen tokens that old and
// new share after their common prefix p and before new's last token (which
// is always evaluated for its logits): the longest run, then recursively the
// runs before it and after it.
func findChunks(old, new []yz.Token, p, minLen int) []moved {
	var out []moved
	var search func(kFrom, kEnd, jFrom, jEnd, depth int)
	search = func(kFrom, kEnd, jFrom, jEnd, depth int) {
		if depth > 8 || kEnd-kFrom < minLen || jEnd-jFrom < minLen {
			return
		}
		k, j, m := findChunk(old, new, kFrom, kEnd, jFrom, jEnd)
		if m < minLen || m == 0 {
			return
		}
		search(kFrom, k, jFrom, j, depth+1)
		out = append(out, moved{k, j, m})
		search(k+m, kEnd, j+m, jEnd, depth+1)
	}
	search(p, len(new)-1, p, len(old), 0)
	return out
}

// reuseChunks looks for long runs of the slot's cached tokens that the new
// prompt repeats after its common prefix p, at other positions: the suffix
// of a FIM prompt after the user typed before it, the body of a prefix window
// whose start moved, unchanged snippets. Their KV entries are moved to the
// slot's scratch sequence and shifted to their new positions; each is handed
// back (spliceDue) once the prompt tokens before it are evaluated. llama.cpp
// needs each sequence's new positions to follow its last one, hence the
// scratch sequence. The moved keys were computed after the old tokens before
// them, not the new ones: an approximation (llama.cpp's --cache-reuse makes
// the same one), taken only for runs of at least ChunkReuseMin tokens.
func (e *Engine) reuseChunks(s *slot, p int) {
	found := findChunks(s.cached, s.cur.tokens, p, e.cfg.ChunkReuseMin)
	if len(found) == 0 {
		return
	}
	yz.MemorySeqRm(e.mem, s.scratch, -1, -1)
	for _, c := range found {
		if err := yz.MemorySeqCp(e.mem, s.seq, s.scratch, yz.Pos(c.j), yz.Pos(c.j+c.n)); err != nil {
			yz.MemorySeqRm(e.mem, s.scratch, -1, -1)
			return
		}
	}
	if ok, err := yz.MemorySeqRm(e.mem, s.seq, yz.Pos(p), -1); !ok || err != nil {
		yz.MemorySeqRm(e.mem, s.scratch, -1, -1)
		return
	}
	s.cached = s.cached[:p]
	// Shift each run to its new place. Old and new ranges are both ordered
	// and disjoint, so moving the left-movers first to last, then the
	// right-movers last to first, never shifts a range onto one not yet moved.
	for _, c := range found {
		if c.k < c.j {
			yz.MemorySeqAdd(e.mem, s.scratch, yz.Pos(c.j), yz.Pos(c.j+c.n), yz.Pos(c.k-c.j))
		}
	}
	for i := len(found) - 1; i >= 0; i-- {
		if c := found[i]; c.k > c.j {
			yz.MemorySeqAdd(e.mem, s.scratch, yz.Pos(c.j), yz.Pos(c.j+c.n), yz.Pos(c.k-c.j))
		}
	}
	for _, c := range found {
		s.chunks = append(s.chunks, chunk{at: c.k, n: c.n})
	}
}

// spliceDue puts every reused chunk that starts at the next prompt index
// back into the slot's sequence, right after the tokens evaluated before it.
func (e *Engine) spliceDue(s *slot) {
	for len(s.chunks) > 0 && s.chunks[0].at == s.prompt {
		c := s.chunks[0]
		yz.MemorySeqCp(e.mem, s.scratch, s.seq, yz.Pos(c.at), yz.Pos(c.at+c.n))
		yz.MemorySeqRm(e.mem, s.scratch, yz.Pos(c.at), yz.Pos(c.at+c.n))
		s.cached = append(s.cached, s.cur.tokens[c.at:c.at+c.n]...)
		s.prompt = c.at + c.n
		s.chunks = s.chunks[1:]
	}
}

// keepSplice ends the splice of a job that stopped early (cancelled or
// preempted, most often by the same client's next keystroke, whose prompt
// has the same chunks): each pending chunk is moved straight after the
// slot's evaluated tokens, so the cache keeps it and the next prompt finds
// it again, instead of evaluating it anew (serval-bench at the 0.5B shape:
// 462 tokens, 2.1 s, where 124 were new). tokens is the job's prompt. The
// chunks are in order and each moves left, onto positions no other pending
// chunk holds.
func (e *Engine) keepSplice(s *slot, tokens []yz.Token) {
	for _, c := range s.chunks {
		at := len(s.cached)
		if at != c.at {
			yz.MemorySeqAdd(e.mem, s.scratch, yz.Pos(c.at), yz.Pos(c.at+c.n), yz.Pos(at-c.at))
		}
		yz.MemorySeqCp(e.mem, s.scratch, s.seq, yz.Pos(at), yz.Pos(at+c.n))
		s.cached = append(s.cached, tokens[c.at:c.at+c.n]...)
	}
	yz.MemorySeqRm(e.mem, s.scratch, -1, -1)
	s.chunks = s.chunks[:0]
}

// dropSplice abandons the pending chunks (their tokens get evaluated instead).
func (e *Engine) dropSplice(s *slot) {
	if len(s.chunks) == 0 {
		return
	}
	yz.MemorySeqRm(e.mem, s.scratch, -1, -1)
	for _, c := range s.chunks {
		s.usage.ReusedTokens -= c.n
		s.usage.EvaluatedTokens += c.n
	}
	s.chunks = s.chunks[:0]
}
