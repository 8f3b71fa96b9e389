package prompt_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/server/engine/llama"
	"github.com/servalhq/serval/server/prompt"
)

// openTokenizer opens the llama.cpp engine on a model, as the server does,
// to count tokens with a real vocabulary: the shared Llama-2 model
// (SentencePiece, 32,000 tokens) when present, else the generated one.
func openTokenizer(t testing.TB) *llama.Engine {
	t.Helper()
	libDir := llamalib.Dir(t)
	model := ""
	if root := llamalib.RepoRoot(); root != "" {
		p := filepath.Join(filepath.Dir(root), "shared", "models", "llama-2-tiny-random.gguf")
		if _, err := os.Stat(p); err == nil {
			model = p
		}
	}
	if model == "" {
		model = filepath.Join(t.TempDir(), "model.gguf")
		if err := ggufgen.WriteTestModel(model, ggufgen.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := llama.Open(context.Background(), llama.Config{ModelPath: model, LibDir: libDir, Threads: 1, CtxSize: 2048, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func goSource(t testing.TB) string {
	data, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "net", "http", "server.go"))
	if err != nil {
		t.Skipf("GOROOT source absent: %v", err)
	}
	return string(data)
}

// TestBuildFitsRealTokenizer checks the budget against llama.cpp's own token
// count of the final prompt, for long inputs that must be cut.
func TestBuildFitsRealTokenizer(t *testing.T) {
	e := openTokenizer(t)
	text := goSource(t)
	for _, name := range prompt.TemplateNames() {
		tmpl, _ := prompt.LookupTemplate(name)
		b, err := prompt.NewBuilder(prompt.Config{Template: tmpl, ContextSize: 1024, MaxOutputTokens: 64, Tokenizer: e})
		if err != nil {
			t.Fatal(err)
		}
		for _, pos := range []int{100, len(text) / 3, len(text) / 2, len(text) - 100} {
			p, err := b.Build(&prompt.Request{Language: "go",
				Prefix: text[:pos], Suffix: text[pos:],
				Declarations: []prompt.Snippet{{Filepath: "header.go", Body: "type Header map[string][]string"}},
			})
			if err != nil {
				t.Fatalf("%s at %d: %v", name, pos, err)
			}
			if n := e.CountTokens(p.Text); n > 1024-64 {
				t.Errorf("%s at %d: %d tokens, over the 960-token budget", name, pos, n)
			}
		}
	}
}

// BenchmarkBuildRealTokenizer measures the server-side cost of building a
// prompt from a whole-file request while typing (consecutive cursor
// positions), counting tokens with llama.cpp.
func BenchmarkBuildRealTokenizer(b *testing.B) {
	e := openTokenizer(b)
	text := goSource(b)
	builder, err := prompt.NewBuilder(prompt.Config{ContextSize: 2048, MaxOutputTokens: 64, Tokenizer: e})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		window bool
	}{{"wholefile", false}, {"window20", true}} {
		b.Run(c.name, func(b *testing.B) {
			pos := len(text) / 2
			for b.Loop() {
				pos++ // one more character typed
				prefix, suffix := text[:pos], text[pos:]
				if c.window {
					prefix, suffix = prefix[len(prefix)-800:], suffix[:800]
				}
				if _, err := builder.Build(&prompt.Request{Language: "go", Prefix: prefix, Suffix: suffix}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
