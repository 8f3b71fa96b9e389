package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/auth"
	"github.com/servalhq/serval/server/completion"
	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
)

type fixture struct {
	srv    *httptest.Server
	eng    *completiontest.Engine
	store  *store.Store
	token  string
	client *api.Client
}

type fixtureOptions struct {
	noAuth        bool
	ratePerMinute float64
	burst         int
	extra         []Registrar
	web           http.Handler
}

func newFixture(t testing.TB, eng *completiontest.Engine, opts fixtureOptions) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	token, err := st.CreateToken(context.Background(), "tester")
	if err != nil {
		t.Fatal(err)
	}
	b, err := prompt.NewBuilder(prompt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := completion.New(completion.Config{Engine: eng, Prompts: b})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Service: svc, Store: st, Version: api.Version{GitDescribe: "v0.1.0-test"}, Extra: opts.extra, Web: opts.web}
	if !opts.noAuth {
		cfg.Auth = auth.New(auth.Config{Lookup: auth.StoreLookup(st), RatePerMinute: opts.ratePerMinute, Burst: opts.burst})
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	c, err := api.NewClient(hs.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: hs, eng: eng, store: st, token: token, client: c}
}

// post sends a raw body with the fixture's token.
func (f *fixture) post(t *testing.T, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errorMessage(t *testing.T, body string) string {
	t.Helper()
	var e api.ErrorResponse
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error
}

func TestCompletionPlainJSON(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"print(", "x)", "\n\nmore"}}, fixtureOptions{})
	resp, body := f.post(t, "/v1/completions", `{"language":"python","segments":{"prefix":"def f(x):\n    ","suffix":"\n"}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// Exactly Tabby's shape: id, choices; no debug_data unless asked.
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(body), &raw)
	if len(raw) != 2 || raw["id"] == nil || raw["choices"] == nil {
		t.Fatalf("fields %s", body)
	}
	var cr api.CompletionResponse
	json.Unmarshal([]byte(body), &cr)
	if !strings.HasPrefix(cr.ID, "cmpl-") || len(cr.Choices) != 1 || cr.Choices[0].Text != "print(x)" {
		t.Fatalf("%+v", cr)
	}
}

func TestCompletionDebugData(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"ok"}, Usage: engine.Usage{
		PromptTokens: 10, ReusedTokens: 7, EvaluatedTokens: 3, GeneratedTokens: 1,
		QueueWait: time.Millisecond, PromptEval: 2 * time.Millisecond, Generation: 3 * time.Millisecond,
	}}
	f := newFixture(t, eng, fixtureOptions{})
	resp, err := f.client.Complete(context.Background(), &api.CompletionRequest{
		Segments:     &api.Segments{Prefix: "x = ", Declarations: []api.Declaration{{Filepath: "a.py", Body: "def g(): pass"}}},
		Language:     "python",
		DebugOptions: &api.DebugOptions{ReturnPrompt: true, ReturnSnippets: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.DebugData
	if d == nil || !strings.Contains(d.Prompt, "x = ") || !strings.Contains(d.Prompt, "<|fim_prefix|>") || len(d.Snippets) != 1 {
		t.Fatalf("debug %+v", d)
	}
	if d.Timing == nil || d.Timing.QueueMS != 1 || d.Timing.PromptEvalMS != 2 || d.Timing.GenerationMS != 3 || d.Timing.TotalMS <= 0 || d.Timing.OverheadMS < 0 {
		t.Fatalf("timing %+v", d.Timing)
	}
	if d.Usage == nil || d.Usage.ReusedTokens != 7 || d.Usage.EvaluatedTokens != 3 {
		t.Fatalf("usage %+v", d.Usage)
	}
}

func TestCompletionStreamFraming(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a", "b\n", "c", "\n\nd"}}, fixtureOptions{})
	resp, body := f.post(t, "/v1/completions", `{"segments":{"prefix":"x"},"stream":true,"debug_options":{"return_prompt":true}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// Each event is one "data: <json>" line and a blank line; the last is [DONE].
	events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
	if events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("last event %q", events[len(events)-1])
	}
	var text strings.Builder
	var id string
	for _, ev := range events[:len(events)-1] {
		line, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(line, "\n") {
			t.Fatalf("bad event %q", ev)
		}
		var se api.StreamEvent
		if err := json.Unmarshal([]byte(line), &se); err != nil {
			t.Fatal(err)
		}
		if id == "" {
			id = se.ID
		}
		if se.ID != id || !strings.HasPrefix(id, "cmpl-") {
			t.Fatalf("id %q vs %q", se.ID, id)
		}
		for _, c := range se.Choices {
			text.WriteString(c.Text)
		}
		if se.DebugData != nil && se.DebugData.Prompt == "" {
			t.Fatal("debug event without prompt")
		}
	}
	if text.String() != "ab\nc" {
		t.Fatalf("streamed text %q", text.String())
	}

	// And through the typed client.
	var deltas []string
	res, err := f.client.CompleteStream(context.Background(), &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}, func(d string) bool {
		deltas = append(deltas, d)
		return false
	})
	if err != nil || res.Choices[0].Text != "ab\nc" || len(deltas) < 2 {
		t.Fatalf("%+v %q %v", res, deltas, err)
	}
}

func TestStreamErrorBeforeFirstByteHasStatus(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Err: engine.ErrQueueFull}, fixtureOptions{})
	_, err := f.client.CompleteStream(context.Background(), &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}, func(string) bool { return false })
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.RetryAfter != time.Second {
		t.Fatalf("%v", err)
	}
}

func TestStreamErrorAfterStartIsAnEvent(t *testing.T) {
	eng := &failingEngine{first: "partial", err: errors.New("decode failed")}
	f := newFixture(t, nil, fixtureOptions{})
	f.swapEngine(t, eng)
	var got []string
	_, err := f.client.CompleteStream(context.Background(), &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}, func(d string) bool {
		got = append(got, d)
		return false
	})
	var se *api.StreamError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "decode failed") || strings.Join(got, "") != "partial" {
		t.Fatalf("err %v got %q", err, got)
	}
}

// failingEngine emits one delta, then fails.
type failingEngine struct {
	completiontest.Engine
	first string
	err   error
}

func (e *failingEngine) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	if err := emit(e.first); err != nil {
		return engine.Usage{}, err
	}
	return engine.Usage{StopReason: "error"}, e.err
}

// swapEngine rebuilds the fixture's server around eng.
func (f *fixture) swapEngine(t *testing.T, eng engine.Engine) {
	b, _ := prompt.NewBuilder(prompt.Config{})
	svc, err := completion.New(completion.Config{Engine: eng, Prompts: b})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Service: svc, Store: f.store, Auth: auth.New(auth.Config{Lookup: auth.StoreLookup(f.store)})})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = s
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{})
	for _, tc := range []struct {
		body, want string
	}{
		{``, "body: empty"},
		{`not json`, "not valid JSON"},
		{`{"segments":`, "truncated"},
		{`{"segments":{"prefix":1}}`, "segments.prefix: expected string"},
		{`{"segments":"text"}`, "segments: expected"},
		{`{"temperature":"hot","segments":{"prefix":"x"}}`, "temperature: expected float32"},
		{`{"seed":-1,"segments":{"prefix":"x"}}`, "seed: expected uint32"},
		{`{"segments":{"prefix":"x","declarations":[{"filepath":3}]}}`, "segments.declarations.filepath"},
		{`{"language":"go"}`, "segments.prefix"},
		{`{"segments":{"prefix":"x"}} {}`, "unexpected data"},
		{`[1,2]`, "body: expected"},
		{`{"temperature":9,"segments":{"prefix":"x"}}`, "temperature: must be"},
		{`{"mode":"chat","segments":{"prefix":"x"}}`, "mode: unknown"},
		{`{"n":4,"segments":{"prefix":"x"}}`, "n: must be between 1 and 3"},
		{`{"n":-1,"segments":{"prefix":"x"}}`, "n: must be between 1 and 3"},
		{`{"n":2,"stream":true,"segments":{"prefix":"x"}}`, "n: several candidates"},
		{`{"n":"3","segments":{"prefix":"x"}}`, "n: expected int"},
	} {
		resp, body := f.post(t, "/v1/completions", tc.body)
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400 (%s)", tc.body, resp.StatusCode, body)
			continue
		}
		if msg := errorMessage(t, body); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q does not contain %q", tc.body, msg, tc.want)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{})
	big := `{"segments":{"prefix":"` + strings.Repeat("x", MaxBodyBytes) + `"}}`
	resp, body := f.post(t, "/v1/completions", big)
	if resp.StatusCode != 413 || !strings.Contains(errorMessage(t, body), "limit") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// Without Content-Length (chunked), the limit holds while reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(big))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/completions", pr)
	req.Header.Set("Authorization", "Bearer "+f.token)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	pr.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("chunked: %d", r2.StatusCode)
	}
	// Just under the limit is fine (truncated by the prompt budget, not an error).
	ok := `{"segments":{"prefix":"` + strings.Repeat("x", MaxBodyBytes-100) + `"}}`
	if resp, body := f.post(t, "/v1/completions", ok); resp.StatusCode != 200 {
		t.Fatalf("under the limit: %d %s", resp.StatusCode, body)
	}
}

func TestAuthRequiredOnEveryRoute(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{}, fixtureOptions{})
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/completions"}, {"GET", "/v1/health"}, {"POST", "/v1/health"},
		{"POST", "/v1/events"}, {"GET", "/v1beta/server_setting"}, {"GET", "/metrics"},
	} {
		for _, header := range []string{"", "Bearer srv_wrong"} {
			req, _ := http.NewRequest(r.method, f.srv.URL+r.path, strings.NewReader("{}"))
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.Contains(errorMessage(t, string(b)), "serval token create") {
				t.Errorf("%s %s %q: %d %s", r.method, r.path, header, resp.StatusCode, b)
			}
		}
	}
}

func TestNoAuthServes(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{noAuth: true})
	c, _ := api.NewClient(f.srv.URL, "", nil)
	if _, err := c.Complete(context.Background(), &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimit429(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{ratePerMinute: 1, burst: 2})
	req := &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}
	for i := range 2 {
		if _, err := f.client.Complete(context.Background(), req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := f.client.Complete(context.Background(), req)
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.RetryAfter < 50*time.Second || se.RetryAfter > 60*time.Second {
		t.Fatalf("%v", err)
	}
}

func TestQueueFull503(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Err: engine.ErrQueueFull}, fixtureOptions{})
	resp, body := f.post(t, "/v1/completions", `{"segments":{"prefix":"x"}}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(errorMessage(t, body), "busy") {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestClientDisconnectCancelsEngine(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a", "b"}, Hold: make(chan struct{})}
	f := newFixture(t, eng, fixtureOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := f.client.CompleteStream(ctx, &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}, func(string) bool {
		cancel()
		return false
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if !eng.WaitIdle(1, 10*time.Second) {
		t.Fatal("the engine call was not cancelled")
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Model: "tiny"}, fixtureOptions{})
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, f.srv.URL+"/v1/health", nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		json.NewDecoder(resp.Body).Decode(&raw)
		resp.Body.Close()
		for _, k := range []string{"model", "device", "arch", "cpu_info", "cpu_count", "cuda_devices", "version", "slots", "models"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("%s: field %s missing in %v", method, k, raw)
			}
		}
	}
	h, err := f.client.Health(context.Background())
	if err != nil || h.Model != "tiny" || h.Device != "cpu" || h.CUDADevices == nil || h.Version.GitDescribe != "v0.1.0-test" || h.Slots.Total != 1 || h.Slots.MaxQueue != 4 {
		t.Fatalf("%+v %v", h, err)
	}
	s, err := f.client.ServerSetting(context.Background())
	if err != nil || !s.DisableClientSideTelemetry {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestEventsStored(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{})
	res, err := f.client.Complete(context.Background(), &api.CompletionRequest{Language: "rust", Segments: &api.Segments{Prefix: "fn main() {"}})
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(250)
	if err := f.client.LogEvent(context.Background(), &api.LogEventRequest{Type: api.EventView, CompletionID: res.ID, Elapsed: &ms}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.post(t, "/v1/events?select_kind=line", `{"type":"select","completion_id":"`+res.ID+`","choice_index":0}`)
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	resp, body = f.post(t, "/v1/events", `{"type":"dismiss","completion_id":"other","language":"go"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for body, want := range map[string]string{
		`{"type":"clicked","completion_id":"x"}`: "type: must be",
		`{"type":"view","choice_index":"0"}`:     "choice_index: expected int",
	} {
		resp, got := f.post(t, "/v1/events", body)
		if resp.StatusCode != 400 || !strings.Contains(errorMessage(t, got), want) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, got)
		}
	}
	events, err := f.store.Events(context.Background(), 10)
	if err != nil || len(events) != 3 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if e := events[0]; e.Type != "view" || e.TokenName != "tester" || e.Language != "rust" || e.Elapsed == nil || *e.Elapsed != 250*time.Millisecond || e.Latency == nil {
		t.Errorf("view event %+v (the server's latency of the completion belongs to its view event)", e)
	}
	if e := events[1]; e.Type != "select" || e.SelectKind != "line" || e.Language != "rust" || e.Latency != nil {
		t.Errorf("select event %+v", e)
	}
	if e := events[2]; e.Language != "go" {
		t.Errorf("dismiss event %+v", e)
	}
}

func TestMetrics(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"a"}, Usage: engine.Usage{ReusedTokens: 5, EvaluatedTokens: 3, GeneratedTokens: 4, Generation: 100 * time.Millisecond}}
	f := newFixture(t, eng, fixtureOptions{})
	for range 2 {
		if _, err := f.client.Complete(context.Background(), &api.CompletionRequest{Segments: &api.Segments{Prefix: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	series := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			series[line[:i]] = line[i+1:]
		}
	}
	for k, want := range map[string]string{
		"serval_prompt_tokens_reused_total":    "10",
		"serval_prompt_tokens_evaluated_total": "6",
		"serval_generated_tokens_total":        "8",
		"serval_queue_depth":                   "0",
		"serval_slots":                         "1",
		"serval_http_requests_in_flight":       "1", // the scrape itself
		`serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"}`: "2",
		"serval_generation_tokens_per_second_count":                                           "2",
	} {
		if series[k] != want {
			t.Errorf("%s = %q, want %q", k, series[k], want)
		}
	}
}

func TestUnknownRoute(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{}, fixtureOptions{})
	resp, body := f.post(t, "/v2/nothing", "{}")
	if resp.StatusCode != 404 || !strings.Contains(errorMessage(t, body), "no such route") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("DELETE", f.srv.URL+"/v1/completions", nil)
	r2, _ := http.DefaultClient.Do(req)
	r2.Body.Close()
	if r2.StatusCode != 405 || r2.Header.Get("Allow") != "POST" {
		t.Fatalf("DELETE: %d", r2.StatusCode)
	}
}

func FuzzCompletionBody(f *testing.F) {
	for _, s := range []string{
		`{"segments":{"prefix":"x"}}`, `{"segments":{"prefix":"x"},"stream":true}`, `{}`, `[`, `{"temperature":1e999}`,
		`{"segments":{"prefix":"\u0000","suffix":"\ud800"},"debug_options":{"raw_prompt":"abc"}}`,
		`{"segments":{"prefix":"a","declarations":[{"filepath":"f","body":"b"}]},"max_tokens":5000}`,
	} {
		f.Add(s)
	}
	fx := newFixture(f, &completiontest.Engine{Deltas: []string{"a", "\n\n"}}, fixtureOptions{noAuth: true})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "http://127.0.0.1/v1/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		fx.srv.Config.Handler.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("%q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// panickyEngine stands for a bug below the handler.
type panickyEngine struct{ completiontest.Engine }

func (*panickyEngine) Generate(context.Context, engine.Request, engine.Emit) (engine.Usage, error) {
	panic("engine bug")
}

func TestPanicIsAnErrorNotACrash(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{}, fixtureOptions{})
	f.swapEngine(t, &panickyEngine{})
	resp, body := f.post(t, "/v1/completions", `{"segments":{"prefix":"x"}}`)
	if resp.StatusCode != 500 || errorMessage(t, body) != "internal error" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The server goes on serving.
	if _, err := f.client.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}
