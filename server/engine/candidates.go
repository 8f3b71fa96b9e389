package engine

import (
	"context"
	"fmt"
	"sync"
)

// MaxCandidates is the most candidates one request may ask for: enough to
// cycle through, few enough to cost little more than one (see
// CandidateEngine).
const MaxCandidates = 3

// Sampling of the candidates after the first. The first candidate keeps
// the request's own settings (greedy by default: the model's best guess);
// the others must differ from it, so they sample.
const (
	CandidateTemperature = 0.8
	CandidateTopP        = 0.95
)

// Candidate returns the request for candidate i of r: r itself for the
// first, and for the others r sampled at CandidateTemperature (or r's own
// temperature when higher) and top-p, each with its own seed.
func (r Request) Candidate(i int) Request {
	if i == 0 {
		return r
	}
	c := r
	c.Temperature = max(r.Temperature, CandidateTemperature)
	if c.TopP <= 0 || c.TopP >= 1 {
		c.TopP = CandidateTopP
	}
	c.Seed = r.Seed + uint32(i)*0x9e3779b9 // far apart, never equal to r.Seed
	if c.Session != "" {
		// Run as separate requests, candidates must not replace one
		// another in a queue that keeps one request per session.
		c.Session += fmt.Sprintf("#candidate-%d", i)
	}
	return c
}

// CandidateEmit receives the generated text of candidate i in order; each
// call carries valid UTF-8. Calls are never concurrent. A non-nil error
// stops candidate i only (a stop word, say); the others go on.
type CandidateEmit func(i int, text string) error

// CandidateResult is how one candidate ended. Err is the error its emit
// returned, or why the engine stopped it.
type CandidateResult struct {
	Usage Usage
	Err   error
}

// CandidateEngine is implemented by engines that generate several
// candidates of one prompt for less than separate requests cost: the
// in-process engine evaluates the prompt once and decodes the candidates
// together; OpenAI-compatible upstreams take `n`.
type CandidateEngine interface {
	// GenerateCandidates generates n candidates of req, candidate i with
	// req.Candidate(i), streaming each through emit. It returns one result
	// per candidate, or an error (ErrQueueFull, ErrPromptTooLong, ctx's)
	// when none could run. It may return fewer than n results when the
	// context cannot hold n of them; never none without an error.
	GenerateCandidates(ctx context.Context, req Request, n int, emit CandidateEmit) ([]CandidateResult, error)
}

// GenerateCandidates generates n candidates of req on e: in one go when e
// is a CandidateEngine, otherwise as n concurrent Generate calls (an
// engine that cannot share the work still answers). An error is returned
// only when no candidate could run; it is then the first candidate's.
func GenerateCandidates(ctx context.Context, e Engine, req Request, n int, emit CandidateEmit) ([]CandidateResult, error) {
	n = max(1, min(n, MaxCandidates))
	if ce, ok := e.(CandidateEngine); ok {
		return ce.GenerateCandidates(ctx, req, n, emit)
	}
	results := make([]CandidateResult, n)
	ran := make([]bool, n) // the candidate started generating
	var mu sync.Mutex      // emit's calls are never concurrent
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stopped := false
			u, err := e.Generate(ctx, req.Candidate(i), func(text string) error {
				mu.Lock()
				defer mu.Unlock()
				err := emit(i, text)
				stopped = stopped || err != nil
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			results[i] = CandidateResult{Usage: u, Err: err}
			ran[i] = err == nil || stopped
		}()
	}
	wg.Wait()
	for i := range results {
		if ran[i] {
			return results, nil
		}
	}
	return nil, results[0].Err
}
