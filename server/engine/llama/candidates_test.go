package llama

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/server/engine"
)

// candidatesOf runs GenerateCandidates and returns each candidate's text.
func candidatesOf(t *testing.T, e *Engine, req engine.Request, n int) ([]string, []engine.CandidateResult) {
	t.Helper()
	texts := make([]string, n)
	res, err := e.GenerateCandidates(context.Background(), req, n, func(i int, s string) error {
		texts[i] += s
		return nil
	})
	if err != nil {
		t.Fatalf("GenerateCandidates: %v", err)
	}
	return texts[:len(res)], res
}

// TestCandidatesShareThePrompt: three candidates evaluate the prompt once;
// the first is exactly what a single greedy request gives, the others are
// what a single request with their sampling gives (so sharing the cache
// changes nothing), and they differ.
func TestCandidatesShareThePrompt(t *testing.T) {
	e := openTest(t, Config{})
	req := engine.Request{Prompt: goPrompt, MaxTokens: 16, Seed: 7}
	texts, res := candidatesOf(t, e, req, 3)
	if len(res) != 3 {
		t.Fatalf("%d candidates, want 3", len(res))
	}
	for i, r := range res {
		if r.Err != nil || r.Usage.GeneratedTokens == 0 {
			t.Errorf("candidate %d: %+v", i, r)
		}
		if r.Usage.PromptTokens != res[0].Usage.PromptTokens || r.Usage.EvaluatedTokens != res[0].Usage.EvaluatedTokens {
			t.Errorf("candidate %d usage %+v differs from the first's prompt counts %+v", i, r.Usage, res[0].Usage)
		}
	}
	if res[0].Usage.EvaluatedTokens != res[0].Usage.PromptTokens {
		t.Errorf("first request evaluated %d of %d prompt tokens", res[0].Usage.EvaluatedTokens, res[0].Usage.PromptTokens)
	}
	fresh := openTest(t, Config{})
	for i := range 3 {
		want, _, _ := complete(t, fresh, req.Candidate(i))
		if texts[i] != want {
			t.Errorf("candidate %d = %q, a single request with its sampling gives %q", i, texts[i], want)
		}
	}
	if texts[0] == texts[1] && texts[1] == texts[2] {
		t.Errorf("three candidates are all %q", texts[0])
	}
	// The first candidate's tokens stay in the prompt cache, like a single
	// request's: the same prompt again reuses all but its last token.
	_, _, u := complete(t, e, req)
	if u.EvaluatedTokens != 1 {
		t.Errorf("after candidates, the same prompt evaluated %d tokens, want 1", u.EvaluatedTokens)
	}
	// And nothing of the other candidates is left behind: many more rounds
	// fit in the context.
	for range 20 {
		candidatesOf(t, e, req, 3)
	}
}

// TestCandidateStoppedByEmit: an emit error stops that candidate alone.
func TestCandidateStoppedByEmit(t *testing.T) {
	e := openTest(t, Config{})
	stop := errors.New("stop word")
	texts := make([]string, 3)
	res, err := e.GenerateCandidates(context.Background(), engine.Request{Prompt: goPrompt, MaxTokens: 16}, 3, func(i int, s string) error {
		texts[i] += s
		if i == 1 {
			return stop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, stop) || res[1].Usage.GeneratedTokens >= 16 {
		t.Errorf("candidate 1: %+v, want stopped by its emit", res[1])
	}
	for _, i := range []int{0, 2} {
		if res[i].Err != nil || res[i].Usage.GeneratedTokens != 16 {
			t.Errorf("candidate %d: %+v, want 16 tokens", i, res[i])
		}
	}
}

// TestCandidatesFitTheContext: candidates that would not fit the slot's
// context are dropped (down to one), never an error.
func TestCandidatesFitTheContext(t *testing.T) {
	e := openTest(t, Config{CtxSize: 256})
	prompt := "<|fim_prefix|>" + strings.Repeat("x = 1\n", 30) + "<|fim_suffix|><|fim_middle|>"
	n := e.CountTokens(prompt)
	maxTokens := (256 - n) / 2 // room for two, not three
	_, res := candidatesOf(t, e, engine.Request{Prompt: prompt, MaxTokens: maxTokens}, 3)
	if len(res) != 2 {
		t.Errorf("%d candidates of %d tokens after a %d-token prompt in a 256 context, want 2", len(res), maxTokens, n)
	}
	_, res = candidatesOf(t, e, engine.Request{Prompt: prompt, MaxTokens: 250 - n}, 3)
	if len(res) != 1 {
		t.Errorf("%d candidates, want 1", len(res))
	}
}

// TestCandidatesCancelled: a caller that goes away gets ctx's error and
// the slot is free again.
func TestCandidatesCancelled(t *testing.T) {
	e := openTest(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := e.GenerateCandidates(ctx, engine.Request{Prompt: goPrompt, MaxTokens: 200}, 3, func(int, string) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	texts, _ := candidatesOf(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 4}, 2)
	if texts[0] == "" {
		t.Error("the engine gave nothing after a cancelled candidates job")
	}
}

// BenchmarkCandidates replays the first 31 steps of the typing session
// three times side by side, on three engines with the same settings: one
// asks for one candidate per step (Generate), one for three
// (GenerateCandidates), and one makes three requests in a row with the
// candidates' sampling (what a server without shared candidates does;
// the second and third find the prompt cached), 16 tokens each (no stop
// words: every candidate runs its full budget). The first step fills each
// engine's prompt cache and is not timed, so every timed step is a warm
// keystroke: only the prompt's new tail is evaluated (evaluated-tokens/req).
// Steps alternate between the engines so that load on the machine hits all
// alike. It reports the p50 of each and the ratios of their totals to one
// candidate's. "22M" is the generated model whose matrix products dominate,
// as in real models; in "tiny" attention over the prompt dominates.
// BenchmarkCandidateStep shows where the time goes.
func BenchmarkCandidates(b *testing.B) {
	prompts := typingReplay(b, "func", true, true)[:31]
	for _, m := range []struct {
		name string
		opts ggufgen.Options
	}{
		{"22M", ggufgen.Options{Embd: 512, Layers: 8, Heads: 8}},
		{"tiny", ggufgen.Options{}},
	} {
		b.Run(m.name, func(b *testing.B) {
			model := testModel(b, m.opts)
			one := benchEngine(b, Config{ModelPath: model, Threads: 1})
			three := benchEngine(b, Config{ModelPath: model, Threads: 1})
			separate := benchEngine(b, Config{ModelPath: model, Threads: 1})
			var oneLat, threeLat, sepLat []time.Duration
			var oneTotal, threeTotal, sepTotal time.Duration
			var oneCPU, threeCPU time.Duration // the process's CPU time: less sensitive to load
			var evaluated, requests int
			for b.Loop() {
				for step, p := range prompts {
					req := engine.Request{Prompt: p, MaxTokens: replayMaxTokens}
					t0, c0 := time.Now(), processCPU()
					u, err := one.Generate(context.Background(), req, func(string) error { return nil })
					if err != nil {
						b.Fatal(err)
					}
					d := time.Since(t0)
					if step == 0 { // a cold prompt: fill the other engines' caches too
						if _, err := three.GenerateCandidates(context.Background(), req, 3, func(int, string) error { return nil }); err != nil {
							b.Fatal(err)
						}
						for i := range 3 {
							if _, err := separate.Generate(context.Background(), req.Candidate(i), func(string) error { return nil }); err != nil {
								b.Fatal(err)
							}
						}
						continue
					}
					evaluated, requests = evaluated+u.EvaluatedTokens, requests+1
					oneLat, oneTotal, oneCPU = append(oneLat, d), oneTotal+d, oneCPU+processCPU()-c0
					t0, c0 = time.Now(), processCPU()
					res, err := three.GenerateCandidates(context.Background(), req, 3, func(int, string) error { return nil })
					if err != nil || len(res) != 3 {
						b.Fatalf("%d candidates: %v", len(res), err)
					}
					d = time.Since(t0)
					threeLat, threeTotal, threeCPU = append(threeLat, d), threeTotal+d, threeCPU+processCPU()-c0
					t0 = time.Now()
					for i := range 3 {
						if _, err := separate.Generate(context.Background(), req.Candidate(i), func(string) error { return nil }); err != nil {
							b.Fatal(err)
						}
					}
					d = time.Since(t0)
					sepLat, sepTotal = append(sepLat, d), sepTotal+d
				}
			}
			b.ReportMetric(float64(evaluated)/float64(requests), "evaluated-tokens/req")
			b.ReportMetric(float64(percentile(oneLat, 50).Microseconds())/1000, "one-p50-ms")
			b.ReportMetric(float64(percentile(threeLat, 50).Microseconds())/1000, "three-p50-ms")
			b.ReportMetric(float64(percentile(sepLat, 50).Microseconds())/1000, "3-requests-p50-ms")
			b.ReportMetric(float64(threeTotal)/float64(oneTotal), "three/one")
			b.ReportMetric(float64(sepTotal)/float64(oneTotal), "3-requests/one")
			b.ReportMetric(float64(threeCPU)/float64(oneCPU), "three/one-cpu")
		})
	}
}

// processCPU is the CPU time the process has used.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
