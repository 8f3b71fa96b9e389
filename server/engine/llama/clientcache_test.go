package llama

import (
	"strings"
	"testing"

	"github.com/servalhq/serval/server/engine"
)

// With more clients than slots, a client's prompt cache survives another
// client's turn on the slot (parked out of the KV cache and restored), and
// is never another client's: without the parked caches every turn of the
// round robin evaluated its whole prompt.
func TestClientCacheSurvivesAnotherClientsTurn(t *testing.T) {
	long := strings.Repeat("<|fim_prefix|>package main\n\nfunc main() {\n\tx := 1\n", 8) + "<|fim_suffix|>\n}\n<|fim_middle|>"
	for _, tc := range []struct {
		name      string
		bytes     int
		wantReuse bool
	}{
		{"parked", 0, true},
		{"no client caches", -1, false},
		{"budget smaller than one cache", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := openTest(t, Config{Parallel: 1, ClientCacheBytes: tc.bytes})
			_, _, first := complete(t, e, engine.Request{Prompt: long, MaxTokens: 2, Client: "alice"})
			complete(t, e, engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "bob"})
			if _, _, u := complete(t, e, engine.Request{Prompt: long, MaxTokens: 2, Client: "carol"}); u.ReusedTokens != 0 {
				t.Errorf("carol reused %d tokens of alice's prompt", u.ReusedTokens)
			}
			_, _, again := complete(t, e, engine.Request{Prompt: long, MaxTokens: 2, Client: "alice"})
			switch {
			case tc.wantReuse && again.ReusedTokens < first.PromptTokens/2:
				t.Errorf("alice's return reused %d of %d prompt tokens", again.ReusedTokens, again.PromptTokens)
			case !tc.wantReuse && again.ReusedTokens != 0:
				t.Errorf("alice's return reused %d tokens with no cache to restore", again.ReusedTokens)
			}
		})
	}
}

// The parked caches stay within their budget, the least recently parked
// going first.
func TestClientCachesEvictLeastRecentlyParked(t *testing.T) {
	c := clientCaches{budget: 10}
	c.put("a", &parkedCache{data: make([]byte, 4)})
	c.put("b", &parkedCache{data: make([]byte, 4)})
	c.put("a", &parkedCache{data: make([]byte, 4)}) // parked again: now the newest
	c.put("c", &parkedCache{data: make([]byte, 4)})
	if c.take("b") != nil {
		t.Error("b, the least recently parked, was kept")
	}
	if c.take("a") == nil || c.take("c") == nil {
		t.Error("a or c was evicted")
	}
	if c.bytes != 0 || len(c.byClient) != 0 {
		t.Errorf("%d bytes, %d caches left after taking all", c.bytes, len(c.byClient))
	}
	c.put("huge", &parkedCache{data: make([]byte, 11)})
	if c.take("huge") != nil {
		t.Error("a cache larger than the budget was kept")
	}
}

// A client's restored cache is matched against its own new prompt, not
// against the cache of the slot's previous owner: when bob's prompt shares a
// long prefix with alice's new one and alice's parked cache holds other
// text, alice reuses nothing, and her completion is the one a fresh engine
// gives. Matching against bob's tokens counted his prefix as reused in
// alice's restored sequence, which holds her other text at those positions.
func TestRestoredCacheIsMatchedAgainstItsOwnTokens(t *testing.T) {
	shared := strings.Repeat("<|fim_prefix|>package main\n\nfunc main() {\n\tx := 1\n", 6)
	bobs := shared + "<|fim_suffix|>\n}\n<|fim_middle|>"
	alices := shared + "\ty := 2\n<|fim_suffix|>\n}\n<|fim_middle|>"
	fresh := openTest(t, Config{Parallel: 1})
	want, _, _ := complete(t, fresh, engine.Request{Prompt: alices, MaxTokens: 8, Client: "alice"})

	e := openTest(t, Config{Parallel: 1})
	complete(t, e, engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "alice"})
	complete(t, e, engine.Request{Prompt: bobs, MaxTokens: 2, Client: "bob"})
	got, _, u := complete(t, e, engine.Request{Prompt: alices, MaxTokens: 8, Client: "alice"})
	if u.ReusedTokens > 2 {
		t.Errorf("alice reused %d of %d prompt tokens; her parked cache holds only %q", u.ReusedTokens, u.PromptTokens, prompts[1])
	}
	if got != want {
		t.Errorf("alice's completion after a restore is %q, a fresh engine's %q", got, want)
	}
}
