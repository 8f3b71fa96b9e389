package openaiapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/internal/httpx"
)

// scripted is an engine double that emits fixed pieces, or blocks until its
// context ends, so the handlers' framing and cancellation can be checked.
type scripted struct {
	pieces    []string
	err       error
	block     bool
	cancelled chan struct{}
	gotReq    engine.Request
	gotChat   engine.ChatRequest
}

func (s *scripted) run(ctx context.Context, emit engine.Emit) (engine.Usage, error) {
	if s.err != nil {
		return engine.Usage{}, s.err
	}
	u := engine.Usage{PromptTokens: 7, ReusedTokens: 5}
	for _, p := range s.pieces {
		if err := emit(p); err != nil {
			return u, err
		}
		u.GeneratedTokens++
	}
	if s.block {
		<-ctx.Done()
		close(s.cancelled)
		return u, ctx.Err()
	}
	u.StopReason = "max_tokens"
	u.EvaluatedTokens, u.PromptEval, u.Generation = 2, 20*time.Millisecond, time.Duration(len(s.pieces))*5*time.Millisecond
	return u, nil
}

func (s *scripted) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	s.gotReq = req
	return s.run(ctx, emit)
}
func (s *scripted) Chat(ctx context.Context, req engine.ChatRequest, emit engine.Emit) (engine.Usage, error) {
	s.gotChat = req
	return s.run(ctx, emit)
}
func (s *scripted) Info() engine.Info { return engine.Info{} }
func (s *scripted) Close() error      { return nil }

func server(t *testing.T, h *Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h.Register(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events reads a server-sent event stream into its data payloads.
func events(t *testing.T, resp *http.Response) []string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestCompletionsWholeAndStopWords(t *testing.T) {
	eng := &scripted{pieces: []string{"return a", " + b\n", "\nfunc next"}}
	srv := server(t, &Handler{Completion: eng, CompletionModel: "tiny"})
	resp := post(t, srv.URL+"/openai/v1/completions", `{"model":"tiny","prompt":"<p>","max_tokens":16,"temperature":0,"stop":["\n\n"]}`)
	var got Completion
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if got.Object != "text_completion" || got.Choices[0].Text != "return a + b" || *got.Choices[0].FinishReason != "stop" || got.Usage.PromptTokens != 7 || got.Usage.PromptTokensDetails == nil || got.Usage.PromptTokensDetails.CachedTokens != 5 {
		t.Fatalf("%+v", got)
	}
	if eng.gotReq.Prompt != "<p>" || eng.gotReq.MaxTokens != 16 || eng.gotReq.Temperature != 0 {
		t.Fatalf("engine got %+v", eng.gotReq)
	}
}

// TestTimings checks llama-server's "timings" extension: the engine's prompt
// and generation times in the whole answer and in a stream's last chunk, for
// completions and chat.
func TestTimings(t *testing.T) {
	eng := &scripted{pieces: []string{"a", "b"}}
	srv := server(t, &Handler{Completion: eng, Chat: eng, CompletionModel: "tiny", ChatModel: "tiny"})
	want := httpx.Timings{CacheN: 5, PromptN: 2, PromptMS: 20, PromptPerTokenMS: 10, PromptPerSecond: 100,
		PredictedN: 2, PredictedMS: 10, PredictedPerTokenMS: 5, PredictedPerSecond: 200}
	for _, c := range []struct{ path, body string }{
		{"/openai/v1/completions", `{"prompt":"x"}`},
		{"/openai/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`},
	} {
		var whole struct{ Timings *httpx.Timings }
		if err := json.NewDecoder(post(t, srv.URL+c.path, c.body).Body).Decode(&whole); err != nil {
			t.Fatal(err)
		}
		if whole.Timings == nil || *whole.Timings != want {
			t.Errorf("%s: timings %+v, want %+v", c.path, whole.Timings, want)
		}
		evs := events(t, post(t, srv.URL+c.path, strings.TrimSuffix(c.body, "}")+`,"stream":true}`))
		if len(evs) < 2 {
			t.Fatalf("%s: events %q", c.path, evs)
		}
		for i, e := range evs[:len(evs)-1] {
			var chunk struct{ Timings *httpx.Timings }
			if err := json.Unmarshal([]byte(e), &chunk); err != nil {
				t.Fatal(err)
			}
			last := i == len(evs)-2
			if last && (chunk.Timings == nil || *chunk.Timings != want) || !last && chunk.Timings != nil {
				t.Errorf("%s: event %d of %d has timings %+v", c.path, i, len(evs)-1, chunk.Timings)
			}
		}
	}
}

func TestCompletionsStream(t *testing.T) {
	srv := server(t, &Handler{Completion: &scripted{pieces: []string{"a", "b", "c"}}, CompletionModel: "tiny"})
	evs := events(t, post(t, srv.URL+"/openai/v1/completions", `{"prompt":"x","stream":true}`))
	if len(evs) != 5 || evs[4] != "[DONE]" {
		t.Fatalf("events %q", evs)
	}
	var text string
	for _, e := range evs[:4] {
		var c Completion
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatal(err)
		}
		text += c.Choices[0].Text
	}
	var last Completion
	json.Unmarshal([]byte(evs[3]), &last)
	if text != "abc" || *last.Choices[0].FinishReason != "length" || last.Model != "tiny" {
		t.Fatalf("text %q last %+v", text, last)
	}
}

func TestChatStreamOrderAndDone(t *testing.T) {
	eng := &scripted{pieces: []string{"Hel", "lo"}}
	srv := server(t, &Handler{Chat: eng, ChatModel: "chatty"})
	evs := events(t, post(t, srv.URL+"/v1/chat/completions", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}`))
	want := []string{`"role":"assistant"`, `"content":"Hel"`, `"content":"lo"`, `"finish_reason":"length"`, "[DONE]"}
	if len(evs) != len(want) {
		t.Fatalf("events %q", evs)
	}
	for i, w := range want {
		if !strings.Contains(evs[i], w) {
			t.Errorf("event %d = %s, want it to contain %s", i, evs[i], w)
		}
	}
	if len(eng.gotChat.Messages) != 2 || eng.gotChat.Messages[1].Content != "hi" {
		t.Fatalf("engine got %+v", eng.gotChat)
	}
}

func TestChatWithoutModelIs501(t *testing.T) {
	srv := server(t, &Handler{Completion: &scripted{}})
	for _, path := range []string{"/v1/chat/completions", "/openai/v1/chat/completions"} {
		resp := post(t, srv.URL+path, `{"messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestBadInput(t *testing.T) {
	srv := server(t, &Handler{Completion: &scripted{}, Chat: &scripted{}})
	for _, c := range []struct {
		path, body, param string
		code              int
	}{
		{"/openai/v1/completions", `not json`, "", 400},
		{"/openai/v1/completions", `{"prompt":"x","max_tokens":"ten"}`, "max_tokens", 400},
		{"/openai/v1/completions", `{"prompt":["a","b"]}`, "prompt", 400},
		{"/v1/chat/completions", `{"messages":[]}`, "messages", 400},
		{"/v1/chat/completions", `{"messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", 400},
		{"/openai/v1/completions", `{"prompt":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "", 413},
		// The bounds of /v1 (issue 13's finding #9: these were accepted).
		{"/openai/v1/completions", `{"prompt":"x","max_tokens":2147483648}`, "max_tokens", 400},
		{"/openai/v1/completions", `{"prompt":"x","max_tokens":-1}`, "max_tokens", 400},
		{"/openai/v1/completions", `{"prompt":"x","temperature":-5}`, "temperature", 400},
		{"/openai/v1/completions", `{"prompt":"x","top_p":-1}`, "top_p", 400},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":2147483647}`, "max_tokens", 400},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"temperature":2.5}`, "temperature", 400},
	} {
		resp := post(t, srv.URL+c.path, c.body)
		var e httpx.OpenAIError
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != c.code || e.Error.Param != c.param || e.Error.Message == "" {
			t.Errorf("%s %.40s: %d %+v, want %d naming %q", c.path, c.body, resp.StatusCode, e, c.code, c.param)
		}
	}
}

func TestEngineErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{{engine.ErrQueueFull, 503}, {fmt.Errorf("pool: %w", engine.ErrUnavailable), 503}, {io.ErrUnexpectedEOF, 500}} {
		srv := server(t, &Handler{Completion: &scripted{err: c.err}})
		resp := post(t, srv.URL+"/openai/v1/completions", `{"prompt":"x","stream":true}`)
		if resp.StatusCode != c.code || (c.code == 503 && resp.Header.Get("Retry-After") == "") {
			t.Errorf("%v: %d retry-after %q", c.err, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

func TestClientGoingAwayCancelsGeneration(t *testing.T) {
	eng := &scripted{pieces: []string{"a"}, block: true, cancelled: make(chan struct{})}
	srv := server(t, &Handler{Completion: eng})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/openai/v1/completions", strings.NewReader(`{"prompt":"x","stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(resp.Body).ReadString('\n') // the first event arrived
	cancel()
	resp.Body.Close()
	select {
	case <-eng.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("generation was not cancelled when the client went away")
	}
}

func TestModels(t *testing.T) {
	srv := server(t, &Handler{Completion: &scripted{}, CompletionModel: "tiny", Chat: &scripted{}, ChatModel: "chatty"})
	resp, err := http.Get(srv.URL + "/openai/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l ModelList
	json.NewDecoder(resp.Body).Decode(&l)
	if len(l.Data) != 2 || l.Data[0].ID != "tiny" || l.Data[1].ID != "chatty" {
		t.Fatalf("%+v", l)
	}
}
