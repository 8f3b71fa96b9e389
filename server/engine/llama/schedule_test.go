package llama

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// holdSlot starts a request of req (which generates until released) and
// returns once it holds a slot; release ends it and returns its error.
func holdSlot(t *testing.T, e *Engine, req engine.Request) (release func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		first := true
		_, err := e.Generate(ctx, req, func(string) error {
			if first {
				first = false
				close(started)
			}
			return nil
		})
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		cancel()
		t.Fatalf("the slot holder ended before its first token: %v", err)
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("the slot holder never started")
	}
	var once sync.Once
	var err error
	release = func() error {
		once.Do(func() {
			cancel()
			err = <-errc
		})
		return err
	}
	t.Cleanup(func() { release() })
	return release
}

// waitQueued waits (at most a minute) until n requests wait.
func waitQueued(t *testing.T, e *Engine, n int) {
	t.Helper()
	for i := 0; e.Info().Queued != n; i++ {
		if i > 12000 {
			t.Fatalf("%d queued, want %d", e.Info().Queued, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// result is one finished Generate.
type result struct {
	name   string
	client string
	err    error
}

// generateAsync runs req in the background, sending its outcome, named, on out.
func generateAsync(e *Engine, name string, req engine.Request, out chan<- result) {
	go func() {
		_, err := e.Generate(context.Background(), req, func(string) error { return nil })
		out <- result{name, req.Client, err}
	}()
}

// firstServed waits for two results of different clients and returns the
// one whose client got the slot first, by the engine's own record of when
// it assigned each client a slot: the order in which results arrive, or a
// time taken in the calling goroutine, is the scheduler's under load, not
// the engine's.
func firstServed(t *testing.T, e *Engine, out <-chan result) result {
	t.Helper()
	a, b := <-out, <-out
	for _, r := range []result{a, b} {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lastServedAt(b.client).Before(e.lastServedAt(a.client)) {
		return b
	}
	return a
}

// A newer request from the same client and session replaces its waiting
// one; another session of the same client keeps its own place.
func TestNewerRequestReplacesTheWaitingOne(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 3)
	generateAsync(e, "old", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "alice", Session: "vim"}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "other-session", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "alice", Session: "code"}, out)
	waitQueued(t, e, 2)
	generateAsync(e, "new", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "alice", Session: "vim"}, out)
	if r := <-out; r.name != "old" || !errors.Is(r.err, engine.ErrSuperseded) {
		t.Fatalf("first to end: %s with %v; want old with ErrSuperseded", r.name, r.err)
	}
	if q := e.Info().Queued; q != 2 {
		t.Errorf("%d waiting after the replacement, want 2", q)
	}
	release()
	for range 2 {
		if r := <-out; r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
		}
	}
}

// When the slot frees, the client served least recently goes first, even
// though the other asked later; among equals, a settled request (not
// replaced for SettleTime) goes before one still being replaced.
func TestFreeSlotGoesToTheLeastRecentlyServedClient(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour, SettleTime: time.Millisecond})
	complete(t, e, engine.Request{Prompt: prompts[0], MaxTokens: 1, Client: "served"})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "never-served", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "never"}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "served", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "served"}, out)
	waitQueued(t, e, 2)
	time.Sleep(5 * time.Millisecond) // both settled
	release()
	if r := firstServed(t, e, out); r.name != "never-served" {
		t.Errorf("first served: %s, want never-served", r.name)
	}
}

func TestSettledRequestGoesFirst(t *testing.T) {
	const settle = 2 * time.Second
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour, SettleTime: settle})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "settled", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "a"}, out)
	waitQueued(t, e, 1)
	time.Sleep(settle + 100*time.Millisecond)
	// Newer, and otherwise equal: it would go first were it settled.
	generateAsync(e, "typing", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "b"}, out)
	waitQueued(t, e, 2)
	release()
	if r := firstServed(t, e, out); r.name != "settled" {
		t.Errorf("first served: %s, want the settled one", r.name)
	}
}

// Among otherwise equal requests still being typed, the newest goes first.
func TestNewestGoesFirstAmongEquals(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour, SettleTime: time.Hour})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "older", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "a"}, out)
	waitQueued(t, e, 1)
	time.Sleep(2 * time.Millisecond)
	generateAsync(e, "newer", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "b"}, out)
	waitQueued(t, e, 2)
	release()
	if r := firstServed(t, e, out); r.name != "newer" {
		t.Errorf("first served: %s, want the newer one", r.name)
	}
}

// A request that waited past MaxWait is dropped with ErrQueueTimeout.
func TestStaleRequestIsDropped(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: 50 * time.Millisecond})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	_, err := e.Generate(context.Background(), engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "late"}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrQueueTimeout) {
		t.Errorf("err %v, want ErrQueueTimeout", err)
	}
	release()
}

// A full queue gives its place to the client served least recently: a
// newcomer that has not been served evicts the waiting request of a client
// just served; one just served is refused.
func TestFullQueueAdmitsByFairShare(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 1, MaxWait: time.Hour})
	complete(t, e, engine.Request{Prompt: prompts[0], MaxTokens: 1, Client: "served"})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "served", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "served"}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "never", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "never"}, out)
	if r := <-out; r.name != "served" || !errors.Is(r.err, engine.ErrQueueFull) {
		t.Fatalf("evicted: %s with %v; want served with ErrQueueFull", r.name, r.err)
	}
	_, err := e.Generate(context.Background(), engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "served"}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrQueueFull) {
		t.Errorf("a recently served client at a full queue: %v, want ErrQueueFull", err)
	}
	release()
	if r := <-out; r.err != nil {
		t.Errorf("%s: %v", r.name, r.err)
	}
}

// A warm-up never keeps a user waiting: it gives up its slot to an
// interactive request, and waits behind one.
func TestWarmupGivesWay(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour})
	warm := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "w", Priority: engine.PriorityWarmup})
	text, _, _ := complete(t, e, engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "user"})
	if text == "" {
		t.Error("no text for the interactive request")
	}
	if err := warm(); !errors.Is(err, engine.ErrPreempted) {
		t.Errorf("warm-up ended with %v, want ErrPreempted", err)
	}

	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "warm-up", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "w", Priority: engine.PriorityWarmup}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "user", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "user"}, out)
	waitQueued(t, e, 2)
	release()
	if r := firstServed(t, e, out); r.name != "user" {
		t.Errorf("first served: %s, want the interactive request", r.name)
	}
}

// A waiting request is tokenized only once it has a slot: one replaced
// while it waits costs no tokenization, so a prompt too long for the
// context is never found out (before, every request was tokenized on
// arrival, and under overload that took the decoding's CPU). Once it has
// a slot, the too-long prompt fails as before.
func TestWaitingPromptIsTokenizedOnlyWithASlot(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour})
	tooLong := strings.Repeat("func main() {}\n", e.Config().CtxSize)
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 3)
	generateAsync(e, "too long, replaced", engine.Request{Prompt: tooLong, MaxTokens: 2, Client: "alice"}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "newer", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "alice"}, out)
	if r := <-out; r.name != "too long, replaced" || !errors.Is(r.err, engine.ErrSuperseded) {
		t.Fatalf("first to end: %s with %v; want the replaced one with ErrSuperseded", r.name, r.err)
	}
	generateAsync(e, "too long", engine.Request{Prompt: tooLong, MaxTokens: 2, Client: "bob"}, out)
	waitQueued(t, e, 2)
	release()
	for range 2 {
		switch r := <-out; r.name {
		case "newer":
			if r.err != nil {
				t.Errorf("%s: %v", r.name, r.err)
			}
		case "too long":
			if !errors.Is(r.err, engine.ErrPromptTooLong) {
				t.Errorf("%s: %v, want ErrPromptTooLong", r.name, r.err)
			}
		}
	}
	// The slot the too-long prompt was given is free again and serves.
	if _, err := e.Generate(context.Background(), engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "carol"}, func(string) error { return nil }); err != nil {
		t.Errorf("after the too-long prompt: %v", err)
	}
}

// A request whose caller went away before it reached the engine (it waited
// for the CPU in the HTTP server) is not queued at all.
func TestAbandonedRequestIsNotQueued(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u, err := e.Generate(ctx, engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "gone"}, func(string) error { return nil })
	if !errors.Is(err, context.Canceled) || u.StopReason != engine.StopCancelled || u.QueueWait != 0 {
		t.Errorf("got %v (stop %q, waited %v), want context.Canceled, cancelled, never queued", err, u.StopReason, u.QueueWait)
	}
	if q := e.Info().Queued; q != 0 {
		t.Errorf("%d queued", q)
	}
}

// While a request waits for the slot, the running prompt advances in
// steps of at most waitingChunk tokens, so a job abandoned in the middle
// of its prompt frees the slot within one short step; with nobody
// waiting, the prompt goes in full batches.
func TestPromptStepsAreShortWhileOthersWait(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour, SettleTime: time.Hour, BatchSize: 512}) // nothing settles: the newest goes first
	long := strings.Repeat("func main() { fmt.Println(1) }\n", 60)
	var mu sync.Mutex
	var steps []int
	e.beforeDecode = func() {
		mu.Lock()
		steps = append(steps, int(e.batch.NTokens))
		mu.Unlock()
	}
	largest := func() int {
		mu.Lock()
		defer mu.Unlock()
		m := 0
		for _, n := range steps {
			m = max(m, n)
		}
		steps = nil
		return m
	}

	_, _, alone := complete(t, e, engine.Request{Prompt: long, MaxTokens: 1, Client: "alone"})
	if alone.EvaluatedTokens <= waitingChunk {
		t.Fatalf("the prompt is only %d tokens", alone.EvaluatedTokens)
	}
	if n := largest(); n <= waitingChunk {
		t.Errorf("alone, the largest step was %d tokens, want a full batch", n)
	}

	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "short", engine.Request{Prompt: prompts[1], MaxTokens: 1, Client: "short"}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "long", engine.Request{Prompt: long + "x", MaxTokens: 1, Client: "long"}, out) // newest: served first
	waitQueued(t, e, 2)
	largest()
	release()
	for range 2 {
		if r := <-out; r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
		}
	}
	// The long prompt ran first while "short" waited: its steps were short.
	// (Steps after "short" took the slot are bounded the same way or smaller.)
	if n := largest(); n > waitingChunk {
		t.Errorf("with a request waiting, a step of %d tokens, want at most %d", n, waitingChunk)
	}
}

// A request taken before it settled (nothing settled waited) does not use
// its client's turn: when the slot frees again, that client's settled
// request goes before the one of a client whose turn came before that run.
// Before, the unsettled run counted as the turn, and a typist whose key
// was answered mid-burst lost its pause's place in the round robin.
func TestUnsettledRunKeepsTheClientsTurn(t *testing.T) {
	const settle = 300 * time.Millisecond
	e := openTest(t, Config{Parallel: 1, MaxQueue: 8, MaxWait: time.Hour, SettleTime: settle})
	complete(t, e, engine.Request{Prompt: prompts[0], MaxTokens: 1, Client: "other"}) // other's turn
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 2)
	generateAsync(e, "typing", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "typist"}, out)
	waitQueued(t, e, 1)
	release() // the typist's unsettled request is all that waits: it runs
	if r := <-out; r.err != nil {
		t.Fatal(r.err)
	}
	release = holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	generateAsync(e, "other", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "other"}, out)
	generateAsync(e, "paused", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "typist"}, out)
	waitQueued(t, e, 2)
	time.Sleep(settle + 50*time.Millisecond) // both settled
	release()
	if r := firstServed(t, e, out); r.name != "paused" {
		t.Errorf("first served: %s, want the typist's paused request", r.name)
	}
}

// Among clients with no turn yet, one that never got a slot ranks before
// one answered mid-burst (a run that is not a turn): a full queue of the
// latter admits the former by eviction instead of refusing it.
func TestNeverServedClientIsAdmittedBeforeOneAnsweredMidBurst(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 1, MaxWait: time.Hour, SettleTime: time.Hour})
	release := holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	out := make(chan result, 3)
	generateAsync(e, "mid-burst", engine.Request{Prompt: prompts[1], MaxTokens: 2, Client: "typist"}, out)
	waitQueued(t, e, 1)
	release() // the typist's unsettled request runs: a slot, not a turn
	if r := <-out; r.err != nil {
		t.Fatal(r.err)
	}
	release = holdSlot(t, e, engine.Request{Prompt: goPrompt, Client: "busy"})
	generateAsync(e, "typist again", engine.Request{Prompt: prompts[2], MaxTokens: 2, Client: "typist"}, out)
	waitQueued(t, e, 1)
	generateAsync(e, "never", engine.Request{Prompt: prompts[3], MaxTokens: 2, Client: "never"}, out)
	if r := <-out; r.name != "typist again" || !errors.Is(r.err, engine.ErrQueueFull) {
		t.Fatalf("pushed out: %s with %v; want the typist's request with ErrQueueFull", r.name, r.err)
	}
	release()
	if r := <-out; r.name != "never" || r.err != nil {
		t.Errorf("%s: %v; want never served", r.name, r.err)
	}
}
