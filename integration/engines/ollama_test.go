package engines_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/otlptest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// ollamaReplay answers like an Ollama server with the exchanges recorded in
// server/engine/ollama/testdata (written in Ollama v0.17's wire format; no
// real Ollama can be installed here). It knows one model until a pull adds
// another, and keeps the requests it got.
type ollamaReplay struct {
	t       *testing.T
	lines   map[string][]json.RawMessage // recording name → NDJSON lines
	status  map[string]int
	mu      sync.Mutex
	models  map[string]bool
	request map[string][]map[string]any // path → request bodies
	header  map[string][]http.Header    // path → request headers
}

func newOllamaReplay(t *testing.T, models ...string) (*ollamaReplay, string) {
	t.Helper()
	o := &ollamaReplay{t: t, lines: map[string][]json.RawMessage{}, status: map[string]int{},
		models: map[string]bool{}, request: map[string][]map[string]any{}, header: map[string][]http.Header{}}
	for _, m := range models {
		o.models[m] = true
	}
	dir := filepath.Join(llamalib.RepoRoot(), "server", "engine", "ollama", "testdata")
	for _, name := range []string{"show", "show_missing", "pull", "generate", "chat"} {
		raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatalf("recorded exchange: %v", err)
		}
		var x struct {
			Status int               `json:"status"`
			Lines  []json.RawMessage `json:"lines"`
		}
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o.lines[name], o.status[name] = x.Lines, x.Status
	}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv.URL
}

func (o *ollamaReplay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	model, _ := body["model"].(string)
	o.mu.Lock()
	o.request[r.URL.Path] = append(o.request[r.URL.Path], body)
	o.header[r.URL.Path] = append(o.header[r.URL.Path], r.Header.Clone())
	known := o.models[model]
	if r.URL.Path == "/api/pull" {
		o.models[model] = true
	}
	o.mu.Unlock()

	var name string
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/show" && known:
		name = "show"
	case r.Method == http.MethodPost && r.URL.Path == "/api/show":
		name = "show_missing"
	case r.Method == http.MethodPost && r.URL.Path == "/api/pull":
		name = "pull"
	case r.Method == http.MethodPost && r.URL.Path == "/api/generate" && known:
		name = "generate"
	case r.Method == http.MethodPost && r.URL.Path == "/api/chat" && known:
		name = "chat"
	default:
		o.t.Errorf("ollama replay: no recording for %s %s %v", r.Method, r.URL.Path, body)
		http.Error(w, `{"error":"unrecorded request"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(o.status[name])
	for _, l := range o.lines[name] {
		w.Write(append(bytes.TrimSpace(l), '\n'))
		w.(http.Flusher).Flush()
	}
}

func (o *ollamaReplay) requests(path string) []map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]map[string]any(nil), o.request[path]...)
}

func (o *ollamaReplay) headers(path string) []http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]http.Header(nil), o.header[path]...)
}

// --model ollama:<name> through the real binary: the startup check passes,
// a completion is a raw FIM prompt with Serval's options, chat is passed to
// /api/chat, and health shows the upstream.
func TestOllamaModel(t *testing.T) {
	const model = "qwen2.5-coder:0.5b"
	replay, url := newOllamaReplay(t, model)
	s := servaltest.Start(t, servaltest.Options{
		Model: "ollama:" + model,
		Args:  []string{"--ollama-url", url, "--chat-model", "ollama:" + model, "--device", "cpu", "--max-tokens", "8"},
	})
	if n := len(replay.requests("/api/show")); n < 2 {
		t.Errorf("startup checks: %d /api/show requests, want one per role", n)
	}
	r, err := complete(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Choices[0].Text; got != "a + b" {
		t.Errorf("completion %q, want the recorded %q", got, "a + b")
	}
	gens := replay.requests("/api/generate")
	if len(gens) != 1 {
		t.Fatalf("%d generate requests", len(gens))
	}
	g := gens[0]
	opts, _ := g["options"].(map[string]any)
	prompt, _ := g["prompt"].(string)
	if g["model"] != model || g["raw"] != true || g["stream"] != true {
		t.Errorf("generate request %v", g)
	}
	// The model name says qwen: Serval's own FIM prompt, Ollama's template bypassed.
	if !strings.HasPrefix(prompt, "<|fim_prefix|>") || !strings.Contains(prompt, "return <|fim_suffix|>") || !strings.HasSuffix(prompt, "<|fim_middle|>") {
		t.Errorf("prompt %q", prompt)
	}
	if opts["num_gpu"] != 0.0 || opts["num_predict"] != 8.0 || opts["num_ctx"] != 2048.0 || opts["temperature"] == nil {
		t.Errorf("options %v (want num_gpu 0 for --device cpu, num_predict 8, num_ctx 2048)", opts)
	}

	h := health(t, s)
	if h.Device != "remote" || h.Model != model || h.ChatModel != model || len(h.Upstreams) != 2 || !h.Upstreams[0].Healthy || h.Upstreams[0].Name != "ollama:"+strings.TrimPrefix(url, "http://")+"/"+model {
		t.Errorf("health %+v", h)
	}

	text := checkChatStream(t, s, `{"messages":[{"role":"user","content":"Say hello"}]}`)
	if text != "Hello!" {
		t.Errorf("chat %q, want the recorded Hello!", text)
	}
	chats := replay.requests("/api/chat")
	if len(chats) != 1 || chats[0]["model"] != model {
		t.Errorf("chat requests %v", chats)
	}
}

// runServe runs `serval serve args...` expecting it to exit, and returns its
// exit code and stderr.
func runServe(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", t.TempDir(), "--no-auth"}, args...)
	cmd := exec.CommandContext(ctx, servaltest.Binary(t), full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("serval serve %v: want a startup error, got %v\n%s", args, err, stderr.String())
	}
	return exit.ExitCode(), stderr.String()
}

// Ollama answers but lacks the model: serval refuses to start and says how
// to fix it; with --ollama-pull it pulls the model, showing progress, and serves.
func TestOllamaMissingModel(t *testing.T) {
	const model = "starcoder2:3b"
	replay, url := newOllamaReplay(t, "qwen2.5-coder:0.5b")
	code, stderr := runServe(t, "--model", "ollama:"+model, "--ollama-url", url)
	if code != 1 || !strings.Contains(stderr, `has no model "starcoder2:3b"`) || !strings.Contains(stderr, "--ollama-pull") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if n := len(replay.requests("/api/pull")); n != 0 {
		t.Errorf("pulled without --ollama-pull: %d", n)
	}

	s := servaltest.Start(t, servaltest.Options{
		Model: "ollama:" + model,
		Args:  []string{"--ollama-url", url, "--ollama-pull", "--max-tokens", "8"},
	})
	if n := len(replay.requests("/api/pull")); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}
	logs := s.Logs()
	if !strings.Contains(logs, "pulling "+model) || !strings.Contains(logs, "100.0% of 1629 MB") || !strings.Contains(logs, "success") {
		t.Errorf("pull progress missing from the log:\n%s", logs)
	}
	if _, err := complete(s); err != nil {
		t.Errorf("completion after the pull: %v", err)
	}
}

// Bad URLs and specs are startup errors (exit status 2) naming the flag.
func TestBadModelFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "openai:localhost:8000/v1#m"}, "--model"},
		{[]string{"--model", "openai:http://h:1/v1"}, "<base-url>#<model-name>"},
		{[]string{"--model", "a.gguf", "--model", "openai:http://h:1/v1#m"}, "cannot be pooled"},
		{[]string{"--chat-model", "openai:ftp://h/v1#m"}, "--chat-model"},
		{[]string{"--model", "ollama:m", "--ollama-url", "ftp://h:1"}, "--ollama-url"},
		{[]string{"--config", "/nonexistent/serval.toml"}, "--config"},
	} {
		code, stderr := runServe(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q in:\n%s", tc.args, code, tc.want, lastLines(stderr, 3))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestOllamaUpstreamGetsTraceparent: with tracing on, the request serval
// sends to Ollama carries the completion's trace: the traceparent's trace id
// is the incoming one, and its parent is serval's "ollama" span. Ollama's
// client has no hook for headers; the engine's transport adds it.
func TestOllamaUpstreamGetsTraceparent(t *testing.T) {
	const model = "qwen2.5-coder:0.5b"
	replay, url := newOllamaReplay(t, model)
	collector := otlptest.Start(t)
	s := servaltest.Start(t, servaltest.Options{
		Model: "ollama:" + model,
		Args:  []string{"--ollama-url", url, "--device", "cpu", "--max-tokens", "8", "--otlp-endpoint", collector.URL},
		Env:   []string{"OTEL_BSP_SCHEDULE_DELAY=50"},
	})
	const traceID, parentID = "5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body, _ := json.Marshal(completionRequest())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("completion: %d", resp.StatusCode)
	}

	gens := replay.headers("/api/generate")
	if len(gens) != 1 {
		t.Fatalf("%d generate requests", len(gens))
	}
	got := gens[0].Get("traceparent")
	parts := strings.Split(got, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[1] != traceID || parts[3] != "01" {
		t.Fatalf("Ollama got traceparent %q, want one of trace %s", got, traceID)
	}
	err = collector.WaitFor(ctx, func(spans []otlptest.Span) bool {
		_, ok := otlptest.Find(otlptest.Trace(spans, traceID), "serval", "ollama")
		return ok
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := otlptest.Trace(collector.Spans(), traceID)
	upstream, _ := otlptest.Find(tr, "serval", "ollama")
	if parts[2] != upstream.SpanID || upstream.Kind != "client" {
		t.Fatalf("Ollama's traceparent names span %s, want serval's ollama client span %s:\n%s", parts[2], upstream.SpanID, otlptest.Tree(tr))
	}
	// The startup check ran outside any trace: it carries none.
	for _, h := range replay.headers("/api/show") {
		if h.Get("traceparent") != "" {
			t.Errorf("a startup check carried traceparent %q", h.Get("traceparent"))
		}
	}
}
