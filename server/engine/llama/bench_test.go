package llama

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/typingreplay"
	"github.com/servalhq/serval/server/engine"
)

// replayMaxTokens is the output budget of each replayed request.
const replayMaxTokens = typingreplay.MaxTokens

// typingReplay returns the FIM prompts of the shared typing replay
// (integration/testsupport/typingreplay).
func typingReplay(tb testing.TB, trace string, snap, suffix bool) []string {
	tb.Helper()
	var prompts []string
	for _, s := range typingreplay.Steps(tb, trace, snap, suffix) {
		prompts = append(prompts, s.FIM())
	}
	return prompts
}

func benchEngine(b *testing.B, cfg Config) *Engine {
	b.Helper()
	cfg.LibDir = llamalib.Dir(b)
	if cfg.ModelPath == "" {
		cfg.ModelPath = testModel(b, ggufgen.Options{})
		// BENCH_ENGINE_SHAPE=0.5b|1.5b: a model of a real shape (Q8_0,
		// random weights, ggufgen's cache) instead of the tiny one.
		if shape := os.Getenv("BENCH_ENGINE_SHAPE"); shape != "" {
			path, err := ggufgen.CachedShape(ggufgen.ShapeOptions{Shape: shape, Type: ggufgen.Q8_0})
			if err != nil {
				b.Fatal(err)
			}
			cfg.ModelPath = path
		}
	}
	if cfg.CtxSize == 0 {
		cfg.CtxSize = 4096
		if n, err := strconv.Atoi(os.Getenv("BENCH_ENGINE_CTX")); err == nil && n > 0 {
			cfg.CtxSize = n // tokens per slot: the K-shift of chunk reuse rotates them all
		}
	}
	e, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkTypingReplay reports the share of prompt tokens evaluated over a
// replayed typing session, with and without the prompt cache.
func BenchmarkTypingReplay(b *testing.B) {
	for _, c := range []struct {
		name         string
		trace        string
		snap, suffix bool
		cfg          Config
	}{
		{"func/nocache", "func", true, true, Config{NoPromptCache: true}},
		{"func/prefix-cache", "func", true, true, Config{ChunkReuseMin: -1}},
		{"func/prefix+chunk-cache", "func", true, true, Config{}},
		{"tail/nocache", "tail", true, true, Config{NoPromptCache: true}},
		{"tail/sliding/prefix-cache", "tail", false, true, Config{ChunkReuseMin: -1}},
		{"tail/sliding/prefix+chunk-cache", "tail", false, true, Config{}},
		{"tail/snapped/prefix-cache", "tail", true, true, Config{ChunkReuseMin: -1}},
		{"tail/snapped/prefix+chunk-cache", "tail", true, true, Config{}},
		{"tail/snapped/no-suffix/prefix-cache", "tail", true, false, Config{ChunkReuseMin: -1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			prompts := typingReplay(b, c.trace, c.snap, c.suffix)
			// One thread: the token counts do not depend on it, and spinning
			// llama.cpp threads on a shared machine distort every timing.
			cfg := c.cfg
			cfg.Threads = 1
			e := benchEngine(b, cfg)
			var promptTokens, evaluated, generated int
			var lat, evalLat []time.Duration
			var generation time.Duration
			for b.Loop() {
				for _, p := range prompts {
					t0 := time.Now()
					u, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: replayMaxTokens}, func(string) error { return nil })
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
					evalLat = append(evalLat, u.PromptEval)
					promptTokens += u.PromptTokens
					evaluated += u.EvaluatedTokens
					generated += u.GeneratedTokens
					generation += u.Generation
				}
			}
			// The generation floor: the tokens returned times the measured
			// time per generated token; p50 over it is the keystroke's cost
			// beyond generating (prompt, scheduling, sampling).
			perToken := generation / time.Duration(max(1, generated))
			floor := perToken * time.Duration(generated) / time.Duration(len(lat))
			b.ReportMetric(float64(perToken.Microseconds())/1000, "ms/generated-token")
			b.ReportMetric(float64(percentile(lat, 50))/float64(max(1, floor)), "p50/floor")
			b.ReportMetric(float64(len(prompts)), "requests/replay")
			b.ReportMetric(float64(promptTokens)/float64(len(lat)), "prompt-tokens/req")
			b.ReportMetric(float64(evaluated)/float64(len(lat)), "evaluated-tokens/req")
			b.ReportMetric(100*float64(evaluated)/float64(promptTokens), "%evaluated")
			b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(evalLat, 50).Microseconds())/1000, "prompt-eval-p50-ms")
		})
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ { // insertion sort: small slices
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[(len(s)-1)*p/100]
}

// bareComplete is the least code that does the same completion with yzma:
// clear the cache, decode the prompt, sample greedily.
func bareComplete(lctx yz.Context, mem yz.Memory, vocab yz.Vocab, batch *yz.Batch, sampler yz.Sampler, prompt string, maxTokens int) int {
	yz.MemoryClear(mem, true)
	toks := yz.Tokenize(vocab, prompt, false, true)
	for i := 0; i < len(toks); i += 512 {
		batch.Clear()
		end := min(len(toks), i+512)
		for k := i; k < end; k++ {
			batch.Add(toks[k], yz.Pos(k), []yz.SeqId{0}, k == len(toks)-1)
		}
		yz.Decode(lctx, *batch)
	}
	pos := len(toks)
	buf := make([]byte, 256)
	n := 0
	for ; n < maxTokens; n++ {
		tok := yz.SamplerSample(sampler, lctx, -1)
		if yz.VocabIsEOG(vocab, tok) {
			break
		}
		yz.TokenToPiece(vocab, tok, buf, 0, false)
		batch.Clear()
		batch.Add(tok, yz.Pos(pos), []yz.SeqId{0}, true)
		pos++
		yz.Decode(lctx, *batch)
	}
	return n
}

// BenchmarkEngineVsBareYzma runs the same completions (the first 40
// requests of the typing replay, cache off) through the engine and through a
// bare yzma loop; the ratio of their ns/op is the engine's overhead.
func BenchmarkEngineVsBareYzma(b *testing.B) {
	prompts := typingReplay(b, "func", true, true)[:40]
	for _, threads := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("threads=%d/engine", threads), func(b *testing.B) {
			e := benchEngine(b, Config{NoPromptCache: true, Threads: threads})
			for b.Loop() {
				for _, p := range prompts {
					if _, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: replayMaxTokens}, func(string) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("threads=%d/bare-yzma", threads), func(b *testing.B) {
			e := benchEngine(b, Config{Threads: threads}) // loads the libraries and the model
			lctx, mem, batch, sampler := bareContext(b, e, threads, 1)
			for b.Loop() {
				for _, p := range prompts {
					bareComplete(lctx, mem, e.vocab, &batch, sampler, p, replayMaxTokens)
				}
			}
		})
	}
}

// bareContext makes a separate context on e's model.
func bareContext(b *testing.B, e *Engine, threads, seqs int) (yz.Context, yz.Memory, yz.Batch, yz.Sampler) {
	cp := yz.ContextDefaultParams()
	cp.NCtx = uint32(4096 * seqs)
	cp.NSeqMax = uint32(seqs)
	cp.NBatch, cp.NUbatch = 512, 512
	cp.NThreads, cp.NThreadsBatch = int32(threads), int32(threads)
	cp.OpOffload, cp.Offload_kqv = 0, 0
	cp.NoPerf = 1
	lctx, err := yz.InitFromModel(e.model, cp)
	if err != nil || lctx == 0 {
		b.Fatal(err)
	}
	mem, err := yz.GetMemory(lctx)
	if err != nil {
		b.Fatal(err)
	}
	batch := yz.BatchInit(512, 0, 1)
	sampler := yz.SamplerChainInit(yz.SamplerChainDefaultParams())
	yz.SamplerChainAdd(sampler, yz.SamplerInitGreedy())
	b.Cleanup(func() {
		yz.SamplerFree(sampler)
		yz.BatchFree(batch)
		yz.Free(lctx)
	})
	return lctx, mem, batch, sampler
}

// BenchmarkSlots compares the two ways of serving N concurrent requests:
// the engine's batched decoding of N sequences in one context, and one
// context per slot, each decoding on its own goroutine with cores/N threads.
// "tiny" is the default test model (attention dominates); "22M" is a wider
// generated model (n_embd 512, 8 layers: matrix products dominate, as in
// real models).
func BenchmarkSlots(b *testing.B) {
	const n, genTokens = 4, 32
	var prompts []string
	for _, p := range typingReplay(b, "func", true, true)[:n] {
		prompts = append(prompts, p[:600]+"<|fim_suffix|><|fim_middle|>")
	}
	threads := runtime.NumCPU()
	for _, m := range []struct {
		name string
		opts ggufgen.Options
	}{
		{"tiny", ggufgen.Options{}},
		{"22M", ggufgen.Options{Embd: 512, Layers: 8, Heads: 8}},
	} {
		model := testModel(b, m.opts)
		for _, th := range []int{threads, 1} {
			b.Run(fmt.Sprintf("%s/batched-one-context/threads=%d", m.name, th), func(b *testing.B) {
				e := benchEngine(b, Config{ModelPath: model, Parallel: n, NoPromptCache: true, Threads: th})
				for b.Loop() {
					var wg sync.WaitGroup
					for _, p := range prompts {
						wg.Go(func() {
							if _, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: genTokens}, func(string) error { return nil }); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				}
			})
		}
		b.Run(m.name+"/context-per-slot", func(b *testing.B) {
			e := benchEngine(b, Config{ModelPath: model, Threads: threads})
			type slotCtx struct {
				lctx    yz.Context
				mem     yz.Memory
				batch   yz.Batch
				sampler yz.Sampler
			}
			ctxs := make([]slotCtx, n)
			for i := range ctxs {
				// Split the cores between the contexts: llama.cpp's threads spin.
				lctx, mem, batch, sampler := bareContext(b, e, max(1, threads/n), 1)
				ctxs[i] = slotCtx{lctx, mem, batch, sampler}
			}
			for b.Loop() {
				var wg sync.WaitGroup
				for i, p := range prompts {
					wg.Go(func() {
						c := ctxs[i]
						bareComplete(c.lctx, c.mem, e.vocab, &c.batch, c.sampler, p, genTokens)
					})
				}
				wg.Wait()
			}
		})
	}
}

// BenchmarkColdRequest times the first request after the engine opens (the
// whole first prompt of the typing replay evaluated, 16 tokens generated),
// with and without the warm-up decode at load, alternating so that both see
// the same machine; 19 M-parameter generated model, one thread.
func BenchmarkColdRequest(b *testing.B) {
	prompt := typingReplay(b, "func", true, true)[0]
	model := testModel(b, ggufgen.Options{Layers: 6, Embd: 512, Heads: 8})
	cold := map[bool][]time.Duration{}
	for b.Loop() {
		for _, noWarmup := range []bool{true, false} {
			e := benchEngine(b, Config{ModelPath: model, Threads: 1, NoWarmup: noWarmup})
			t0 := time.Now()
			if _, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: replayMaxTokens}, func(string) error { return nil }); err != nil {
				b.Fatal(err)
			}
			cold[noWarmup] = append(cold[noWarmup], time.Since(t0))
			e.Close()
		}
	}
	b.ReportMetric(float64(percentile(cold[true], 50).Microseconds())/1000, "cold-no-warmup-ms")
	b.ReportMetric(float64(percentile(cold[false], 50).Microseconds())/1000, "cold-warmup-ms")
}

// BenchmarkClientTurns is what a slot's round robin over clients costs: the
// typing replay typed by n clients at once (each its own copy of the file,
// one step each in turn) against one client typing alone, with the parked
// client caches and without them. ms/completion over one client's is the
// price of a turn: the sequence parked and restored, and the text typed
// since the client's last turn evaluated.
//
//	BENCH_ENGINE_SHAPE=0.5b [BENCH_ENGINE_CTX=2048] SERVAL_LIB_DIR=$PWD/.deps/llama/cpu \
//	  go test -run '^$' -bench ClientTurns -benchtime 1x ./server/engine/llama/
func BenchmarkClientTurns(b *testing.B) {
	prompts := typingReplay(b, "func", true, true)
	prompts = prompts[:min(len(prompts), 24)] // 8 clients at the 0.5B shape: minutes
	for _, c := range []struct {
		name    string
		clients int
		cache   int
	}{
		{"1-client", 1, 0},
		{"8-clients/parked", 8, 0},
		{"8-clients/no-client-cache", 8, -1},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := benchEngine(b, Config{Threads: 1, ClientCacheBytes: c.cache})
			var evaluated, n int
			var spent, promptEval, generation time.Duration
			for b.Loop() {
				for step, p := range prompts {
					for i := range c.clients {
						t0 := time.Now()
						// Each client's own file: its name in the first line.
						own := strings.Replace(p, "<|fim_prefix|>", fmt.Sprintf("<|fim_prefix|>// client %d\n", i), 1)
						u, err := e.Generate(context.Background(), engine.Request{Prompt: own, MaxTokens: replayMaxTokens, Client: fmt.Sprint("client", i)}, func(string) error { return nil })
						if err != nil {
							b.Fatal(err)
						}
						if step == 0 {
							continue // the client's first, cold prompt: alike in every case
						}
						spent += time.Since(t0)
						promptEval += u.PromptEval
						generation += u.Generation
						evaluated += u.EvaluatedTokens
						n++
					}
				}
			}
			n = max(1, n)
			b.ReportMetric(float64(spent.Microseconds())/1000/float64(n), "ms/completion")
			b.ReportMetric(float64(promptEval.Microseconds())/1000/float64(n), "prompt-ms/completion")
			b.ReportMetric(float64(generation.Microseconds())/1000/float64(n), "generation-ms/completion")
			b.ReportMetric(float64(evaluated)/float64(n), "evaluated-tokens/completion")
		})
	}
}
