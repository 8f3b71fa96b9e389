package llama

import (
	"slices"

	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// Client caches. A slot's KV cache serves only the client that filled it
// (docs/engine.md, L1), so with more clients than slots, round robin hands
// each slot to a client whose prompt it has never seen, and every request
// evaluates its whole prompt: at 200 typists on one slot the engine
// evaluated ~1,000 prompt tokens per completion where one client typing
// alone evaluates a few dozen. When a slot passes to another client, the
// worker therefore copies the leaving client's sequence out of the KV cache
// into memory (llama_state_seq_get_data) and copies the arriving client's
// back in if it has one (llama_state_seq_set_data); the usual prefix and
// chunk reuse then applies to it. The copies cost a memcpy of the
// sequence's keys and values (about 0.5 MB per 1,000 tokens for the test
// model, ~28 MB for a 1.5B one), against evaluating the prompt again.
// Memory is bounded by Config.ClientCacheBytes; the least recently parked
// caches go first. Only the worker touches them.

// defaultClientCacheBytes bounds the parked caches by default.
const defaultClientCacheBytes = 256 << 20

// parkedCache is a client's sequence, out of the KV cache.
type parkedCache struct {
	tokens []yz.Token // the sequence's tokens, at positions 0..len-1
	data   []byte     // llama_state_seq_get_data of the sequence
	parked uint64     // clientCaches.clock when parked, for LRU
}

// clientCaches holds the parked caches, at most budget bytes of them.
type clientCaches struct {
	budget   int
	bytes    int
	clock    uint64
	byClient map[string]*parkedCache
}

// take removes and returns client's parked cache, nil when none.
func (c *clientCaches) take(client string) *parkedCache {
	p := c.byClient[client]
	if p != nil {
		delete(c.byClient, client)
		c.bytes -= len(p.data)
	}
	return p
}

// put parks p as client's cache, evicting the least recently parked ones
// to stay within the budget; one larger than the whole budget is dropped.
func (c *clientCaches) put(client string, p *parkedCache) {
	c.take(client)
	if len(p.data) > c.budget {
		return
	}
	for c.bytes+len(p.data) > c.budget {
		oldest := ""
		for k, q := range c.byClient {
			if oldest == "" || q.parked < c.byClient[oldest].parked {
				oldest = k
			}
		}
		c.take(oldest)
	}
	if c.byClient == nil {
		c.byClient = map[string]*parkedCache{}
	}
	c.clock++
	p.parked = c.clock
	c.byClient[client] = p
	c.bytes += len(p.data)
}

// swapClientCache gives slot s to client: it parks the sequence of the
// slot's previous owner, empties the slot, and restores client's parked
// sequence into it when there is one (s.owner is then client). Worker only.
func (e *Engine) swapClientCache(s *slot, client string) {
	if s.owner != "" && len(s.cached) > 0 {
		if n := yz.StateSeqGetSize(e.lctx, s.seq); n > 0 && n <= uint64(e.caches.budget) {
			buf := make([]byte, n)
			if yz.StateSeqGetData(e.lctx, buf, s.seq) == n {
				e.caches.put(s.owner, &parkedCache{tokens: slices.Clone(s.cached), data: buf})
			}
		}
	}
	e.trimCache(s, 0)
	s.owner = ""
	if client == "" {
		return
	}
	p := e.caches.take(client)
	if p == nil {
		return
	}
	if yz.StateSeqSetData(e.lctx, p.data, s.seq) != uint64(len(p.data)) {
		yz.MemorySeqRm(e.mem, s.seq, -1, -1) // whatever part got in: evaluate from scratch
		return
	}
	s.cached = append(s.cached[:0], p.tokens...)
	s.owner = client
}
