package llama

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	yz "github.com/hybridgroup/yzma/pkg/llama"
	"golang.org/x/sys/unix"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
)

// BenchmarkCandidateStep explains BenchmarkCandidates' ratio: on the
// replay's first prompt, held in a bare context's cache and shared by four
// sequences (MemorySeqCp), it times one generation step in each way of
// decoding candidates (one sequence; three in one batch, as the engine
// does; four in one batch; three decodes of one each) and the evaluation of
// a 64-token tail, with flash attention as the engine sets it (auto) and
// off. Times are the decoding thread's CPU time (one thread, as
// DefaultThreads gives on 2 cores), so other processes' load leaves them
// nearly unchanged; the -x figures are ratios to one sequence's step.
// "qwen0.5b" is the Qwen2.5-Coder-0.5B-shaped Q8_0 model that
// `serval-testmodel -shape qwen2.5-coder-0.5b` caches (skipped when absent).
func BenchmarkCandidateStep(b *testing.B) {
	prompt := typingReplay(b, "func", true, true)[0]
	home, _ := os.UserHomeDir()
	qwen := filepath.Join(home, ".cache", "serval", "models", "qwen2.5-coder-0.5b-q8_0-seed0-v1.gguf")
	for _, m := range []struct {
		name string
		opts *ggufgen.Options // nil: the cached qwen0.5b file
	}{
		{"tiny", &ggufgen.Options{}},
		{"22M", &ggufgen.Options{Embd: 512, Layers: 8, Heads: 8}},
		{"qwen0.5b-q8_0", nil},
	} {
		b.Run(m.name, func(b *testing.B) {
			path := qwen
			if m.opts != nil {
				path = testModel(b, *m.opts)
			} else if _, err := os.Stat(path); err != nil {
				b.Skip(err)
			}
			e := benchEngine(b, Config{ModelPath: path, Threads: 1})
			toks := yz.Tokenize(e.vocab, prompt, false, true)
			n := len(toks)
			fas := []yz.FlashAttentionType{yz.FlashAttentionTypeAuto, yz.FlashAttentionTypeDisabled}
			ctxs := map[yz.FlashAttentionType]*stepContext{}
			for _, fa := range fas {
				ctxs[fa] = newStepContext(b, e, fa, toks)
			}
			type way struct {
				fa    yz.FlashAttentionType
				seqs  int
				apart bool // one decode per sequence
			}
			auto, off := fas[0], fas[1]
			ways := []way{{auto, 1, false}, {auto, 3, false}, {auto, 4, false}, {auto, 3, true}, {off, 1, false}, {off, 3, false}}
			stepCPU := map[way]time.Duration{}
			tailCPU := map[yz.FlashAttentionType]time.Duration{}
			runtime.LockOSThread() // threadCPU reads this thread's clock
			defer runtime.UnlockOSThread()
			for b.Loop() {
				for _, fa := range fas {
					c := ctxs[fa]
					c.trim(b, n-64)
					c.batch.Clear()
					for k := n - 64; k < n; k++ {
						c.batch.Add(toks[k], yz.Pos(k), []yz.SeqId{0}, k == n-1)
					}
					t0 := threadCPU()
					c.decode(b)
					tailCPU[fa] += threadCPU() - t0
					c.share(n - 64)
				}
				for _, w := range ways {
					c := ctxs[w.fa]
					for i := range replayMaxTokens {
						t0 := threadCPU()
						c.batch.Clear()
						for s := range w.seqs {
							c.batch.Add(toks[100+i+s], yz.Pos(n+i), []yz.SeqId{yz.SeqId(s)}, true)
							if w.apart {
								c.decode(b)
								c.batch.Clear()
							}
						}
						if !w.apart {
							c.decode(b)
						}
						stepCPU[w] += threadCPU() - t0
					}
					c.trim(b, n)
				}
			}
			ms := func(d time.Duration, per int) float64 { return float64(d.Microseconds()) / float64(per) / 1000 }
			b.ReportMetric(float64(n), "prompt-tokens")
			for _, fa := range fas {
				b.ReportMetric(ms(tailCPU[fa], b.N), fmt.Sprintf("fa%d-tail64-cpu-ms", fa))
			}
			for _, w := range ways {
				name := fmt.Sprintf("fa%d-%dseq", w.fa, w.seqs)
				if w.apart {
					name += "-apart"
				}
				b.ReportMetric(ms(stepCPU[w], replayMaxTokens*b.N), name+"-cpu-ms")
				if w.seqs > 1 {
					b.ReportMetric(float64(stepCPU[w])/float64(stepCPU[way{w.fa, 1, false}]), name+"-x")
				}
			}
		})
	}
}

// stepContext is a bare context on an engine's model holding a prompt
// shared by sequences 0-3.
type stepContext struct {
	lctx  yz.Context
	mem   yz.Memory
	batch yz.Batch
}

func newStepContext(b *testing.B, e *Engine, fa yz.FlashAttentionType, prompt []yz.Token) *stepContext {
	cp := yz.ContextDefaultParams()
	cp.NCtx = 4096
	cp.NSeqMax = 4
	cp.NBatch, cp.NUbatch = 512, 512
	cp.NThreads, cp.NThreadsBatch = 1, 1
	cp.OpOffload, cp.Offload_kqv = 0, 0
	cp.KVUnified = 1
	cp.NoPerf = 1
	cp.FlashAttentionType = fa
	lctx, err := yz.InitFromModel(e.model, cp)
	if err != nil || lctx == 0 {
		b.Fatal(err)
	}
	c := &stepContext{lctx: lctx, batch: yz.BatchInit(512, 0, 1)}
	b.Cleanup(func() {
		yz.BatchFree(c.batch)
		yz.Free(c.lctx)
	})
	if c.mem, err = yz.GetMemory(lctx); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(prompt); i += 512 {
		c.batch.Clear()
		for k := i; k < min(len(prompt), i+512); k++ {
			c.batch.Add(prompt[k], yz.Pos(k), []yz.SeqId{0}, k == len(prompt)-1)
		}
		c.decode(b)
	}
	c.share(0)
	return c
}

func (c *stepContext) decode(b *testing.B) {
	if rc, err := yz.Decode(c.lctx, c.batch); rc != 0 || err != nil {
		b.Fatalf("llama_decode: %d %v", rc, err)
	}
}

// trim drops every sequence's cells from position from on.
func (c *stepContext) trim(b *testing.B, from int) {
	for s := range 4 {
		if _, err := yz.MemorySeqRm(c.mem, yz.SeqId(s), yz.Pos(from), -1); err != nil {
			b.Fatal(err)
		}
	}
}

// share gives sequence 0's cells from position from on to sequences 1-3.
func (c *stepContext) share(from int) {
	for s := yz.SeqId(1); s < 4; s++ {
		yz.MemorySeqCp(c.mem, 0, s, yz.Pos(from), -1)
	}
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
