package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// exchange is one recorded Ollama request and its answer (testdata/*.json).
type exchange struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Request     map[string]any    `json:"request"`
	Status      int               `json:"status"`
	ContentType string            `json:"content_type"`
	Lines       []json.RawMessage `json:"lines"`
}

// replay serves the named exchanges: a request matches one with the same
// method and path whose recorded request fields it all carries; anything else
// fails the test with a 599 so a changed request is noticed.
func replay(t *testing.T, names ...string) *url.URL {
	t.Helper()
	var xs []exchange
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join("testdata", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var x exchange
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		xs = append(xs, x)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		for _, x := range xs {
			if x.Method != r.Method || x.Path != r.URL.Path || !contains(body, x.Request) {
				continue
			}
			w.Header().Set("Content-Type", x.ContentType)
			w.WriteHeader(x.Status)
			for _, l := range x.Lines {
				w.Write(append(bytes.TrimSpace(l), '\n'))
				w.(http.Flusher).Flush()
			}
			return
		}
		t.Errorf("no recorded exchange matches %s %s %v", r.Method, r.URL.Path, body)
		http.Error(w, "unrecorded request", 599)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// contains reports whether got has every field of want (numbers compared as JSON numbers).
func contains(got, want map[string]any) bool {
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return false
		}
		if wm, ok := w.(map[string]any); ok {
			gm, ok := g.(map[string]any)
			if !ok || !contains(gm, wm) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			return false
		}
	}
	return true
}

func newEngine(t *testing.T, base *url.URL, model string) *Engine {
	t.Helper()
	e, err := New(Config{Model: model, CPUOnly: true, IdleTimeout: 30 * time.Second}, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestGenerateRawFIMPrompt(t *testing.T) {
	e := newEngine(t, replay(t, "generate"), "qwen2.5-coder:0.5b")
	var got []string
	u, err := e.Generate(context.Background(), engine.Request{
		Prompt:    "<|fim_prefix|>func add(a, b int) int {\n\treturn <|fim_suffix|>\n}<|fim_middle|>",
		MaxTokens: 64, Stop: []string{"\n\n"}, NumCtx: 4096,
	}, func(s string) error { got = append(got, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "a| +| b" {
		t.Fatalf("deltas %q", got)
	}
	if u.PromptTokens != 19 || u.GeneratedTokens != 3 || u.StopReason != "eos" || u.PromptEval != 41*time.Millisecond {
		t.Fatalf("usage %+v", u)
	}
}

func TestGenerateErrorMidStream(t *testing.T) {
	e := newEngine(t, replay(t, "generate_error"), "qwen2.5-coder:0.5b")
	var got string
	_, err := e.Generate(context.Background(), engine.Request{Prompt: "x"}, func(s string) error { got += s; return nil })
	if err == nil || !strings.Contains(err.Error(), "unexpected EOF") || got != "a" {
		t.Fatalf("got %q, err %v", got, err)
	}
}

func TestChat(t *testing.T) {
	e := newEngine(t, replay(t, "chat"), "qwen2.5-coder:0.5b")
	var got string
	_, err := e.Chat(context.Background(), engine.ChatRequest{Messages: []engine.Message{{Role: "user", Content: "Say hello"}}},
		func(s string) error { got += s; return nil })
	if err != nil || got != "Hello!" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestEnsure(t *testing.T) {
	base := replay(t, "show", "show_missing", "pull")
	var progress bytes.Buffer
	if err := newEngine(t, base, "qwen2.5-coder:0.5b").Ensure(context.Background(), false, &progress); err != nil {
		t.Fatalf("present model: %v", err)
	}
	err := newEngine(t, base, "starcoder2:3b").Ensure(context.Background(), false, &progress)
	if err == nil || !strings.Contains(err.Error(), "ollama pull starcoder2:3b") || !strings.Contains(err.Error(), "--ollama-pull") {
		t.Fatalf("missing model: %v", err)
	}
	// With --ollama-pull the pull streams progress, then the check runs again
	// (and, in this recording, still finds the model missing).
	err = newEngine(t, base, "starcoder2:3b").Ensure(context.Background(), true, &progress)
	if !strings.Contains(progress.String(), "100.0% of 1629 MB") || err == nil {
		t.Fatalf("progress %q, err %v", progress.String(), err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	srv.Close()
	e := newEngine(t, u, "m")
	if err := e.Check(context.Background()); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("check: %v", err)
	}
	if _, err := e.Generate(context.Background(), engine.Request{Prompt: "x"}, func(string) error { return nil }); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("complete: %v", err)
	}
}

func TestHangingOllamaTimesOutAndCancelReleases(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"response":"a","done":false}`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	u, _ := url.Parse(srv.URL)
	before := runtime.NumGoroutine()
	e, _ := New(Config{Model: "m", IdleTimeout: 200 * time.Millisecond}, u)
	_, err := e.Generate(context.Background(), engine.Request{Prompt: "x"}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "idle timeout") {
		t.Fatalf("hang: %v", err)
	}
	e.Close()
	// The cancellation is checked on an engine whose idle timeout cannot
	// fire first: on a loaded machine the first line can take longer than
	// 200 ms to arrive, and the idle timeout then ends the request before
	// the client cancels it.
	e, _ = New(Config{Model: "m", IdleTimeout: time.Minute}, u)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = e.Generate(ctx, engine.Request{Prompt: "x"}, func(string) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	e.Close()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("goroutines: %d before, %d after", before, n)
	}
}

func TestResolveURL(t *testing.T) {
	for _, c := range []struct{ flag, env, want string }{
		{"", "", DefaultURL},
		{"", "127.0.0.1:11500", "http://127.0.0.1:11500"},
		{"http://gpu:11434", "ignored:1", "http://gpu:11434"},
	} {
		u, err := ResolveURL(c.flag, c.env)
		if err != nil || u.String() != c.want {
			t.Errorf("ResolveURL(%q, %q) = %v, %v; want %s", c.flag, c.env, u, err, c.want)
		}
	}
	if _, err := ResolveURL("ftp://x", ""); err == nil {
		t.Error("ftp URL accepted")
	}
}
