package completion_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

func newService(t *testing.T, eng engine.Engine) *completion.Service {
	t.Helper()
	b, err := prompt.NewBuilder(prompt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := completion.New(completion.Config{Engine: eng, Prompts: b, ContextSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func req(prefix string) *completion.Request {
	return &completion.Request{Request: prompt.Request{Language: "go", Prefix: prefix, Suffix: "\n}"}}
}

func TestCompleteStopsAtStopWordAndHidesIt(t *testing.T) {
	// "\n\n" is a stop word for every language; it arrives split across deltas.
	eng := &completiontest.Engine{Deltas: []string{"x := 1", "\n", "\nfunc main() {}", "never"}}
	s := newService(t, eng)
	var deltas []string
	var ids []string
	res, err := s.Answer(context.Background(), req("func f() {\n\t"), func(id, d string) error {
		deltas = append(deltas, d)
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "x := 1" || strings.Join(deltas, "") != "x := 1" {
		t.Fatalf("text %q deltas %q", res.Text, deltas)
	}
	if res.StopWord != "\n\n" || res.Usage.StopReason != "stop" {
		t.Fatalf("stop word %q reason %q", res.StopWord, res.Usage.StopReason)
	}
	if !strings.HasPrefix(res.ID, "cmpl-") || ids[0] != res.ID {
		t.Fatalf("id %q, stream ids %q", res.ID, ids)
	}
	if s.Language(res.ID) != "go" {
		t.Fatalf("language of %s = %q", res.ID, s.Language(res.ID))
	}
	if s.Latency(res.ID) <= 0 || s.Latency("cmpl-unknown") != 0 {
		t.Fatalf("latency of %s = %v, of an unknown id %v", res.ID, s.Latency(res.ID), s.Latency("cmpl-unknown"))
	}
	got := eng.Requests()[0]
	if !strings.Contains(got.Prompt, "func f() {") || got.MaxTokens != prompt.DefaultMaxOutputTokens || got.Temperature != 0 || len(got.Stop) == 0 {
		t.Fatalf("engine request %+v", got)
	}
}

func TestCompleteFlushesHeldBackText(t *testing.T) {
	// A trailing "\n" could start a stop word; at the end it is returned.
	eng := &completiontest.Engine{Deltas: []string{"return x", "\n"}}
	res, err := newService(t, eng).Answer(context.Background(), req("func f() int {\n\t"), nil)
	if err != nil || res.Text != "return x\n" || res.Usage.StopReason != "eos" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestCompletePassesDecodingSettings(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a"}}
	temp, seed := float32(0.7), uint32(42)
	r := req("x")
	r.Temperature, r.Seed, r.MaxTokens = &temp, &seed, 16
	if _, err := newService(t, eng).Answer(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	got := eng.Requests()[0]
	if got.Temperature != 0.7 || got.Seed != 42 || got.MaxTokens != 16 || got.NumCtx != 2048 {
		t.Fatalf("%+v", got)
	}
}

func TestCompleteErrors(t *testing.T) {
	var fe *prompt.FieldError
	bad := func(mut func(*completion.Request)) error {
		r := req("x")
		mut(r)
		_, err := newService(t, &completiontest.Engine{}).Answer(context.Background(), r, nil)
		return err
	}
	for field, mut := range map[string]func(*completion.Request){
		"temperature": func(r *completion.Request) { v := float32(-1); r.Temperature = &v },
		"max_tokens":  func(r *completion.Request) { r.MaxTokens = -5 },
	} {
		if err := bad(mut); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err = %v", field, err)
		}
	}

	_, err := newService(t, &completiontest.Engine{Err: engine.ErrQueueFull}).Answer(context.Background(), req("x"), nil)
	if !errors.Is(err, engine.ErrQueueFull) {
		t.Errorf("queue full: %v", err)
	}

	stop := errors.New("client gone")
	_, err = newService(t, &completiontest.Engine{Deltas: []string{"abc", "def"}}).Answer(context.Background(), req("x"), func(string, string) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("stream error: %v", err)
	}
}

func TestCompleteCancelled(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a", "b"}, Hold: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := newService(t, eng).Answer(ctx, req("x"), func(string, string) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if !eng.WaitIdle(1, 30*time.Second) {
		t.Fatal("engine call still running")
	}
}

func TestRecentLanguagesIsBounded(t *testing.T) {
	b, _ := prompt.NewBuilder(prompt.Config{})
	s, _ := completion.New(completion.Config{Engine: &completiontest.Engine{}, Prompts: b, RecentIDs: 2})
	var ids []string
	for _, lang := range []string{"go", "python", "rust"} {
		r := req("x")
		r.Language = lang
		res, err := s.Answer(context.Background(), r, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	if s.Language(ids[0]) != "" || s.Language(ids[1]) != "python" || s.Language(ids[2]) != "rust" {
		t.Fatalf("%q %q %q", s.Language(ids[0]), s.Language(ids[1]), s.Language(ids[2]))
	}
}

// A request abandoned before the service got to it (it waited for the CPU
// behind others) builds no prompt and never reaches the engine.
func TestAbandonedBeforeAnswerReachesNoEngine(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a"}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := newService(t, eng).Answer(ctx, req("x"), nil)
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("got %v, %v; want no result and context.Canceled", res, err)
	}
	if n := len(eng.Requests()); n != 0 {
		t.Errorf("the engine got %d requests", n)
	}
}

// While a request would wait for the engine half a second or more (the
// requests queued per slot times the recent engine time of a completion),
// the prompt is capped at OverloadPromptTokens; a shorter queue, or none,
// leaves it the full budget.
func TestOverloadShortensThePrompt(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"x"}, Usage: engine.Usage{PromptEval: 100 * time.Millisecond, Generation: 200 * time.Millisecond}}
	s := newService(t, eng)
	long := req(strings.Repeat("\tx := compute(x) // a line of the function being written\n", 400))
	kept := func(queued int) int {
		t.Helper()
		eng.Queued = queued
		res, err := s.Answer(context.Background(), long, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Prompt.PrefixTokens + res.Prompt.SuffixTokens + res.Prompt.SnippetTokens
	}
	full := kept(0)
	if full < 2*completion.OverloadPromptTokens {
		t.Fatalf("%d prompt tokens with nothing queued", full)
	}
	if got := kept(1); got != full {
		t.Errorf("one request queued (a 300 ms wait): %d prompt tokens, want the full %d", got, full)
	}
	if got := kept(2); got > completion.OverloadPromptTokens {
		t.Errorf("two queued (a 600 ms wait): %d prompt tokens, want at most %d", got, completion.OverloadPromptTokens)
	}
	if got := kept(0); got != full {
		t.Errorf("the queue gone: %d prompt tokens, want the full %d", got, full)
	}
}
