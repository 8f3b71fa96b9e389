package llama

import (
	"fmt"

	yz "github.com/hybridgroup/yzma/pkg/llama"
)

// warmUp decodes BOS and EOS once and clears the cache, as llama.cpp's own
// tools (llama-server, llama-cli) do at load: the model's mapped weights are
// paged in, the CPU backend's threads and compute buffers are set up, so the
// first real request does not pay for them (docs/engines.md, "cold request").
func (e *Engine) warmUp() error {
	var toks []yz.Token
	for _, t := range []yz.Token{yz.VocabBOS(e.vocab), yz.VocabEOS(e.vocab)} {
		if t != yz.TokenNull {
			toks = append(toks, t)
		}
	}
	if len(toks) == 0 {
		toks = append(toks, 0)
	}
	if _, err := yz.Decode(e.lctx, yz.BatchGetOne(toks)); err != nil {
		return fmt.Errorf("llama: warm-up decode: %w", err)
	}
	if err := yz.MemoryClear(e.mem, true); err != nil {
		return fmt.Errorf("llama: warm-up: %w", err)
	}
	return yz.Synchronize(e.lctx)
}
