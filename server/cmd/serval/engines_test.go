package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/servalhq/serval/server/models"
)

// The config file's upstream lists are used when no --model/--chat-model is
// given on the command line; flags win over them.
func TestOpenEnginesFromConfigFile(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":"coder"},{"id":"chatter"},{"id":"other"}]}`)
	}))
	defer up.Close()
	file := filepath.Join(t.TempDir(), "serval.toml")
	cfgText := fmt.Sprintf(`
[model.completion]
prompt_template = "starcoder"
[[model.completion.upstream]]
model = "openai:%[1]s/v1#coder"
[[model.completion.upstream]]
model = "openai:%[1]s/v2#coder"
[[model.chat.upstream]]
model = "openai:%[1]s/v1#chatter"
`, up.URL)
	if err := os.WriteFile(file, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}

	open := func(args ...string) *servedEngines {
		t.Helper()
		var cfg serveConfig
		fs := newFlagSet("serve", io.Discard)
		cfg.flags(fs, func(string) string { return "" })
		if err := fs.Parse(append([]string{"--config", file}, args...)); err != nil {
			t.Fatal(err)
		}
		e, err := openEngines(context.Background(), &cfg, fs, models.Builtin(), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.close)
		return e
	}

	e := open()
	if !e.completion.Remote || len(e.completion.Specs) != 2 || e.completion.Name != "coder" {
		t.Errorf("completion %+v", e.completion)
	}
	if e.chat == nil || e.chat.Name != "chatter" {
		t.Fatalf("chat %+v", e.chat)
	}
	if e.promptTemplate != "starcoder" {
		t.Errorf("prompt template %q", e.promptTemplate)
	}
	if up := e.completion.Engine.Info().Upstreams; len(up) != 2 || !up[0].Healthy || !up[1].Healthy {
		t.Errorf("upstreams %+v", up)
	}

	e = open("--model", "openai:"+up.URL+"/v1#other", "--prompt-template", "qwen")
	if len(e.completion.Specs) != 1 || e.completion.Name != "other" || e.promptTemplate != "qwen" {
		t.Errorf("flags did not win: %+v %q", e.completion, e.promptTemplate)
	}
	if e.chat == nil || e.chat.Name != "chatter" {
		t.Errorf("chat from the file: %+v", e.chat)
	}
}
