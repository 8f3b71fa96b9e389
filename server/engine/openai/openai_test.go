package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// upstream is a scripted OpenAI-compatible server.
func upstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
		w.(http.Flusher).Flush()
	}
}

func newEngine(t *testing.T, base string, idle time.Duration) *Engine {
	t.Helper()
	e, err := New(Config{BaseURL: base + "/v1", Model: "m", APIKey: "k", IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func collect(t *testing.T, e *Engine, ctx context.Context) (string, engine.Usage, error) {
	t.Helper()
	var got strings.Builder
	u, err := e.Generate(ctx, engine.Request{Prompt: "<p>", MaxTokens: 8, Stop: []string{"\n\n"}}, func(s string) error {
		got.WriteString(s)
		return nil
	})
	return got.String(), u, err
}

func TestCompleteStreamsInOrder(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/completions" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "bad path or key", http.StatusBadRequest)
			return
		}
		var body completionRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Prompt != "<p>" || !body.Stream || body.Model != "m" || body.MaxTokens != 8 {
			http.Error(w, fmt.Sprintf("bad body %+v %v", body, err), http.StatusBadRequest)
			return
		}
		sse(w, `{"choices":[{"index":0,"text":"fmt."}]}`, `{"choices":[{"index":0,"text":"Println"}]}`,
			`{"choices":[{"index":0,"text":"()","finish_reason":"length"}]}`, `[DONE]`)
	})
	got, u, err := collect(t, newEngine(t, srv.URL, 30*time.Second), context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != "fmt.Println()" || u.GeneratedTokens != 3 || u.StopReason != "max_tokens" {
		t.Fatalf("got %q, usage %+v", got, u)
	}
}

func TestUpstreamFaults(t *testing.T) {
	cases := map[string]struct {
		handler http.HandlerFunc
		want    string
	}{
		"garbage": {func(w http.ResponseWriter, r *http.Request) { sse(w, `{"choices":[{"text":"a"}]}`, `not json`) }, "invalid event"},
		"closed mid-stream": {func(w http.ResponseWriter, r *http.Request) {
			sse(w, `{"choices":[{"text":"a"}]}`)
		}, "before [DONE]"},
		"hangs": {func(w http.ResponseWriter, r *http.Request) {
			sse(w, `{"choices":[{"text":"a"}]}`)
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, "idle timeout"},
		"500": {func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"out of memory"}}`)
		}, "out of memory"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := upstream(t, c.handler)
			// Only the hanging upstream is meant to meet the idle timeout:
			// the others get one long enough that a loaded machine's
			// delays cannot end them before their fault shows.
			idle := time.Minute
			if name == "hangs" {
				idle = 200 * time.Millisecond
			}
			_, _, err := collect(t, newEngine(t, srv.URL, idle), context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, engine.ErrUnavailable) {
				t.Fatalf("err = %v, want it to mention %q and be ErrUnavailable", err, c.want)
			}
		})
	}
}

func TestClientErrorIsNotUnavailable(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"prompt too long"}`)
	})
	_, _, err := collect(t, newEngine(t, srv.URL, 30*time.Second), context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Message != "prompt too long" || errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelClosesTheStream(t *testing.T) {
	gone := make(chan struct{})
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, `{"choices":[{"text":"a"}]}`)
		select {
		case <-r.Context().Done():
			close(gone)
		case <-time.After(10 * time.Second):
		}
	})
	e := newEngine(t, srv.URL, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	before := runtime.NumGoroutine()
	_, err := e.Generate(ctx, engine.Request{Prompt: "x"}, func(string) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream never saw the stream close")
	}
	e.Close()
	waitGoroutines(t, before)
}

func TestEmitErrorStops(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, `{"choices":[{"text":"a"}]}`, `{"choices":[{"text":"b"}]}`, `[DONE]`)
	})
	stop := errors.New("stop word")
	_, err := newEngine(t, srv.URL, 30*time.Second).Generate(context.Background(), engine.Request{Prompt: "x"}, func(string) error { return stop })
	if err != stop {
		t.Fatalf("err = %v, want the emit error itself", err)
	}
}

func TestChatStreamsDeltas(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		var body chatRequest
		json.NewDecoder(r.Body).Decode(&body)
		if r.URL.Path != "/v1/chat/completions" || len(body.Messages) != 2 || body.Messages[1].Content != "hi" {
			http.Error(w, "bad", 400)
			return
		}
		sse(w, `{"choices":[{"delta":{"role":"assistant"}}]}`, `{"choices":[{"delta":{"content":"Hel"}}]}`,
			`{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}`, `[DONE]`)
	})
	var got strings.Builder
	_, err := newEngine(t, srv.URL, 30*time.Second).Chat(context.Background(), engine.ChatRequest{
		Messages: []engine.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}},
	}, func(s string) error { got.WriteString(s); return nil })
	if err != nil || got.String() != "Hello" {
		t.Fatalf("got %q, %v", got.String(), err)
	}
}

func TestCheck(t *testing.T) {
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"object":"list","data":[{"id":"other"},{"id":"m"}]}`)
	})
	if err := newEngine(t, srv.URL, 30*time.Second).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2, _ := New(Config{BaseURL: srv.URL + "/v1", Model: "missing"})
	if err := e2.Check(context.Background()); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseSpec(t *testing.T) {
	cfg, err := ParseSpec("http://gpu-1:8000/v1#Qwen/Qwen2.5-Coder-7B")
	if err != nil || cfg.BaseURL != "http://gpu-1:8000/v1" || cfg.Model != "Qwen/Qwen2.5-Coder-7B" {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range []string{"http://h/v1", "http://h/v1#", "ftp://h#m", "#m", "h:80#m"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
}

// waitGoroutines fails when the goroutine count does not come back to before
// (plus slack for the runtime) within a bounded wait.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
