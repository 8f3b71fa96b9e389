package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// openAIError is OpenAI's error body, as an OpenAI client parses it.
type openAIError struct {
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   string `json:"param"`
	} `json:"error"`
}

func parseOpenAIError(t *testing.T, body string) openAIError {
	t.Helper()
	var e openAIError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error body: %s", body)
	}
	return e
}

// The OpenAI routes check decoding settings with the same bounds as /v1
// (issue 13's finding #9: max_tokens 2^31, temperature -5 and top_p -1 were
// accepted), and every error they answer, auth included, is
// in OpenAI's shape (the 429 is checked in server/httpapi's tests).
func TestOpenAIRoutesValidateAndAnswerInOpenAIShape(t *testing.T) {
	model := servaltest.TestModel(t, ggufgen.Options{})
	s := servaltest.Start(t, servaltest.Options{Model: model, Args: []string{"--rate-limit", "-1", "--chat-model", model}})

	for _, c := range []struct{ path, body, param string }{
		{"/openai/v1/completions", `{"prompt":"x","max_tokens":2147483648}`, "max_tokens"},
		{"/openai/v1/completions", `{"prompt":"x","max_tokens":2147483647}`, "max_tokens"},
		{"/openai/v1/completions", `{"prompt":"x","max_tokens":-1}`, "max_tokens"},
		{"/openai/v1/completions", `{"prompt":"x","temperature":-5}`, "temperature"},
		{"/openai/v1/completions", `{"prompt":"x","top_p":-1}`, "top_p"},
		{"/openai/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2147483647}`, "max_tokens"},
		{"/openai/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":-5}`, "temperature"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"top_p":1.5}`, "top_p"},
	} {
		code, _, body := do(t, "POST", s.URL+c.path, s.Token, c.body)
		if code != 400 {
			t.Errorf("%s %s: %d %s, want 400", c.path, c.body, code, body)
			continue
		}
		if e := parseOpenAIError(t, body); e.Error.Param != c.param {
			t.Errorf("%s %s: param %q, want %q", c.path, c.body, e.Error.Param, c.param)
		}
	}
	// /v1 refuses the same values.
	if code, _, body := do(t, "POST", s.URL+"/v1/completions", s.Token, `{"segments":{"prefix":"x"},"max_tokens":2147483647}`); code != 400 || !strings.Contains(body, "max_tokens") {
		t.Errorf("/v1/completions max_tokens 2^31-1: %d %s", code, body)
	}

	// 401 without a token, in OpenAI's shape, saying how to get one.
	code, _, body := do(t, "POST", s.URL+"/openai/v1/completions", "", `{"prompt":"x"}`)
	if code != 401 || !strings.Contains(parseOpenAIError(t, body).Error.Message, "serval token create") {
		t.Errorf("no token: %d %s", code, body)
	}
	// Tabby's routes keep Tabby's shape.
	if code, _, body := do(t, "POST", s.URL+"/v1/completions", "", `{"segments":{"prefix":"x"}}`); code != 401 || !strings.HasPrefix(body, `{"error":"`) {
		t.Errorf("/v1 without a token: %d %s", code, body)
	}

}
