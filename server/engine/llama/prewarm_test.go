package llama

import (
	"context"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/engine"
)

// A warm-up (PromptOnly) evaluates the whole prompt into the slot's cache in
// steps of at most warmupChunk tokens and generates nothing; the completion
// that follows with the same prompt reuses all of it but the last token.
func TestPromptOnlyFillsTheCache(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, CtxSize: 4096})
	prompt := "<|fim_prefix|>" + strings.Repeat("func f(x int) int {\n\treturn x * 2\n}\n", 30) + "<|fim_suffix|>\n<|fim_middle|>"
	steps := 0
	e.beforeDecode = func() { steps++ }
	u, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, PromptOnly: true, Priority: engine.PriorityWarmup},
		func(s string) error { t.Errorf("a warm-up emitted %q", s); return nil })
	e.beforeDecode = nil
	if err != nil {
		t.Fatal(err)
	}
	if u.GeneratedTokens != 0 || u.EvaluatedTokens != u.PromptTokens || u.PromptTokens < 3*warmupChunk {
		t.Fatalf("warm-up usage %+v", u)
	}
	if want := (u.PromptTokens + warmupChunk - 1) / warmupChunk; steps != want {
		t.Errorf("%d decode steps for %d prompt tokens, want %d (chunks of %d)", steps, u.PromptTokens, want, warmupChunk)
	}
	var text string
	real, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 3}, func(s string) error { text += s; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if real.ReusedTokens != u.PromptTokens-1 || real.EvaluatedTokens != 1 || real.GeneratedTokens != 3 || text == "" {
		t.Errorf("completion after the warm-up: %+v, text %q", real, text)
	}
	if !e.CachesPrompts() {
		t.Error("CachesPrompts false with the prompt cache on")
	}
}
