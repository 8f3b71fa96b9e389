package llama

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// A model of Qwen2.5-Coder-0.5B's shape (cut to one block) is served like
// the real one: its FIM template is found in its vocabulary (not guessed
// from its name) and a FIM completion runs.
func TestShapedModelTemplateFromVocabulary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shape.gguf")
	if err := ggufgen.WriteShape(path, ggufgen.ShapeOptions{Shape: "qwen2.5-coder-0.5b", Type: ggufgen.Q8_0, Layers: 1}); err != nil {
		t.Fatal(err)
	}
	byTokens := func(_ string, hasToken func(string) bool) string { return prompt.DetectTemplateName("", hasToken) }
	e := openTest(t, Config{ModelPath: path, DetectTemplate: byTokens, CtxSize: 1024})
	if info := e.Info(); info.FIMTemplate != "qwen" || info.Model != "serval-shape-qwen2.5-coder-0.5b-q8_0" {
		t.Errorf("info %+v", info)
	}
	var text string
	u, err := e.Generate(context.Background(), engine.Request{Prompt: "<|fim_prefix|>func add(a, b int) int {\n\treturn <|fim_suffix|>\n}\n<|fim_middle|>", MaxTokens: 4},
		func(s string) error { text += s; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if u.GeneratedTokens != 4 || text == "" {
		t.Errorf("generated %q, usage %+v", text, u)
	}
}
