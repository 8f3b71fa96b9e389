package openai

import (
	"context"
	"errors"
	"sync"

	"github.com/servalhq/serval/server/engine"
)

var _ engine.CandidateEngine = (*Engine)(nil)

// GenerateCandidates implements engine.CandidateEngine: the first
// candidate is a request of its own (the request's own sampling, greedy by
// default), the others one request with `n` (vLLM and OpenAI take it),
// both at once. An upstream that refuses `n` (llama-server answers 400
// "Only one completion choice is allowed") gets one request per other
// candidate instead.
func (e *Engine) GenerateCandidates(ctx context.Context, req engine.Request, n int, emit engine.CandidateEmit) ([]engine.CandidateResult, error) {
	n = max(1, min(n, engine.MaxCandidates))
	results := make([]engine.CandidateResult, n)
	var mu sync.Mutex // emit's calls are never concurrent
	stopped := make([]bool, n)
	send := func(i int, text string) error {
		mu.Lock()
		defer mu.Unlock()
		if stopped[i] {
			return nil
		}
		if err := emit(i, text); err != nil {
			stopped[i] = true
			results[i].Err = err
			return err
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		u, err := e.Generate(ctx, req, func(text string) error { return send(0, text) })
		mu.Lock()
		defer mu.Unlock()
		results[0].Usage = u
		if results[0].Err == nil {
			results[0].Err = err
		}
	})
	if n > 1 {
		wg.Go(func() { e.others(ctx, req, n, send, results, &mu, stopped) })
	}
	wg.Wait()
	for i, r := range results {
		if r.Err == nil || stopped[i] || r.Usage.GeneratedTokens > 0 {
			return results, nil
		}
	}
	return nil, results[0].Err // none ran
}

// others generates candidates 1..n-1 of req into results: one request
// with n-1 choices, or (when the upstream refuses n) one request each.
func (e *Engine) others(ctx context.Context, req engine.Request, n int, send func(int, string) error, results []engine.CandidateResult, mu *sync.Mutex, stopped []bool) {
	alt := req.Candidate(1)
	body := completionRequest{
		Model: e.cfg.Model, Prompt: alt.Prompt, MaxTokens: alt.MaxTokens, Temperature: alt.Temperature, TopP: alt.TopP,
		Stop: upstreamStops(alt.Stop), Stream: true, N: n - 1,
	}
	if alt.Seed != 0 {
		body.Seed = &alt.Seed
	}
	// Stop the shared stream once every candidate in it is stopped.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	generated := make([]int, n)
	started := false
	u, err := e.stream(ctx, "/completions", body, func(string) error { return nil }, func(c *chunk) string {
		for _, ch := range c.Choices {
			i := 1 + ch.Index
			if i < 1 || i >= n || ch.Text == "" {
				continue
			}
			started = true
			generated[i]++
			send(i, ch.Text)
		}
		mu.Lock()
		all := true
		for i := 1; i < n; i++ {
			all = all && stopped[i]
		}
		mu.Unlock()
		if all {
			cancel()
		}
		return "" // sent above, per choice
	})
	var status *StatusError
	if !started && errors.As(err, &status) && status.Code >= 400 && status.Code < 500 {
		e.separately(ctx, req, n, send, results, mu)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < n; i++ {
		results[i].Usage = u
		results[i].Usage.GeneratedTokens = generated[i]
		if results[i].Err == nil && !(stopped[i] && errors.Is(err, context.Canceled)) {
			results[i].Err = err
		}
	}
}

// separately generates candidates 1..n-1 as one request each, at once.
func (e *Engine) separately(ctx context.Context, req engine.Request, n int, send func(int, string) error, results []engine.CandidateResult, mu *sync.Mutex) {
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() {
			u, err := e.Generate(ctx, req.Candidate(i), func(text string) error { return send(i, text) })
			mu.Lock()
			defer mu.Unlock()
			results[i].Usage = u
			if results[i].Err == nil {
				results[i].Err = err
			}
		})
	}
	wg.Wait()
}
