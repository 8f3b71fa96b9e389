package llamaapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/prompt"
)

// newServer serves /infill in front of a scripted engine.
func newServer(t testing.TB, eng *completiontest.Engine) *httptest.Server {
	t.Helper()
	tmpl, _ := prompt.LookupTemplate("qwen")
	b, err := prompt.NewBuilder(prompt.Config{Template: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := completion.New(completion.Config{Engine: eng, Prompts: b})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Handler{Service: svc, Model: "tiny"}).Register(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t testing.TB, srv *httptest.Server, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/infill", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return resp, []byte(buf.String())
}

func TestInfillMapsRequestAndAnswersLikeLlamaServer(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a + ", "b"}, Usage: engine.Usage{
		PromptTokens: 40, ReusedTokens: 30, EvaluatedTokens: 10, GeneratedTokens: 2,
		PromptEval: 20 * time.Millisecond, Generation: 10 * time.Millisecond, StopReason: "max_tokens"}}
	srv := newServer(t, eng)
	resp, body := post(t, srv, `{"input_prefix":"func add(a, b int) int {\n\t","prompt":"return ","input_suffix":"\n}\n",
		"input_extra":[{"filename":"util.go","text":"func sub(a, b int) int { return a - b }\n"}],
		"n_predict":7,"cache_prompt":true,"id_slot":0,"samplers":["top_k","infill"],"t_max_predict_ms":250}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got InfillResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Content != "a + b" || !got.Stop || got.StopType != "limit" || got.Model != "tiny" || got.Tokens == nil {
		t.Errorf("answer %+v", got)
	}
	want := httpx.Timings{CacheN: 30, PromptN: 10, PromptMS: 20, PromptPerTokenMS: 2, PromptPerSecond: 500,
		PredictedN: 2, PredictedMS: 10, PredictedPerTokenMS: 5, PredictedPerSecond: 200}
	if got.Timings != want || got.TokensEvaluated != 40 || got.TokensPredicted != 2 || got.TokensCached != 42 {
		t.Errorf("counts %+v, timings %+v, want %+v", got, got.Timings, want)
	}
	reqs := eng.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d engine requests", len(reqs))
	}
	p := reqs[0].Prompt
	for _, part := range []string{"<|fim_prefix|>", "func add(a, b int) int {\n\treturn <|fim_suffix|>\n}\n<|fim_middle|>", "util.go", "func sub(a, b int)"} {
		if !strings.Contains(p, part) {
			t.Errorf("prompt %q lacks %q", p, part)
		}
	}
	if reqs[0].MaxTokens != 7 || got.Prompt != p {
		t.Errorf("max tokens %d; prompt echoed %q", reqs[0].MaxTokens, got.Prompt)
	}
	// Every field llama-server sends (but generation_settings) is present.
	var fields map[string]any
	json.Unmarshal(body, &fields)
	for _, f := range []string{"index", "content", "tokens", "id_slot", "stop", "model", "tokens_predicted", "tokens_evaluated",
		"prompt", "has_new_line", "truncated", "stop_type", "stopping_word", "tokens_cached", "timings"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("field %s missing from %s", f, body)
		}
	}
}

func TestInfillRequestStopWordsAndResponseFields(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"x := 1", "ST", "OP y"}, Usage: engine.Usage{PromptTokens: 5, EvaluatedTokens: 5}}
	srv := newServer(t, eng)
	_, body := post(t, srv, `{"input_prefix":"a","input_suffix":"","stop":["STOP"],
		"response_fields":["content","stop_type","stopping_word","timings/prompt_n","no/such"]}`)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"content": "x := 1", "stop_type": "word", "stopping_word": "STOP", "timings/prompt_n": 5.0}
	if len(got) != len(want) {
		t.Errorf("got fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, got[k], v, body)
		}
	}
}

func TestInfillStreamsChunksThenTotals(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"foo", "bar"}, Usage: engine.Usage{PromptTokens: 9, GeneratedTokens: 2}}
	srv := newServer(t, eng)
	resp, body := post(t, srv, `{"input_prefix":"a","input_suffix":"b","stream":true}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q: %s", ct, body)
	}
	var events []map[string]any
	for _, line := range strings.Split(string(body), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev map[string]any
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			events = append(events, ev)
		}
	}
	if strings.Contains(string(body), "[DONE]") || len(events) != 3 {
		t.Fatalf("events %s", body)
	}
	if events[0]["content"] != "foo" || events[1]["content"] != "bar" || events[0]["stop"] != false {
		t.Errorf("chunks %v", events[:2])
	}
	last := events[2]
	if last["stop"] != true || last["content"] != "" || last["tokens_evaluated"] != 9.0 || last["timings"] == nil {
		t.Errorf("last event %v", last)
	}
}

func TestInfillBadInputNamesTheField(t *testing.T) {
	srv := newServer(t, &completiontest.Engine{Deltas: []string{"x"}})
	for _, c := range []struct{ body, want string }{
		{``, "empty"},
		{`{"input_suffix":""}`, `"input_prefix" is required`},
		{`{"input_prefix":""}`, `"input_suffix" is required`},
		{`{"input_prefix":1,"input_suffix":""}`, `input_prefix: expected string`},
		{`{"input_prefix":"","input_suffix":"","input_extra":[{"filename":"a"}]}`, `input_extra[0]`},
		{`{"input_prefix":"","input_suffix":"","input_extra":{}}`, `input_extra: expected`},
		{`{"input_prefix":"","input_suffix":"","return_tokens":true}`, "return_tokens"},
		{`{"input_prefix":"","input_suffix":"","temperature":9}`, "temperature"},
		{`{"input_prefix":"","input_suffix":"" ,}`, "body:"},
	} {
		resp, body := post(t, srv, c.body)
		var e httpx.LlamaError
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 400 || e.Error.Code != 400 || !strings.Contains(e.Error.Message, c.want) {
			t.Errorf("%s: status %d, body %s; want 400 naming %q", c.body, resp.StatusCode, body, c.want)
		}
	}
}

func TestInfillEngineBusyIs503(t *testing.T) {
	srv := newServer(t, &completiontest.Engine{Err: engine.ErrQueueFull})
	resp, body := post(t, srv, `{"input_prefix":"a","input_suffix":""}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "queue is full") {
		t.Errorf("status %d, body %s", resp.StatusCode, body)
	}
}

// FuzzInfill: any body gets an answer (200 or a 4xx naming the problem), never a 5xx or a panic.
func FuzzInfill(f *testing.F) {
	for _, s := range []string{`{"input_prefix":"a","input_suffix":"b"}`, `{"input_prefix":"","input_suffix":"","input_extra":[{"text":"x"}],"stop":["\n"],"response_fields":["timings/a/b"]}`, `[]`, `{"n_predict":-1}`} {
		f.Add(s)
	}
	srv := newServer(f, &completiontest.Engine{Deltas: []string{"x", "\n", "y"}})
	f.Fuzz(func(t *testing.T, body string) {
		resp, out := post(t, srv, body)
		if resp.StatusCode >= 500 || !slices.Contains([]int{200, 400, 413}, resp.StatusCode) {
			t.Fatalf("%q: status %d: %s", body, resp.StatusCode, out)
		}
	})
}
