package ggufgen_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
)

var loadOnce struct {
	sync.Once
	err error
}

// loadLlama loads the llama.cpp libraries once per test process.
func loadLlama(t *testing.T) {
	t.Helper()
	dir := llamalib.Dir(t)
	loadOnce.Do(func() {
		if loadOnce.err = llama.Load(dir); loadOnce.err == nil {
			llama.LogSet(llama.LogSilent())
			llama.Init()
		}
	})
	if loadOnce.err != nil {
		t.Fatalf("loading llama.cpp from %s: %v", dir, loadOnce.err)
	}
}

// generate loads the model at path and returns n greedy tokens' text after prompt.
func generate(t *testing.T, path, prompt string, n int) (text string, tokens []llama.Token) {
	t.Helper()
	mp := llama.ModelDefaultParams()
	mp.SetCPUOnly()
	model, err := llama.ModelLoadFromFile(path, mp)
	if err != nil || model == 0 {
		t.Fatalf("loading %s: %v", path, err)
	}
	defer llama.ModelFree(model)
	cp := llama.ContextDefaultParams()
	cp.NCtx = 4096
	cp.NBatch = 4096
	cp.NUbatch = 512
	cp.NThreads, cp.NThreadsBatch = 1, 1
	lctx, err := llama.InitFromModel(model, cp)
	if err != nil || lctx == 0 {
		t.Fatalf("creating context: %v", err)
	}
	defer llama.Free(lctx)
	vocab := llama.ModelGetVocab(model)
	in := llama.Tokenize(vocab, prompt, true, true)
	if len(in) == 0 {
		t.Fatalf("prompt %q tokenized to nothing", prompt)
	}
	sampler := llama.SamplerChainInit(llama.SamplerChainDefaultParams())
	defer llama.SamplerFree(sampler)
	llama.SamplerChainAdd(sampler, llama.SamplerInitGreedy())
	batch := llama.BatchGetOne(in)
	var out []byte
	buf := make([]byte, 256)
	for range n {
		if rc, err := llama.Decode(lctx, batch); err != nil || rc != 0 {
			t.Fatalf("decode: rc %d, %v", rc, err)
		}
		tok := llama.SamplerSample(sampler, lctx, -1)
		if llama.VocabIsEOG(vocab, tok) {
			break
		}
		tokens = append(tokens, tok)
		k := llama.TokenToPiece(vocab, tok, buf, 0, false)
		out = append(out, buf[:k]...)
		batch = llama.BatchGetOne([]llama.Token{tok})
	}
	return string(out), tokens
}

var codePrompts = []string{
	"<|fim_prefix|>func add(a, b int) int {\n\treturn <|fim_suffix|>\n}\n<|fim_middle|>",
	"<|fim_prefix|>package main\n\nimport \"fmt\"\n\nfunc main() {\n\t<|fim_suffix|>\n}<|fim_middle|>",
	"<|fim_prefix|>def fib(n):\n    if n < 2:\n        return n\n    <|fim_suffix|><|fim_middle|>",
	"<|fim_prefix|>const x = [1, 2, 3].map((v) => <|fim_suffix|>);<|fim_middle|>",
	"<|fim_prefix|>// Package strings implements simple functions.\npackage strings\n\ntype Builder struct {\n\t<|fim_suffix|><|fim_middle|>",
	"x",
}

func writeModel(t *testing.T, opts ggufgen.Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.gguf")
	if err := ggufgen.WriteTestModel(path, opts); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLlamaLoadsAndGeneratesVisibleText(t *testing.T) {
	loadLlama(t)
	path := writeModel(t, ggufgen.Options{})
	for _, p := range codePrompts {
		text, toks := generate(t, path, p, 16)
		t.Logf("%q -> %q", p, text)
		if len(toks) != 16 {
			t.Errorf("prompt %q: generation stopped after %d tokens, want 16", p, len(toks))
		}
		if strings.TrimSpace(text) == "" {
			t.Errorf("prompt %q: completion %q has no visible text", p, text)
		}
		if !utf8.ValidString(text) {
			t.Errorf("prompt %q: completion %q is not valid UTF-8", p, text)
		}
		again, _ := generate(t, path, p, 16)
		if again != text {
			t.Errorf("prompt %q: greedy generation not deterministic: %q then %q", p, text, again)
		}
	}
}

func TestLlamaTokenizesSpecialAndCodeTokens(t *testing.T) {
	loadLlama(t)
	path := writeModel(t, ggufgen.Options{})
	mp := llama.ModelDefaultParams()
	mp.SetCPUOnly()
	model, err := llama.ModelLoadFromFile(path, mp)
	if err != nil {
		t.Fatal(err)
	}
	defer llama.ModelFree(model)
	vocab := llama.ModelGetVocab(model)
	v := ggufgen.BuildVocab(ggufgen.Options{})

	if got, want := int(llama.VocabFIMPre(vocab)), v.ID("<|fim_prefix|>"); got != want {
		t.Errorf("FIM prefix token %d, want %d", got, want)
	}
	if got, want := int(llama.VocabFIMSuf(vocab)), v.ID("<|fim_suffix|>"); got != want {
		t.Errorf("FIM suffix token %d, want %d", got, want)
	}
	if got, want := int(llama.VocabFIMMid(vocab)), v.ID("<|fim_middle|>"); got != want {
		t.Errorf("FIM middle token %d, want %d", got, want)
	}
	if !llama.VocabIsEOG(vocab, llama.Token(v.ID("<|endoftext|>"))) || !llama.VocabIsEOG(vocab, ggufgen.EOSID) {
		t.Error("<|endoftext|> and </s> should end generation")
	}
	toks := llama.Tokenize(vocab, "<|fim_prefix|>\treturn x<|fim_middle|>", false, true)
	if len(toks) == 0 || int(toks[0]) != v.ID("<|fim_prefix|>") || int(toks[len(toks)-1]) != v.ID("<|fim_middle|>") {
		t.Errorf("special tokens not parsed: %v", toks)
	}
	if !containsToken(toks, v.ID("return")) {
		t.Errorf("\"return\" is not one token in %v", toks)
	}
	if toks := llama.Tokenize(vocab, "a return", false, true); !containsToken(toks, v.ID("▁return")) {
		t.Errorf("\" return\" is not one token in %v", toks)
	}
	if got := llama.Detokenize(vocab, toks, false, true); got != "<|fim_prefix|>\treturn x<|fim_middle|>" {
		t.Errorf("detokenized %q", got)
	}
	if got := llama.ModelChatTemplate(model, ""); got != ggufgen.ChatTemplate {
		t.Errorf("chat template %q", got)
	}
	if name, _ := llama.ModelMetaValStr(model, "general.name"); name != "serval-test-tiny" {
		t.Errorf("general.name %q", name)
	}
}

func containsToken(toks []llama.Token, id int) bool {
	for _, t := range toks {
		if int(t) == id {
			return true
		}
	}
	return false
}

func TestLlamaLoadsSharedTinyRandomModel(t *testing.T) {
	loadLlama(t)
	path := llamalib.SharedModel(t, "llama-2-tiny-random.gguf")
	text, _ := generate(t, path, "Hello, world", 8)
	t.Logf("llama-2-tiny-random: %q", text)
}

func TestRawBytesModelEmitsNonASCIIBytes(t *testing.T) {
	// server/engine/llama's UTF-8 test relies on this model (seed 11)
	// producing bytes outside ASCII, which can form invalid UTF-8.
	loadLlama(t)
	path := writeModel(t, ggufgen.Options{RawBytes: true, Seed: 11})
	high := 0
	for _, p := range codePrompts {
		text, _ := generate(t, path, p, 64)
		for i := 0; i < len(text); i++ {
			if text[i] >= 0x80 {
				high++
			}
		}
	}
	if high == 0 {
		t.Error("the raw-bytes model generated no byte >= 0x80")
	}
}

func TestNoLineBreaksModelWritesOneLongLine(t *testing.T) {
	// integration/peers cuts long streams midway and relies on this: with
	// no line break, no code stop word can end a completion early.
	loadLlama(t)
	path := writeModel(t, ggufgen.Options{NoLineBreaks: true})
	for _, p := range codePrompts {
		text, toks := generate(t, path, p, 64)
		if len(toks) != 64 || strings.ContainsAny(text, "\r\n") {
			t.Errorf("prompt %q: %d tokens %q, want 64 on one line", p, len(toks), text)
		}
	}
}
