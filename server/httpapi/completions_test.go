package httpapi

import (
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/engine"
)

func TestTiming(t *testing.T) {
	u := engine.Usage{QueueWait: time.Millisecond, PromptEval: 2 * time.Millisecond, Generation: 3 * time.Millisecond}
	tm := timing(u, 7*time.Millisecond)
	if tm.QueueMS != 1 || tm.PromptEvalMS != 2 || tm.GenerationMS != 3 || tm.OverheadMS != 1 || tm.TotalMS != 7 {
		t.Fatalf("%+v", tm)
	}
	if timing(u, time.Millisecond).OverheadMS != 0 {
		t.Fatal("negative overhead")
	}
}

// The wire request reaches the service whole: every segment and option
// that the prompt uses is carried over.
func TestCompletionRequestCarriesEverything(t *testing.T) {
	temp, seed := float32(0.5), uint32(7)
	c, err := completionRequest(&api.CompletionRequest{
		Language: "go", Temperature: &temp, Seed: &seed, MaxTokens: 12,
		Segments: &api.Segments{Prefix: "p", Suffix: "s", Filepath: "a/b.go",
			Declarations:                            []api.Declaration{{Filepath: "d.go", Body: "type D int"}},
			RelevantSnippetsFromChangedFiles:        []api.Snippet{{Filepath: "c.go", Body: "C", Score: 0.5}},
			RelevantSnippetsFromRecentlyOpenedFiles: []api.Snippet{{Filepath: "o.go", Body: "O", Score: 0.25}},
		},
		DebugOptions: &api.DebugOptions{DisableRetrievalAugmentedCodeCompletion: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Language != "go" || c.Prefix != "p" || c.Suffix != "s" || c.Filepath != "a/b.go" || c.MaxTokens != 12 ||
		*c.Temperature != 0.5 || *c.Seed != 7 || !c.NoSnippets {
		t.Errorf("request %+v", c)
	}
	if len(c.Declarations) != 1 || c.Declarations[0].Body != "type D int" ||
		len(c.ChangedSnippets) != 1 || c.ChangedSnippets[0].Score != 0.5 ||
		len(c.OpenedSnippets) != 1 || c.OpenedSnippets[0].Filepath != "o.go" {
		t.Errorf("context %+v", c)
	}
	if c, err := completionRequest(&api.CompletionRequest{DebugOptions: &api.DebugOptions{RawPrompt: "x"}}); err != nil || c.RawPrompt != "x" {
		t.Errorf("raw prompt without segments: %+v, %v", c, err)
	}
}
