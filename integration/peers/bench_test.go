package peers_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/peertest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/integration/testsupport/typingreplay"
)

// benchModel is the generated model of the engine benchmark: 6 blocks of
// width 512 (about 19 M parameters, f32), big enough that prompt evaluation,
// not HTTP, dominates each request.
var benchModel = ggufgen.Options{Layers: 6, Embd: 512, Heads: 8}

// engineTarget is one engine serving the replay: started fresh for each
// phase and each cold round, with slots for `typists` clients; start returns
// once the engine reports ready (model loaded, warmed up where it does that).
type engineTarget struct {
	name  string
	start func(b *testing.B, typists int) engineRun
}

// engineRun is a started engine: how to send it a prompt, and its process
// (whose tree's peak RSS the table reports).
type engineRun struct {
	complete func(ctx context.Context, prompt string) (sample, error)
	pid      func() int
}

// sample is one replayed request.
type sample struct {
	latency   time.Duration
	prompt    int // prompt tokens, -1 when the engine does not say
	evaluated int // prompt tokens evaluated (not served from a cache)
	generated int
	promptMS  float64 // the engine's own prompt evaluation time, -1 when it does not say
	decodeMS  float64 // the engine's own generation time, -1 when it does not say
}

// phaseResult sums a replay phase of one engine.
type phaseResult struct {
	samples []sample
	wall    time.Duration
	rssMB   float64 // the engine's process tree's peak resident set
}

// engineRates are the engine's own prompt evaluation and generation speeds
// over the phase (tokens/s; 0 when it does not report its timings).
func (r phaseResult) engineRates() (prompt, gen float64) {
	var ev, gn int
	var pms, gms float64
	for _, s := range r.samples {
		if s.promptMS < 0 || s.decodeMS < 0 {
			return 0, 0
		}
		ev, gn, pms, gms = ev+s.evaluated, gn+s.generated, pms+s.promptMS, gms+s.decodeMS
	}
	if pms > 0 {
		prompt = float64(ev) / pms * 1000
	}
	if gms > 0 {
		gen = float64(gn) / gms * 1000
	}
	return prompt, gen
}

// floorRatio is the p50 latency over the p50 generation floor: each
// request's returned tokens times the engine's measured time per generated
// token (what a request would take if its prompt were free and nothing else
// cost anything); 0 when the engine does not report its timings.
func (r phaseResult) floorRatio() float64 {
	_, gen := r.engineRates()
	if gen == 0 {
		return 0
	}
	var floors []time.Duration
	for _, s := range r.samples {
		floors = append(floors, time.Duration(float64(s.generated)/gen*float64(time.Second)))
	}
	sort.Slice(floors, func(i, j int) bool { return floors[i] < floors[j] })
	if f := pct(floors, 50); f > 0 {
		return float64(pct(r.latencies(), 50)) / float64(f)
	}
	return 0
}

func (r phaseResult) latencies() []time.Duration {
	var d []time.Duration
	for _, s := range r.samples {
		d = append(d, s.latency)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[(len(d)-1)*p/100]
}

func (r phaseResult) evaluatedShare(totals []int) float64 {
	var ev, all int
	for i, s := range r.samples {
		ev += s.evaluated
		if s.prompt >= 0 {
			all += s.prompt
		} else {
			all += totals[i%len(totals)]
		}
	}
	return 100 * float64(ev) / float64(max(all, 1))
}

func (r phaseResult) tokensPerSecond() float64 {
	n := 0
	for _, s := range r.samples {
		n += s.generated
	}
	return float64(n) / r.wall.Seconds()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkEngines is `make bench-engines`: the typing replay of
// typingreplay (strings/builder.go's largest function retyped, a request every
// 3 characters, prefix 1,500 and suffix 500 characters, 16 tokens, greedy)
// against serval's in-process engine, llama-server (cache_prompt; and with
// --cache-reuse) and Ollama (/api/generate, raw), all on the same generated
// model with the same threads; first one typist, then 4 at once. It prints a
// table of p50/p95, the share of prompt tokens evaluated, tokens/s and the
// ratios Serval : peer. Before the replay it measures the cold request
// (coldRequests): each engine restarted BENCH_ENGINES_COLD times, interleaved.
//
//	BENCH_ENGINES_COLD    cold rounds (default 5)
//	BENCH_ENGINES_STEPS   requests per typist (default 30)
//	BENCH_ENGINES_THREADS threads per engine (default 1)
//	BENCH_ENGINES_ONLY    comma-separated engine names to run (default all)
//	BENCH_ENGINES_SERVAL  another serval binary to compare, as engine
//	                      "serval@PATH" (an older build: before and after in one run)
//	BENCH_ENGINES_LLAMA_SERVER  another llama-server binary to compare, as
//	                      engine "llama-server@PATH" (such as a build without OpenMP)
//	BENCH_ENGINES_SHAPE   a real model's architecture with random weights
//	                      instead of the generated model (make's MODEL_SHAPE:
//	                      qwen2.5-coder-0.5b or -1.5b, or 0.5b, 1.5b), cached by
//	                      ggufgen.CachedShape outside the checkout
//	BENCH_ENGINES_TYPE    its weights' type: q8_0 (default), f16
func BenchmarkEngines(b *testing.B) {
	steps := typingreplay.Steps(b, "func", true, true)
	steps = steps[:min(len(steps), envInt("BENCH_ENGINES_STEPS", 30))]
	threads := envInt("BENCH_ENGINES_THREADS", 1)
	model, modelDesc := benchModelFile(b)
	const typists = 4

	targets := []engineTarget{
		{"serval", servalTarget("", model, threads)},
		{"llama-server", llamaTarget("", model, threads, nil)},
		{"ollama", func(b *testing.B, n int) engineRun {
			o := peertest.StartOllama(b, "OLLAMA_NUM_PARALLEL="+strconv.Itoa(n), "OLLAMA_CONTEXT_LENGTH=4096")
			o.Create(b, "bench", model)
			// Load the model before the replay, as serval and llama-server
			// load theirs at start: the first request is cold, not loading.
			if _, err := ollamaRequest(context.Background(), o.URL, "", threads); err != nil {
				b.Fatalf("ollama load: %v\n%s", err, o.Logs())
			}
			return engineRun{func(ctx context.Context, prompt string) (sample, error) {
				return ollamaRequest(ctx, o.URL, prompt, threads)
			}, o.PID}
		}},
		// Last: the run is long on a loaded machine, and each row is printed as it ends.
		{"llama-server --cache-reuse 256", llamaTarget("", model, threads, []string{"--cache-reuse", "256"})},
	}
	if bin := os.Getenv("BENCH_ENGINES_SERVAL"); bin != "" {
		targets = append(targets, engineTarget{"serval@" + bin, servalTarget(bin, model, threads)})
	}
	if bin := os.Getenv("BENCH_ENGINES_LLAMA_SERVER"); bin != "" {
		targets = append(targets, engineTarget{"llama-server@" + bin, llamaTarget(bin, model, threads, nil)})
	}
	if only := os.Getenv("BENCH_ENGINES_ONLY"); only != "" {
		var keep []engineTarget
		for _, t := range targets {
			for _, name := range strings.Split(only, ",") {
				if strings.TrimSpace(name) == t.name {
					keep = append(keep, t)
				}
			}
		}
		targets = keep
	}

	results := map[string][2]phaseResult{}
	var totals []int // prompt tokens per step, from the first engine that counts them
	for b.Loop() {
		cold := coldRequests(b, targets, steps[0].FIM(), envInt("BENCH_ENGINES_COLD", 5))
		printCold(os.Stdout, targets, cold, threads)
		for _, t := range targets {
			var r [2]phaseResult
			for phase, n := range []int{1, typists} {
				b.Run(fmt.Sprintf("%s/typists=%d", t.name, n), func(b *testing.B) {
					run := t.start(b, n)
					r[phase] = replay(b, run.complete, steps, n)
					if u, err := bench.ReadProcUsage(run.pid()); err == nil {
						r[phase].rssMB = float64(u.PeakRSSKB) / 1024
					}
				})
				if totals == nil && phase == 0 && len(r[0].samples) > 0 && r[0].samples[0].prompt >= 0 {
					for _, s := range r[0].samples {
						totals = append(totals, s.prompt)
					}
				}
				if len(r[phase].samples) == 0 {
					continue // filtered out by -bench, or failed
				}
				// Each phase as it ends: a run cut short still says what it measured.
				fmt.Printf("engines: %s (%s UTC)\n", phaseRow(t.name, n, r[phase], totals), time.Now().UTC().Format("15:04:05"))
			}
			results[t.name] = r
		}
	}
	printTable(os.Stdout, targets, results, totals, len(steps), threads, typists, modelDesc)
}

// benchModelFile is the benchmark's model (see BENCH_ENGINES_SHAPE) and how
// the table names it.
func benchModelFile(b *testing.B) (path, desc string) {
	shape := os.Getenv("BENCH_ENGINES_SHAPE")
	if shape == "" {
		return servaltest.TestModel(b, benchModel), fmt.Sprintf("model %d layers × %d wide (ggufgen)", benchModel.Layers, benchModel.Embd)
	}
	typ, err := ggufgen.ParseType(cmp.Or(os.Getenv("BENCH_ENGINES_TYPE"), "q8_0"))
	if err != nil {
		b.Fatal(err)
	}
	path, err = ggufgen.CachedShape(ggufgen.ShapeOptions{Shape: shape, Type: typ})
	if err != nil {
		b.Fatal(err)
	}
	return path, fmt.Sprintf("model of %s's shape in %s, random weights (ggufgen)", shape, typ)
}

// replay runs the steps for n typists at once (each its own file: a
// distinct first line) and returns the samples in step order.
func replay(b *testing.B, complete func(context.Context, string) (sample, error), steps []typingreplay.Step, n int) phaseResult {
	var (
		res phaseResult
		wg  sync.WaitGroup
	)
	perTypist := make([][]sample, n)
	start := time.Now()
	for typist := range n {
		wg.Go(func() {
			for i, st := range steps {
				if n > 1 {
					st.Prefix = fmt.Sprintf("// typist %d\n", typist) + st.Prefix
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				s, err := complete(ctx, st.FIM())
				cancel()
				if err != nil {
					b.Errorf("typist %d step %d: %v", typist, i, err)
					return
				}
				perTypist[typist] = append(perTypist[typist], s)
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	for _, s := range perTypist {
		// The first request of each typist is cold (coldRequests measures
		// that): p50/p95 are of the rest.
		if len(s) > 1 {
			res.samples = append(res.samples, s[1:]...)
		}
	}
	return res
}

// servalTarget runs the serval at bin ("": the one under test).
func servalTarget(bin, model string, threads int) func(*testing.B, int) engineRun {
	return func(b *testing.B, n int) engineRun {
		s := servaltest.Start(b, servaltest.Options{Binary: bin, Model: model, Args: []string{"--threads", strconv.Itoa(threads),
			"--parallel", strconv.Itoa(n), "--ctx-size", "4096", "--no-auth"}})
		return engineRun{func(ctx context.Context, prompt string) (sample, error) { return servalRequest(ctx, s.URL, prompt) }, s.PID}
	}
}

// llamaTarget runs the llama-server at bin ("": build.sh's) with extra arguments.
func llamaTarget(bin, model string, threads int, extra []string) func(*testing.B, int) engineRun {
	return func(b *testing.B, n int) engineRun {
		p := peertest.StartLlamaServer(b, model, peertest.LlamaServerOptions{Threads: threads, Parallel: n, CtxSize: 4096 * n, Args: extra, Binary: bin})
		return engineRun{func(ctx context.Context, prompt string) (sample, error) { return llamaRequest(ctx, p.URL, prompt) }, p.PID}
	}
}

// postTimed posts body and decodes the JSON answer into v, timing the round trip.
func postTimed(ctx context.Context, url, body string, v any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %d %s", url, resp.StatusCode, raw)
	}
	return took, json.Unmarshal(raw, v)
}

func servalRequest(ctx context.Context, base, prompt string) (sample, error) {
	var out struct {
		Timings *llamaTimings `json:"timings"` // llama-server's extension, which serval mirrors
		Usage   struct {
			PromptTokens        int `json:"prompt_tokens"`
			CompletionTokens    int `json:"completion_tokens"`
			PromptTokensDetails struct {
				CachedTokens int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	body := fmt.Sprintf(`{"prompt":%s,"max_tokens":%d,"temperature":0}`, quoteJSON(prompt), typingreplay.MaxTokens)
	took, err := postTimed(ctx, base+"/openai/v1/completions", body, &out)
	u := out.Usage
	return sample{took, u.PromptTokens, u.PromptTokens - u.PromptTokensDetails.CachedTokens, u.CompletionTokens,
		out.Timings.promptMS(), out.Timings.decodeMS()}, err
}

// llamaTimings is the part of llama-server's "timings" object the benchmark reads.
type llamaTimings struct {
	PromptN     int     `json:"prompt_n"`
	PromptMS    float64 `json:"prompt_ms"`
	PredictedN  int     `json:"predicted_n"`
	PredictedMS float64 `json:"predicted_ms"`
}

func (t *llamaTimings) promptMS() float64 {
	if t == nil {
		return -1
	}
	return t.PromptMS
}

func (t *llamaTimings) decodeMS() float64 {
	if t == nil {
		return -1
	}
	return t.PredictedMS
}

func llamaRequest(ctx context.Context, base, prompt string) (sample, error) {
	var out struct {
		TokensEvaluated int          `json:"tokens_evaluated"`
		Timings         llamaTimings `json:"timings"`
	}
	body := fmt.Sprintf(`{"prompt":%s,"n_predict":%d,"temperature":0,"cache_prompt":true}`, quoteJSON(prompt), typingreplay.MaxTokens)
	took, err := postTimed(ctx, base+"/completion", body, &out)
	return sample{took, out.TokensEvaluated, out.Timings.PromptN, out.Timings.PredictedN, out.Timings.PromptMS, out.Timings.PredictedMS}, err
}

// ollamaRequest runs a raw /api/generate; an empty prompt only loads the model.
func ollamaRequest(ctx context.Context, base, prompt string, threads int) (sample, error) {
	var out struct {
		PromptEvalCount    int   `json:"prompt_eval_count"`
		PromptEvalDuration int64 `json:"prompt_eval_duration"` // ns
		EvalCount          int   `json:"eval_count"`
		EvalDuration       int64 `json:"eval_duration"` // ns
	}
	body := fmt.Sprintf(`{"model":"bench","prompt":%s,"raw":true,"stream":false,"options":{"num_predict":%d,"temperature":0,"num_thread":%d,"num_ctx":4096}}`,
		quoteJSON(prompt), typingreplay.MaxTokens, threads)
	took, err := postTimed(ctx, base+"/api/generate", body, &out)
	// Ollama does not say how long the prompt was; the share uses the count
	// the other engines give for the same prompt (the same tokenizer).
	return sample{took, -1, out.PromptEvalCount, out.EvalCount, float64(out.PromptEvalDuration) / 1e6, float64(out.EvalDuration) / 1e6}, err
}

// phaseRow is a phase's figures as the first cells of the table's row:
// engine | typists | p50 ms | p95 ms | % prompt evaluated | tokens/s |
// completions/s | engine prompt tokens/s | engine generation tokens/s |
// p50 : generation floor | peak RSS MB.
func phaseRow(name string, typists int, r phaseResult, totals []int) string {
	lat := r.latencies()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }
	opt := func(format string, v float64) string {
		if v <= 0 {
			return "–"
		}
		return fmt.Sprintf(format, v)
	}
	promptRate, genRate := r.engineRates()
	return fmt.Sprintf("%s | %d | %s | %s | %.1f | %.1f | %.2f | %s | %s | %s | %s", name, typists,
		ms(pct(lat, 50)), ms(pct(lat, 95)), r.evaluatedShare(totals), r.tokensPerSecond(),
		float64(len(r.samples))/r.wall.Seconds(), opt("%.0f", promptRate), opt("%.1f", genRate),
		opt("%.2f", r.floorRatio()), opt("%.0f", r.rssMB))
}

func printTable(w io.Writer, targets []engineTarget, results map[string][2]phaseResult, totals []int, steps, threads, typists int, model string) {
	serval, haveServal := results["serval"]
	ratio := func(a, b time.Duration) string {
		if !haveServal || b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	fmt.Fprintf(w, "\nEngine typing replay: %d requests per typist, %d thread(s) per engine, %s\n\n", steps, threads, model)
	fmt.Fprintln(w, "| engine | typists | p50 ms | p95 ms | % prompt evaluated | tokens/s | completions/s | prompt tok/s (engine) | generation tok/s (engine) | p50 : generation floor | peak RSS MB | Serval:peer p50 | Serval:peer p95 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		r, ok := results[t.name]
		if !ok {
			continue
		}
		for phase, n := range []int{1, typists} {
			lat := r[phase].latencies()
			if len(lat) == 0 {
				continue
			}
			sl := serval[phase].latencies()
			fmt.Fprintf(w, "| %s | %s | %s |\n", phaseRow(t.name, n, r[phase], totals),
				ratio(pct(sl, 50), pct(lat, 50)), ratio(pct(sl, 95), pct(lat, 95)))
		}
	}
	fmt.Fprintln(w, "\nRatios below 1 mean Serval is faster; tokens/s is generated tokens over the phase's wall time (all typists together);")
	fmt.Fprintln(w, "the generation floor is each request's returned tokens times the engine's own measured time per generated token.")
}
