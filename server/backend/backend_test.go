package backend

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/engine/pool"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
	}{
		{"Qwen2.5-Coder-0.5B", Spec{Kind: Local, Model: "Qwen2.5-Coder-0.5B"}},
		{"/models/x.gguf", Spec{Kind: Local, Model: "/models/x.gguf"}},
		{"ollama:qwen2.5-coder:1.5b", Spec{Kind: Ollama, Model: "qwen2.5-coder:1.5b"}},
		{"openai:http://gpu-1:8000/v1#Qwen/Qwen2.5-Coder-7B", Spec{Kind: OpenAI, BaseURL: "http://gpu-1:8000/v1", Model: "Qwen/Qwen2.5-Coder-7B"}},
	} {
		got, err := ParseSpec(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
	for _, bad := range []string{"", "ollama:", "ollama:a b", "openai:http://h:1/v1", "openai:ftp://h/v1#m", "openai:#m", "openai:http://#m", "openai:http://h/v1#"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
}

func TestParseSpecsNamesTheFlagAndRefusesLocalPools(t *testing.T) {
	_, err := ParseSpecs("--model", []string{"openai:http://a:1/v1#m", "openai:nope#m"})
	if err == nil || !strings.HasPrefix(err.Error(), "--model ") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad URL: %v", err)
	}
	_, err = ParseSpecs("--chat-model", []string{"a.gguf", "openai:http://a:1/v1#m"})
	if err == nil || !strings.Contains(err.Error(), "--chat-model") || !strings.Contains(err.Error(), "cannot be pooled") {
		t.Errorf("local in a pool: %v", err)
	}
	specs, err := ParseSpecs("--model", []string{"ollama:a", "openai:http://a:1/v1#m"})
	if err != nil || len(specs) != 2 {
		t.Errorf("%v %v", specs, err)
	}
}

func TestResolveOllamaURL(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "OLLAMA_HOST" {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct{ flag, env, want string }{
		{"", "", "http://127.0.0.1:11434"},
		{"", "gpu-box:11434", "http://gpu-box:11434"},
		{"http://flag:1", "gpu-box:11434", "http://flag:1"},
	} {
		got, err := ResolveOllamaURL(tc.flag, env(tc.env))
		if err != nil || got != tc.want {
			t.Errorf("ResolveOllamaURL(%q, %q) = %q, %v", tc.flag, tc.env, got, err)
		}
	}
	if _, err := ResolveOllamaURL("ftp://x:1", env("")); err == nil || !strings.Contains(err.Error(), "--ollama-url") {
		t.Errorf("bad flag: %v", err)
	}
	if _, err := ResolveOllamaURL("", env("ftp://x:1")); err == nil || !strings.Contains(err.Error(), "$OLLAMA_HOST") {
		t.Errorf("bad env: %v", err)
	}
}

const exampleConfig = `
[model.completion]
prompt_template = "starcoder"
[[model.completion.upstream]]
model = "openai:http://gpu-1:8000/v1#Qwen2.5-Coder-7B"
api_key_env = "VLLM_KEY"
[[model.completion.upstream]]
model = "openai:http://gpu-2:8000/v1#Qwen2.5-Coder-7B"

[[model.chat.upstream]]
model = "ollama:qwen2.5-coder:7b-instruct"

[pool]
check_interval = "5s"
backoff = "500ms"
`

func TestParseFile(t *testing.T) {
	f, err := ParseFile("serval.toml", exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := f.Model.Completion.Specs("x")
	if err != nil || len(specs) != 2 || specs[0].APIKeyEnv != "VLLM_KEY" || specs[1].BaseURL != "http://gpu-2:8000/v1" {
		t.Fatalf("completion %+v %v", specs, err)
	}
	if f.Model.Completion.PromptTemplate != "starcoder" {
		t.Errorf("prompt_template %q", f.Model.Completion.PromptTemplate)
	}
	chat, err := f.Model.Chat.Specs("x")
	if err != nil || len(chat) != 1 || chat[0].Kind != Ollama {
		t.Fatalf("chat %+v %v", chat, err)
	}
	pc := f.Pool.PoolConfig()
	if pc.CheckInterval != 5*time.Second || pc.Backoff != 500*time.Millisecond || pc.MaxBackoff != 0 {
		t.Errorf("pool %+v", pc)
	}

	for _, tc := range []struct{ data, want string }{
		{"[model.completion]\nupstreams = 1", "unknown keys model.completion.upstreams"},
		{"[[model.completion.upstream]]\nmodel = \"openai:http://h/v1\"", "model.completion.upstream[0].model"},
		{"[[model.chat.upstream]]\nmodel = \"ollama:x\"\napi_key_env = \"K\"", "model.chat.upstream[0].api_key_env"},
		{"[[model.completion.upstream]]\nmodel = \"a.gguf\"\n[[model.completion.upstream]]\nmodel = \"b.gguf\"", "cannot be pooled"},
		{"[pool]\nbackoff = \"soon\"", "backoff"},
		{"[pool]\nbackoff = \"-1s\"", "positive"},
		{"model = [", "serval.toml"},
	} {
		_, err := ParseFile("serval.toml", tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--config") {
			t.Errorf("%q: error %v, want one mentioning %q", tc.data, err, tc.want)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add(exampleConfig)
	f.Add("[[model.completion.upstream]]\nmodel = \"openai:http://[::1]:1/v1#m\"")
	f.Fuzz(func(t *testing.T, data string) {
		file, err := ParseFile("f.toml", data)
		if err != nil {
			return
		}
		// A file that parses has roles whose specs parse.
		if _, err := file.Model.Completion.Specs("x"); err != nil {
			t.Fatalf("accepted file, rejected specs: %v", err)
		}
	})
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"a.gguf", "ollama:x", "openai:http://h:1/v1#m", "openai:", "ollama:#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseSpec(raw)
		if err != nil {
			return
		}
		again, err := ParseSpec(s.String())
		if err != nil || again != s {
			t.Fatalf("%q → %+v → %q → %+v, %v", raw, s, s.String(), again, err)
		}
	})
}

// An OpenAI-compatible upstream that is down at startup does not fail Open:
// the pool reports it and requests get ErrUnavailable (503) until it returns.
func TestOpenRemoteDownAtStartup(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":[{"id":"m"}]}`))
	}))
	url := up.URL
	up.Close() // down

	var log strings.Builder
	m, err := Open(context.Background(), "--model", []Spec{{Kind: OpenAI, BaseURL: url + "/v1", Model: "m"}},
		Options{Log: &log, Pool: pool.Config{CheckTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Remote || m.Tokenizer != nil || m.Name != "m" || m.Chat == nil {
		t.Errorf("model %+v", m)
	}
	info := m.Engine.Info()
	if len(info.Upstreams) != 1 || info.Upstreams[0].Healthy || info.Upstreams[0].LastError == "" {
		t.Errorf("upstreams %+v", info.Upstreams)
	}
	if !strings.Contains(log.String(), "is down") {
		t.Errorf("startup log %q", log.String())
	}
	_, err = m.Engine.Generate(context.Background(), engine.Request{Prompt: "x"}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("Complete with the upstream down: %v", err)
	}
}

func TestOpenPassesTheAPIKeyAndPicksTheTemplate(t *testing.T) {
	var gotAuth string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Write([]byte(`{"data":[{"id":"Qwen2.5-Coder-7B"}]}`))
	}))
	defer up.Close()
	env := map[string]string{"MY_KEY": "sekret"}
	m, err := Open(context.Background(), "--model",
		[]Spec{{Kind: OpenAI, BaseURL: up.URL + "/v1", Model: "Qwen2.5-Coder-7B", APIKeyEnv: "MY_KEY"}},
		Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if gotAuth != "Bearer sekret" {
		t.Errorf("Authorization %q", gotAuth)
	}
	if !m.Engine.Info().Upstreams[0].Healthy {
		t.Errorf("upstream not healthy: %+v", m.Engine.Info())
	}
	if m.Entry.Template != "qwen" || m.Entry.Name != "Qwen2.5-Coder-7B" {
		t.Errorf("entry %+v", m.Entry)
	}
	if e := remoteEntry(nil, "my-own-model"); e.Template != "" {
		t.Errorf("unknown name got template %q", e.Template)
	}
}

// A wrong API key leaves the upstream out of rotation with the upstream's
// answer as the reason, and requests get ErrUnavailable naming it.
func TestOpenWithAWrongAPIKey(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid token"}`))
			return
		}
		w.Write([]byte(`{"data":[{"id":"m"}]}`))
	}))
	defer up.Close()
	m, err := Open(context.Background(), "--model", []Spec{{Kind: OpenAI, BaseURL: up.URL + "/v1", Model: "m"}},
		Options{Getenv: func(k string) string { return map[string]string{DefaultAPIKeyEnv: "wrong"}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	u := m.Engine.Info().Upstreams[0]
	if u.Healthy || !strings.Contains(u.LastError, "401") || !strings.Contains(u.LastError, "invalid token") {
		t.Errorf("upstream %+v", u)
	}
	_, err = m.Engine.Generate(context.Background(), engine.Request{Prompt: "x"}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "invalid token") {
		t.Errorf("Complete: %v", err)
	}
}
