package llama

import (
	"testing"

	"github.com/servalhq/serval/server/engine"
)

// TestThreadPoolLivesWithTheEngine checks that the context computes on one
// pool of CPU threads made at Open, as llama-server's does, not on the pool
// the prebuilt CPU backend would otherwise start and join for every decode
// (every generated token); Close frees it.
func TestThreadPoolLivesWithTheEngine(t *testing.T) {
	e := openTest(t, Config{Threads: 2})
	if e.pool == 0 {
		t.Fatal("no thread pool attached to the context")
	}
	for range 2 {
		if _, _, u := complete(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 8}); u.GeneratedTokens != 8 {
			t.Fatalf("usage %+v, want 8 generated tokens", u)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e.pool != 0 {
		t.Error("Close kept the thread pool")
	}
}
