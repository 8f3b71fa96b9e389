package ggufgen_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
)

// TestShapedModelLoadsInLlama writes the 0.5B shape cut to one block (the
// real vocabulary, widths and tensor types; about a third of the file) in
// each type and runs it through llama.cpp: it loads as qwen2, the FIM
// markers are single tokens, code tokenizes into multi-character pieces and
// greedy decoding gives visible text without ending early.
func TestShapedModelLoadsInLlama(t *testing.T) {
	loadLlama(t)
	for _, typ := range []ggufgen.TensorType{ggufgen.Q8_0, ggufgen.F16} {
		t.Run(typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shape.gguf")
			if err := ggufgen.WriteShape(path, ggufgen.ShapeOptions{Shape: "qwen2.5-coder-0.5b", Type: typ, Layers: 1}); err != nil {
				t.Fatal(err)
			}
			mp := llama.ModelDefaultParams()
			mp.SetCPUOnly()
			model, err := llama.ModelLoadFromFile(path, mp)
			if err != nil || model == 0 {
				t.Fatalf("loading: %v", err)
			}
			defer llama.ModelFree(model)
			vocab := llama.ModelGetVocab(model)
			if n := llama.VocabNTokens(vocab); n != 151936 {
				t.Errorf("%d tokens", n)
			}
			if arch, _ := llama.ModelMetaValStr(model, "general.architecture"); arch != "qwen2" {
				t.Errorf("architecture %q", arch)
			}
			v, _ := ggufgen.ShapeVocab(151936)
			if int(llama.VocabFIMPre(vocab)) != v.ID("<|fim_prefix|>") || int(llama.VocabFIMMid(vocab)) != v.ID("<|fim_middle|>") {
				t.Errorf("FIM tokens %d, %d", llama.VocabFIMPre(vocab), llama.VocabFIMMid(vocab))
			}
			code := "func (b *Builder) WriteString(s string) (int, error) {\n\tb.copyCheck()\n\tb.buf = append(b.buf, s...)\n\treturn len(s), nil\n}\n"
			toks := llama.Tokenize(vocab, "<|fim_prefix|>"+code+"<|fim_suffix|><|fim_middle|>", false, true)
			if int(toks[0]) != v.ID("<|fim_prefix|>") || int(toks[len(toks)-1]) != v.ID("<|fim_middle|>") {
				t.Errorf("special tokens not parsed: %v", toks[:3])
			}
			// Real code vocabularies give 3-4 characters a token on Go.
			perToken := float64(len(code)) / float64(len(toks)-3)
			t.Logf("%.2f characters a token", perToken)
			if perToken < 2.5 {
				t.Errorf("%.2f characters a token (%d tokens for %d characters)", perToken, len(toks)-3, len(code))
			}
			text, gen := generate(t, path, "<|fim_prefix|>"+code+"<|fim_suffix|>\n<|fim_middle|>", 8)
			if len(gen) != 8 || strings.TrimSpace(text) == "" {
				t.Errorf("generated %q (%d tokens)", text, len(gen))
			}
		})
	}
}
