package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// candidatesOf runs GenerateCandidates and returns each candidate's text.
func candidatesOf(t *testing.T, e *Engine, n int) []string {
	t.Helper()
	texts := make([]string, n)
	res, err := e.GenerateCandidates(context.Background(), engine.Request{Prompt: "<p>", MaxTokens: 8}, n, func(i int, s string) error {
		texts[i] += s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("candidate %d: %v", i, r.Err)
		}
	}
	return texts
}

// TestCandidatesWithN: the first candidate is a request of its own
// (greedy), the others one request with n, their choices told apart by
// index.
func TestCandidatesWithN(t *testing.T) {
	var withN atomic.Int32
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		var body completionRequest
		json.NewDecoder(r.Body).Decode(&body)
		switch {
		case body.N == 0 && body.Temperature == 0:
			sse(w, `{"choices":[{"index":0,"text":"greedy"}]}`, `[DONE]`)
		case body.N == 2 && body.Temperature == engine.CandidateTemperature:
			withN.Add(1)
			sse(w, `{"choices":[{"index":0,"text":"alpha"}]}`, `{"choices":[{"index":1,"text":"beta"}]}`,
				`{"choices":[{"index":1,"text":"!"}]}`, `[DONE]`)
		default:
			http.Error(w, fmt.Sprintf("unexpected body %+v", body), http.StatusBadRequest)
		}
	})
	got := candidatesOf(t, newEngine(t, srv.URL, 30*time.Second), 3)
	if want := []string{"greedy", "alpha", "beta!"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("candidates %q, want %q", got, want)
	}
	if withN.Load() != 1 {
		t.Errorf("%d requests with n, want 1", withN.Load())
	}
}

// TestCandidatesWithoutN: an upstream that refuses n (llama-server) gets
// one request per candidate, each with its own seed.
func TestCandidatesWithoutN(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		var body completionRequest
		json.NewDecoder(r.Body).Decode(&body)
		if body.N > 1 {
			http.Error(w, `{"error":{"message":"Only one completion choice is allowed"}}`, http.StatusBadRequest)
			return
		}
		seed := uint32(0)
		if body.Seed != nil {
			seed = *body.Seed
		}
		sse(w, fmt.Sprintf(`{"choices":[{"index":0,"text":"seed %d"}]}`, seed), `[DONE]`)
	})
	got := candidatesOf(t, newEngine(t, srv.URL, 30*time.Second), 3)
	base := engine.Request{}
	want := []string{"seed 0", fmt.Sprintf("seed %d", base.Candidate(1).Seed), fmt.Sprintf("seed %d", base.Candidate(2).Seed)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("candidates %q, want %q", got, want)
	}
}

// TestCandidatesUpstreamDown: when no candidate can run, the error.
func TestCandidatesUpstreamDown(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	_, err := newEngine(t, srv.URL, 30*time.Second).GenerateCandidates(context.Background(), engine.Request{Prompt: "<p>"}, 3, func(int, string) error { return nil })
	if err == nil {
		t.Fatal("no error from an upstream that answers 503")
	}
}
