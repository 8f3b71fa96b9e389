package httpapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/engine"
)

// TestCompletionCandidates: "n" asks for several candidates; each is cut
// at its own stop word, empty ones and duplicates are left out, and the
// others keep their index.
func TestCompletionCandidates(t *testing.T) {
	base := engine.Request{}
	byCandidate := map[uint32][]string{
		base.Candidate(0).Seed: {"print(", "x)", "\n\nmore"},
		base.Candidate(1).Seed: {"print(x)"}, // the same as the first
		base.Candidate(2).Seed: {"return ", "x * 2\n\n", "tail"},
	}
	eng := &completiontest.Engine{Script: func(req engine.Request) []string { return byCandidate[req.Seed] }}
	f := newFixture(t, eng, fixtureOptions{})
	resp, body := f.post(t, "/v1/completions", `{"language":"python","n":3,"segments":{"prefix":"def f(x):\n    ","suffix":"\n"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var cr api.CompletionResponse
	if err := json.Unmarshal([]byte(body), &cr); err != nil {
		t.Fatal(err)
	}
	want := []api.Choice{{Index: 0, Text: "print(x)"}, {Index: 2, Text: "return x * 2"}}
	if len(cr.Choices) != len(want) || cr.Choices[0] != want[0] || cr.Choices[1] != want[1] {
		t.Errorf("choices %+v, want %+v", cr.Choices, want)
	}
	if n := len(eng.Requests()); n != 3 {
		t.Errorf("the engine saw %d requests, want 3 (one per candidate)", n)
	}

	// A candidate that generates nothing is left out; the first always
	// stays, even empty, as Tabby's clients read choices[0].
	byCandidate[base.Candidate(0).Seed] = nil
	byCandidate[base.Candidate(2).Seed] = []string{"\n\n"}
	res, err := f.client.Complete(context.Background(), &api.CompletionRequest{Language: "python", N: 3, Segments: &api.Segments{Prefix: "x = "}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 2 || res.Choices[0] != (api.Choice{Index: 0}) || res.Choices[1] != (api.Choice{Index: 1, Text: "print(x)"}) {
		t.Errorf("choices %+v", res.Choices)
	}

	// Without n, one choice (Tabby's shape).
	res, err = f.client.Complete(context.Background(), &api.CompletionRequest{Language: "python", Segments: &api.Segments{Prefix: "x = "}})
	if err != nil || len(res.Choices) != 1 {
		t.Errorf("without n: %+v, %v", res, err)
	}
}
