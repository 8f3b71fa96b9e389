package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/completion/completiontest"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/openaiapi"
)

// Routes mounted through Extra by an ErrorShaper get auth and rate-limit
// errors in their shape: OpenAI clients of /openai/* parse every error.
func TestExtraRoutesAnswerAuthErrorsInTheirShape(t *testing.T) {
	eng := &completiontest.Engine{Deltas: []string{"x"}}
	f := newFixture(t, eng, fixtureOptions{ratePerMinute: 1, burst: 1,
		extra: []Registrar{&openaiapi.Handler{Completion: eng, CompletionModel: "m"}}})
	openAIError := func(code int, body string) httpx.OpenAIError {
		t.Helper()
		var e httpx.OpenAIError
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
			t.Fatalf("%d: not an OpenAI error body: %s", code, body)
		}
		return e
	}

	resp, err := http.Post(f.srv.URL+"/openai/v1/completions", "application/json", strings.NewReader(`{"prompt":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if e := openAIError(resp.StatusCode, string(b)); resp.StatusCode != 401 || !strings.Contains(e.Error.Message, "serval token create") {
		t.Errorf("no token: %d %+v", resp.StatusCode, e)
	}

	if resp, body := f.post(t, "/openai/v1/completions", `{"prompt":"x","max_tokens":1}`); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	resp, body := f.post(t, "/openai/v1/completions", `{"prompt":"x","max_tokens":1}`)
	if e := openAIError(resp.StatusCode, body); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(e.Error.Message, "rate limit") {
		t.Errorf("over the burst: %d %+v", resp.StatusCode, e)
	}
	resp, body = f.post(t, "/openai/v1/nothing", `{}`)
	if e := openAIError(resp.StatusCode, body); resp.StatusCode != 404 || !strings.Contains(e.Error.Message, "no such route") {
		t.Errorf("unknown OpenAI route: %d %+v", resp.StatusCode, e)
	}
	// Tabby's routes keep Tabby's shape.
	if resp, body := f.post(t, "/v1/nothing", `{}`); resp.StatusCode != 404 || errorMessage(t, body) == "" {
		t.Errorf("unknown route: %d %s", resp.StatusCode, body)
	}
}
