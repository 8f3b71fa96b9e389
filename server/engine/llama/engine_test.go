package llama

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// testModel writes the generated test model once per option set.
var testModels sync.Map // Options -> path

func testModel(t testing.TB, opts ggufgen.Options) string {
	t.Helper()
	if p, ok := testModels.Load(opts); ok {
		return p.(string)
	}
	dir, err := os.MkdirTemp("", "serval-llama-test-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "model.gguf")
	if err := ggufgen.WriteTestModel(p, opts); err != nil {
		t.Fatal(err)
	}
	actual, _ := testModels.LoadOrStore(opts, p)
	return actual.(string)
}

func TestMain(m *testing.M) {
	code := m.Run()
	testModels.Range(func(_, v any) bool {
		os.RemoveAll(filepath.Dir(v.(string)))
		return true
	})
	os.Exit(code)
}

// openTest opens an engine on the generated model (or cfg.ModelPath) with one thread.
func openTest(t testing.TB, cfg Config) *Engine {
	t.Helper()
	cfg.LibDir = llamalib.Dir(t)
	if cfg.ModelPath == "" {
		cfg.ModelPath = testModel(t, ggufgen.Options{})
	}
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	if cfg.CtxSize == 0 {
		cfg.CtxSize = 4096
	}
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// complete runs req and returns the concatenated text and the chunks.
func complete(t testing.TB, e *Engine, req engine.Request) (string, []string, engine.Usage) {
	t.Helper()
	var chunks []string
	u, err := e.Generate(context.Background(), req, func(s string) error {
		chunks = append(chunks, s)
		return nil
	})
	if err != nil {
		t.Fatalf("Complete(%q): %v", req.Prompt, err)
	}
	return strings.Join(chunks, ""), chunks, u
}

const goPrompt = "<|fim_prefix|>package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(<|fim_suffix|>)\n}\n<|fim_middle|>"

var prompts = []string{
	goPrompt,
	"<|fim_prefix|>def fib(n):\n    if n < 2:\n        return n\n    <|fim_suffix|><|fim_middle|>",
	"<|fim_prefix|>function add(a, b) {\n  return <|fim_suffix|>\n}<|fim_middle|>",
	"<|fim_prefix|>fn main() {\n    let x = <|fim_suffix|>;\n}<|fim_middle|>",
}

func TestGenerationIsDeterministicAndVisible(t *testing.T) {
	e := openTest(t, Config{})
	first, _, u := complete(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 16})
	if strings.TrimSpace(first) == "" {
		t.Fatalf("completion %q has no visible text", first)
	}
	if u.GeneratedTokens != 16 || u.StopReason != "max_tokens" {
		t.Errorf("usage %+v, want 16 generated tokens stopped by max_tokens", u)
	}
	if u.PromptTokens != e.CountTokens(goPrompt) || u.PromptTokens == 0 {
		t.Errorf("PromptTokens %d, CountTokens %d", u.PromptTokens, e.CountTokens(goPrompt))
	}
	again, _, _ := complete(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 16})
	fresh, _, _ := complete(t, openTest(t, Config{}), engine.Request{Prompt: goPrompt, MaxTokens: 16})
	if again != first || fresh != first {
		t.Errorf("greedy completions differ: %q, %q (same engine), %q (fresh engine)", first, again, fresh)
	}
}

func TestStreamsTokenByToken(t *testing.T) {
	e := openTest(t, Config{})
	// Hold the worker after its first visible text until Complete has
	// emitted it; without this, a fast generation can finish first and
	// arrive whole.
	emitted := make(chan struct{})
	var once sync.Once
	testHookPushed = func(text string) {
		if text == "" {
			return
		}
		once.Do(func() {
			select {
			case <-emitted:
			case <-time.After(10 * time.Second):
			}
		})
	}
	t.Cleanup(func() { testHookPushed = nil })
	var chunks []string
	u, err := e.Generate(context.Background(), engine.Request{Prompt: goPrompt, MaxTokens: 24}, func(s string) error {
		if len(chunks) == 0 {
			close(emitted)
		}
		chunks = append(chunks, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	testHookPushed = nil
	text := strings.Join(chunks, "")
	if len(chunks) < 2 {
		t.Fatalf("%d chunks for %d tokens; want streaming", len(chunks), u.GeneratedTokens)
	}
	for _, c := range chunks {
		if c == "" {
			t.Error("empty chunk emitted")
		}
	}
	// A shorter generation is a prefix of a longer one: the stream comes in order.
	short, _, _ := complete(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 8})
	if !strings.HasPrefix(text, short) {
		t.Errorf("8-token completion %q is not a prefix of the 24-token one %q", short, text)
	}
}

func TestMaxTokens(t *testing.T) {
	e := openTest(t, Config{})
	for _, n := range []int{1, 5, 33} {
		_, _, u := complete(t, e, engine.Request{Prompt: prompts[1], MaxTokens: n})
		if u.GeneratedTokens != n || u.StopReason != "max_tokens" {
			t.Errorf("MaxTokens %d: usage %+v", n, u)
		}
	}
}

func TestNeverEmitsInvalidUTF8(t *testing.T) {
	e := openTest(t, Config{ModelPath: testModel(t, ggufgen.Options{RawBytes: true, Seed: 11})})
	total := 0
	for _, p := range prompts {
		text, chunks, u := complete(t, e, engine.Request{Prompt: p, MaxTokens: 64})
		for _, c := range chunks {
			if !utf8.ValidString(c) {
				t.Errorf("invalid UTF-8 chunk %q", c)
			}
		}
		total += u.GeneratedTokens
		t.Logf("%d tokens -> %q", u.GeneratedTokens, text)
	}
	if total == 0 {
		t.Fatal("no tokens generated")
	}
}

func TestSamplingWithTemperature(t *testing.T) {
	e := openTest(t, Config{})
	req := engine.Request{Prompt: goPrompt, MaxTokens: 24, Temperature: 1.5, TopP: 0.95, Seed: 42}
	a, _, _ := complete(t, e, req)
	b, _, _ := complete(t, e, req)
	if a != b {
		t.Errorf("same seed gave %q and %q", a, b)
	}
	seen := map[string]bool{a: true}
	for seed := uint32(1); seed <= 5; seed++ {
		req.Seed = seed
		s, _, _ := complete(t, e, req)
		seen[s] = true
	}
	if len(seen) < 2 {
		t.Errorf("six seeds at temperature 1.5 all gave %q", a)
	}
}

func TestPrefixReuse(t *testing.T) {
	e := openTest(t, Config{})
	base := "<|fim_prefix|>" + strings.Repeat("func f() int {\n\treturn 1\n}\n", 20)
	first := base + "<|fim_suffix|><|fim_middle|>"
	_, _, u1 := complete(t, e, engine.Request{Prompt: first, MaxTokens: 4})
	if u1.ReusedTokens != 0 || u1.EvaluatedTokens != u1.PromptTokens {
		t.Errorf("first request: %+v, want nothing reused", u1)
	}
	second := base + "func g<|fim_suffix|><|fim_middle|>"
	text, _, u2 := complete(t, e, engine.Request{Prompt: second, MaxTokens: 8})
	shared := e.CountTokens(base)
	if u2.ReusedTokens < shared-1 || u2.ReusedTokens+u2.EvaluatedTokens != u2.PromptTokens {
		t.Errorf("second request: %+v, want about %d reused", u2, shared)
	}
	// The cache must not change the result.
	fresh, _, u3 := complete(t, openTest(t, Config{}), engine.Request{Prompt: second, MaxTokens: 8})
	if fresh != text || u3.ReusedTokens != 0 {
		t.Errorf("with cache %q, without %q (%+v)", text, fresh, u3)
	}
	// The identical prompt again reuses all but the last token.
	_, _, u4 := complete(t, e, engine.Request{Prompt: second, MaxTokens: 8})
	if u4.ReusedTokens != u4.PromptTokens-1 || u4.EvaluatedTokens != 1 {
		t.Errorf("repeated prompt: %+v", u4)
	}
}

func TestRoutesToSlotWithLongestPrefix(t *testing.T) {
	e := openTest(t, Config{Parallel: 2})
	a := "<|fim_prefix|>" + strings.Repeat("def a():\n    return 1\n", 10)
	b := "<|fim_prefix|>" + strings.Repeat("class B:\n    pass\n", 10)
	complete(t, e, engine.Request{Prompt: a, MaxTokens: 2})
	// The first slot holds a; b goes to the other free slot with nothing in common,
	// the least-filled one wins on ties... either way a then finds its own slot.
	complete(t, e, engine.Request{Prompt: b, MaxTokens: 2})
	_, _, ua := complete(t, e, engine.Request{Prompt: a + "x", MaxTokens: 2})
	_, _, ub := complete(t, e, engine.Request{Prompt: b + "y", MaxTokens: 2})
	if ua.ReusedTokens < e.CountTokens(a)-1 || ub.ReusedTokens < e.CountTokens(b)-1 {
		t.Errorf("reuse a %+v, b %+v: requests not routed to the slot holding their prefix", ua, ub)
	}
}

func TestCancellationFreesTheSlot(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emitted := 0
	u, err := e.Generate(ctx, engine.Request{Prompt: goPrompt}, func(string) error {
		emitted++
		if emitted == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || u.StopReason != "cancelled" {
		t.Fatalf("err %v, usage %+v; want context.Canceled and stop reason cancelled", err, u)
	}
	if info := e.Info(); info.Busy != 0 || info.Queued != 0 {
		t.Errorf("after cancel: %+v", info)
	}
	text, _, _ := complete(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 4})
	if text == "" {
		t.Error("no completion after a cancelled one")
	}
}

// TestClientGoneWhileWriting: when the client goes away, the HTTP layer's
// write fails at about the time the context is cancelled; whichever the
// engine notices first, the generation counts as cancelled, not as an error.
func TestClientGoneWhileWriting(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, err := e.Generate(ctx, engine.Request{Prompt: goPrompt}, func(string) error {
		cancel()
		return errors.New("write: broken pipe")
	})
	if !errors.Is(err, context.Canceled) || u.StopReason != "cancelled" {
		t.Fatalf("err %v, usage %+v; want context.Canceled and stop reason cancelled", err, u)
	}
}

func TestCancelDuringPromptEvaluation(t *testing.T) {
	// A 3000-token prompt is evaluated in steps of 512 tokens; the request is
	// cancelled during the second step: the slot is freed after that step,
	// and its cache holds exactly the two evaluated chunks.
	e := openTest(t, Config{BatchSize: 512})
	long := "<|fim_prefix|>" + strings.Repeat("x := y + z // abc\n", 250) + "<|fim_suffix|><|fim_middle|>"
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	e.beforeDecode = func() {
		if steps++; steps == 2 {
			cancel()
		}
	}
	u, err := e.Generate(ctx, engine.Request{Prompt: long, MaxTokens: 1 << 20}, func(string) error { return nil })
	if !errors.Is(err, context.Canceled) || u.StopReason != "cancelled" || u.GeneratedTokens != 0 {
		t.Fatalf("err %v, usage %+v", err, u)
	}
	if steps != 2 || u.PromptTokens < 3*512 {
		t.Fatalf("%d decode steps for a %d-token prompt, want the cancel to stop it after 2", steps, u.PromptTokens)
	}
	e.beforeDecode = nil // the worker is idle: Complete returned after its last step
	text, _, u2 := complete(t, e, engine.Request{Prompt: long, MaxTokens: 8})
	fresh, _, _ := complete(t, openTest(t, Config{}), engine.Request{Prompt: long, MaxTokens: 8})
	if text != fresh || u2.ReusedTokens != 2*512 {
		t.Errorf("after the cancel: %q (%+v), want 1024 tokens reused and the text of a fresh engine %q", text, u2, fresh)
	}
}

func TestEmitErrorStopsGeneration(t *testing.T) {
	e := openTest(t, Config{})
	boom := errors.New("client went away")
	calls := 0
	u, err := e.Generate(context.Background(), engine.Request{Prompt: goPrompt, MaxTokens: 100}, func(string) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 || u.GeneratedTokens >= 100 {
		t.Errorf("err %v after %d emits, usage %+v", err, calls, u)
	}
	if info := e.Info(); info.Busy != 0 {
		t.Errorf("slot still busy: %+v", info)
	}
}

func TestMoreRequestsThanSlotsAllComplete(t *testing.T) {
	single := openTest(t, Config{})
	want := map[string]string{}
	for _, p := range prompts {
		want[p], _, _ = complete(t, single, engine.Request{Prompt: p, MaxTokens: 12})
	}
	e := openTest(t, Config{Parallel: 2, MaxQueue: 16, MaxWait: time.Hour}) // no drop on a slow machine
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(prompts))
	for range 3 {
		for _, p := range prompts {
			wg.Go(func() {
				var b strings.Builder
				_, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: 12}, func(s string) error {
					b.WriteString(s)
					return nil
				})
				if err == nil && b.String() != want[p] {
					err = fmt.Errorf("prompt %.20q: batched %q, alone %q", p, b.String(), want[p])
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if info := e.Info(); info.Busy != 0 || info.Queued != 0 {
		t.Errorf("after all requests: %+v", info)
	}
}

func TestQueueFull(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 1})
	// The first request generates until cancelled, holding the only slot.
	busy, release := context.WithCancel(context.Background())
	defer release()
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		first := true
		e.Generate(busy, engine.Request{Prompt: goPrompt}, func(string) error {
			if first {
				first = false
				close(started)
			}
			return nil
		})
	})
	<-started
	queued := make(chan engine.Usage, 1)
	wg.Go(func() {
		u, err := e.Generate(context.Background(), engine.Request{Prompt: prompts[1], MaxTokens: 2}, func(string) error { return nil })
		if err != nil {
			t.Error(err)
		}
		queued <- u
	})
	for i := 0; e.Info().Queued != 1; i++ {
		if i > 6000 { // at least 30 s
			t.Fatal("second request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.Generate(context.Background(), engine.Request{Prompt: goPrompt, MaxTokens: 2}, func(string) error { return nil }); !errors.Is(err, engine.ErrQueueFull) {
		t.Errorf("third request: %v, want ErrQueueFull", err)
	}
	release()
	wg.Wait()
	if u := <-queued; u.QueueWait <= 0 {
		t.Errorf("queued request reports no queue wait: %+v", u)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	e := openTest(t, Config{Parallel: 1, MaxQueue: 2})
	// The first request generates until cancelled, holding the only slot.
	busy, release := context.WithCancel(context.Background())
	defer release()
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		first := true
		e.Generate(busy, engine.Request{Prompt: goPrompt}, func(string) error {
			if first {
				first = false
				close(started)
			}
			return nil
		})
	})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Generate(ctx, engine.Request{Prompt: goPrompt, MaxTokens: 2}, func(string) error { return nil })
		errc <- err
	}()
	for i := 0; e.Info().Queued != 1; i++ {
		if i > 6000 { // at least 30 s
			t.Fatal("request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("queued request: %v", err)
	}
	if q := e.Info().Queued; q != 0 {
		t.Errorf("%d still queued", q)
	}
	release()
	wg.Wait()
}

func TestPromptTooLong(t *testing.T) {
	e := openTest(t, Config{CtxSize: 64})
	_, err := e.Generate(context.Background(), engine.Request{Prompt: strings.Repeat("x y ", 100)}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrPromptTooLong) {
		t.Errorf("err %v, want ErrPromptTooLong", err)
	}
	// Generation stops when the slot's context is full.
	_, _, u := complete(t, e, engine.Request{Prompt: "x", MaxTokens: 1000})
	if u.GeneratedTokens >= 64 || u.GeneratedTokens == 0 {
		t.Errorf("usage %+v in a 64-token context", u)
	}
}

func TestOddPrompts(t *testing.T) {
	e := openTest(t, Config{})
	for _, p := range []string{"", "\x00", "a\x00b", "\xff\xfe", "<|fim_middle|>", strings.Repeat("é", 50)} {
		if _, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: 3}, func(string) error { return nil }); err != nil {
			t.Errorf("prompt %q: %v", p, err)
		}
	}
}

func TestInfoAndFIMDetection(t *testing.T) {
	// serval's detector gets the model's name and vocabulary.
	detect := prompt.DetectTemplateName
	e := openTest(t, Config{Parallel: 3, MaxQueue: 5, DetectTemplate: detect})
	info := e.Info()
	if info.Model != "serval-test-tiny" || info.Device != "cpu" || info.Slots != 3 || info.MaxQueue != 5 || info.ContextSize != 4096 || info.FIMTemplate != "qwen" {
		t.Errorf("info %+v", info)
	}
	plain := openTest(t, Config{ModelPath: testModel(t, ggufgen.Options{NoFIM: true, Name: "plain"}), DetectTemplate: detect})
	if got := plain.Info().FIMTemplate; got != "" {
		t.Errorf("model without FIM tokens: template %q", got)
	}
}

func TestChatTemplate(t *testing.T) {
	e := openTest(t, Config{})
	if e.ChatTemplate() != ggufgen.ChatTemplate {
		t.Fatalf("chat template %q", e.ChatTemplate())
	}
	got, err := e.ApplyChatTemplate([]engine.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var b strings.Builder
	u, err := e.Chat(context.Background(), engine.ChatRequest{Messages: []engine.Message{{Role: "user", Content: "Hi"}}, MaxTokens: 5}, func(s string) error {
		b.WriteString(s)
		return nil
	})
	if err != nil || u.GeneratedTokens != 5 || b.Len() == 0 {
		t.Errorf("chat: %v, %+v, %q", err, u, b.String())
	}
	if _, err := e.ApplyChatTemplate(nil); err == nil {
		t.Error("no messages accepted")
	}
}

func TestSharedTinyRandomModel(t *testing.T) {
	path := llamalib.SharedModel(t, "llama-2-tiny-random.gguf")
	e := openTest(t, Config{ModelPath: path, CtxSize: 512, DetectTemplate: prompt.DetectTemplateName})
	_, _, u := complete(t, e, engine.Request{Prompt: "def hello():", MaxTokens: 8})
	if u.PromptTokens == 0 {
		t.Errorf("usage %+v", u)
	}
	if got := e.Info().FIMTemplate; got != "" {
		t.Errorf("llama-2 vocabulary detected as FIM template %q", got)
	}
}

func TestBadModelFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(testModel(t, ggufgen.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"empty.gguf":     nil,
		"text.gguf":      []byte("this is not a model\n"),
		"truncated.gguf": good[:len(good)/3],
		"header.gguf":    good[:200],
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), Config{ModelPath: p, LibDir: dir})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	for _, p := range []string{filepath.Join(dir, "missing.gguf"), dir} {
		if _, err := Open(context.Background(), Config{ModelPath: p, LibDir: dir}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v", p, err)
		}
	}
}

func TestMissingLibraries(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), Config{ModelPath: testModel(t, ggufgen.Options{}), LibDir: dir})
	if !errors.Is(err, ErrLibrariesMissing) || !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), "--lib-dir") {
		t.Errorf("error %v; want ErrLibrariesMissing telling to run make deps or set --lib-dir", err)
	}
}

func TestUnknownDevice(t *testing.T) {
	_, err := Open(context.Background(), Config{ModelPath: testModel(t, ggufgen.Options{}), Device: "tpu"})
	if err == nil || !strings.Contains(err.Error(), "tpu") {
		t.Errorf("error %v", err)
	}
	if _, err := Open(context.Background(), Config{ModelPath: testModel(t, ggufgen.Options{}), Parallel: 1000}); err == nil {
		t.Error("1000 slots accepted")
	}
}

func TestDefaultLibDir(t *testing.T) {
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if got, want := DefaultLibDir("cuda"), filepath.Join(filepath.Dir(exe), "lib", "cuda"); got != want {
		t.Errorf("DefaultLibDir(cuda) = %s, want %s", got, want)
	}
	t.Setenv("SERVAL_LIB_DIR", "/x")
	if got := ResolveLibDir("", "cpu", os.Getenv); got != "/x" {
		t.Errorf("ResolveLibDir with $SERVAL_LIB_DIR = %s", got)
	}
	if got := ResolveLibDir("/flag", "cpu", os.Getenv); got != "/flag" {
		t.Errorf("ResolveLibDir with a flag = %s", got)
	}
}

func TestClosedEngine(t *testing.T) {
	cfg := Config{ModelPath: testModel(t, ggufgen.Options{}), LibDir: llamalib.Dir(t), Threads: 1, CtxSize: 256}
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Generate(context.Background(), engine.Request{Prompt: "x"}, func(string) error { return nil }); err == nil {
		t.Error("Complete on a closed engine succeeded")
	}
}

func TestChunkReuseAfterTypingBeforeTheSuffix(t *testing.T) {
	e := openTest(t, Config{})
	prefix := "<|fim_prefix|>" + strings.Repeat("func f() int {\n\treturn 1\n}\n", 10)
	suffix := "<|fim_suffix|>" + strings.Repeat("\nfunc g() string {\n\treturn \"g\"\n}\n", 10) + "<|fim_middle|>"
	complete(t, e, engine.Request{Prompt: prefix + suffix, MaxTokens: 4})
	typed := prefix + "var x" + suffix
	text, _, u := complete(t, e, engine.Request{Prompt: typed, MaxTokens: 8})
	if want := e.CountTokens(prefix) + e.CountTokens(suffix) - 2; u.ReusedTokens < want || u.EvaluatedTokens > u.PromptTokens-want {
		t.Errorf("usage %+v: want the prefix and the suffix (%d tokens) reused", u, want)
	}
	if text == "" {
		t.Error("no text")
	}
	// The spliced cache is consistent: the same prompt again reuses it all
	// and continues exactly as the spliced request did.
	again, _, u2 := complete(t, e, engine.Request{Prompt: typed, MaxTokens: 8})
	if again != text || u2.EvaluatedTokens != 1 {
		t.Errorf("repeat: %q (%+v), first %q", again, u2, text)
	}
	// Deleting characters (the chunk moves left) works too.
	_, _, u3 := complete(t, e, engine.Request{Prompt: prefix + "v" + suffix, MaxTokens: 2})
	if u3.ReusedTokens < e.CountTokens(suffix)-2 || u3.EvaluatedTokens > 8 {
		t.Errorf("after deleting: %+v", u3)
	}

	// Disabled, the same sequence evaluates the whole suffix again and gives
	// exactly the uncached result.
	off := openTest(t, Config{ChunkReuseMin: -1})
	complete(t, off, engine.Request{Prompt: prefix + suffix, MaxTokens: 4})
	exact, _, u4 := complete(t, off, engine.Request{Prompt: typed, MaxTokens: 8})
	fresh, _, _ := complete(t, openTest(t, Config{}), engine.Request{Prompt: typed, MaxTokens: 8})
	if exact != fresh || u4.EvaluatedTokens < e.CountTokens(suffix) {
		t.Errorf("chunk reuse off: %q (%+v), fresh %q", exact, u4, fresh)
	}
}

// A request cancelled while it evaluates text typed before a reused chunk
// (the next keystroke's request replaced it) leaves the chunk in the cache:
// the next request with the same chunk evaluates only what is still new,
// not the chunk again.
func TestCancelledRequestKeepsItsReusedChunks(t *testing.T) {
	e := openTest(t, Config{BatchSize: 32})
	prefix := "<|fim_prefix|>" + strings.Repeat("func f() int {\n\treturn 1\n}\n", 4)
	suffix := "<|fim_suffix|>" + strings.Repeat("\nfunc g() string {\n\treturn \"g\"\n}\n", 10) + "<|fim_middle|>"
	typed := prefix + strings.Repeat("\tvar x = compute(y)\n", 12) + suffix
	complete(t, e, engine.Request{Prompt: prefix + suffix, MaxTokens: 4})

	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	e.beforeDecode = func() {
		if steps++; steps == 2 {
			cancel()
		}
	}
	u, err := e.Generate(ctx, engine.Request{Prompt: typed, MaxTokens: 8}, func(string) error { return nil })
	e.beforeDecode = nil
	if !errors.Is(err, context.Canceled) || u.GeneratedTokens != 0 {
		t.Fatalf("err %v, usage %+v: want it cancelled during its prompt", err, u)
	}
	inserted := e.CountTokens(typed) - e.CountTokens(prefix+suffix)
	if inserted <= 2*32 {
		t.Fatalf("the typed text is %d tokens: the cancel must come before the chunk", inserted)
	}
	_, _, u2 := complete(t, e, engine.Request{Prompt: typed, MaxTokens: 8})
	if u2.EvaluatedTokens > inserted-2*32+2 {
		t.Errorf("after the cancelled request: %+v; want the %d typed tokens not yet evaluated (and the last), not the suffix again (%d tokens)",
			u2, inserted-2*32, e.CountTokens(suffix))
	}
	// The cache is consistent: the same prompt again reuses all of it.
	if _, _, u3 := complete(t, e, engine.Request{Prompt: typed, MaxTokens: 8}); u3.EvaluatedTokens != 1 {
		t.Errorf("repeat: %+v", u3)
	}
}

func TestChunkReuseWithConcurrentSlots(t *testing.T) {
	e := openTest(t, Config{Parallel: 2})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			prefix := fmt.Sprintf("<|fim_prefix|>// file %d\n", i) + strings.Repeat("x = x + 1\n", 20)
			suffix := "<|fim_suffix|>" + strings.Repeat("y = y * 2\n", 20) + "<|fim_middle|>"
			for k := range 5 {
				p := prefix + strings.Repeat("z", k) + suffix
				var b strings.Builder
				u, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: 4}, func(s string) error {
					b.WriteString(s)
					return nil
				})
				if err != nil || b.Len() == 0 || u.ReusedTokens+u.EvaluatedTokens != u.PromptTokens {
					t.Errorf("slot %d step %d: %v %+v %q", i, k, err, u, b.String())
				}
			}
		})
	}
	wg.Wait()
}

func TestDefaultThreads(t *testing.T) {
	if got, want := DefaultThreads(), max(1, runtime.NumCPU()-1); got != want {
		t.Errorf("DefaultThreads() = %d, want %d", got, want)
	}
	e, err := Open(context.Background(), Config{ModelPath: testModel(t, ggufgen.Options{}), LibDir: llamalib.Dir(t), CtxSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if cfg := e.Config(); cfg.Threads != DefaultThreads() || cfg.Parallel != 1 || cfg.MaxQueue != 64 || cfg.MaxWait != 2*time.Second || cfg.SettleTime != 200*time.Millisecond || cfg.BatchSize != 512 || cfg.ChunkReuseMin != 32 {
		t.Errorf("defaults %+v", cfg)
	}
}

func TestOddSamplingSettings(t *testing.T) {
	e := openTest(t, Config{})
	greedy, _, _ := complete(t, e, engine.Request{Prompt: goPrompt, MaxTokens: 8})
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, req := range []engine.Request{
		{Temperature: nan}, {Temperature: -1}, {Temperature: inf}, {Temperature: 1e30, TopP: nan},
		{Temperature: 0.5, TopP: -3}, {Temperature: 0.5, TopP: 7}, {Temperature: 0.5, TopP: inf},
	} {
		req.Prompt, req.MaxTokens = goPrompt, 8
		text, _, u := complete(t, e, req)
		if u.GeneratedTokens != 8 || !utf8.ValidString(text) {
			t.Errorf("%+v: %q, %+v", req, text, u)
		}
		if (math.IsNaN(float64(req.Temperature)) || req.Temperature <= 0) && text != greedy {
			t.Errorf("temperature %v is not greedy: %q, want %q", req.Temperature, text, greedy)
		}
	}
}

func TestChunkReuseWithMovedWindowAndSuffix(t *testing.T) {
	e := openTest(t, Config{})
	first := "// the first line of the window, dropped next\n"
	body := strings.Repeat("func f() int {\n\treturn 1\n}\n", 8)
	suffix := "<|fim_suffix|>" + strings.Repeat("\nfunc g() string {\n\treturn \"g\"\n}\n", 8) + "<|fim_middle|>"
	complete(t, e, engine.Request{Prompt: "<|fim_prefix|>" + first + body + suffix, MaxTokens: 4})
	moved := "<|fim_prefix|>" + body + "var x" + suffix
	text, _, u := complete(t, e, engine.Request{Prompt: moved, MaxTokens: 8})
	if want := e.CountTokens(body) + e.CountTokens(suffix) - 4; u.ReusedTokens < want || u.EvaluatedTokens > 10 {
		t.Errorf("usage %+v: want the window body and the suffix (%d tokens) reused", u, want)
	}
	again, _, u2 := complete(t, e, engine.Request{Prompt: moved, MaxTokens: 8})
	if again != text || u2.EvaluatedTokens != 1 {
		t.Errorf("repeat: %q (%+v), first %q", again, u2, text)
	}
}

func TestCloseWhileBusy(t *testing.T) {
	cfg := Config{ModelPath: testModel(t, ggufgen.Options{}), LibDir: llamalib.Dir(t), Threads: 1, CtxSize: 4096, Parallel: 1, MaxQueue: 2}
	e, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	errs := make(chan error, 2)
	go func() {
		first := true
		_, err := e.Generate(context.Background(), engine.Request{Prompt: goPrompt}, func(string) error {
			if first {
				first = false
				close(started)
			}
			return nil
		})
		errs <- err
	}()
	<-started
	go func() {
		_, err := e.Generate(context.Background(), engine.Request{Prompt: goPrompt, MaxTokens: 2}, func(string) error { return nil })
		errs <- err
	}()
	for i := 0; e.Info().Queued != 1; i++ {
		if i > 6000 { // at least 30 s
			t.Fatal("second request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, errClosed) {
			t.Errorf("request during Close: %v, want the engine-closed error", err)
		}
	}
}
