package models_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/models"
)

// reference is testdata/serval-tiny-reference.json, written by
// models/serval-tiny/train/reference.py from the same weights as the GGUF.
type reference struct {
	Tokenization []struct {
		Text string        `json:"text"`
		IDs  []llama.Token `json:"ids"`
	} `json:"tokenization"`
	FIM []struct {
		Prefix        string        `json:"prefix"`
		Suffix        string        `json:"suffix"`
		IDs           []llama.Token `json:"ids"`
		TopIDs        []int         `json:"top_ids"`
		TopLogits     []float32     `json:"top_logits"`
		Greedy        []llama.Token `json:"greedy"`
		GreedyMargins []float32     `json:"greedy_margins"`
	} `json:"fim"`
}

func readReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "serval-tiny-reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

var loadOnce struct {
	sync.Once
	err error
}

// loadModel loads serval-tiny through the llama.cpp build Serval uses.
func loadModel(t *testing.T) (llama.Model, llama.Vocab) {
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
	path := filepath.Join(t.TempDir(), "serval-tiny.gguf")
	if err := os.WriteFile(path, models.ServalTiny(), 0o644); err != nil {
		t.Fatal(err)
	}
	mp := llama.ModelDefaultParams()
	mp.SetCPUOnly()
	model, err := llama.ModelLoadFromFile(path, mp)
	if err != nil || model == 0 {
		t.Fatalf("loading serval-tiny: %v", err)
	}
	t.Cleanup(func() { llama.ModelFree(model) })
	return model, llama.ModelGetVocab(model)
}

// TestTokenizationMatchesTraining: llama.cpp must split text into the tokens
// the model was trained on (SentencePiece's), and give the text back byte for
// byte, on held-out source and whitespace/Unicode edge cases.
func TestTokenizationMatchesTraining(t *testing.T) {
	ref := readReference(t)
	_, vocab := loadModel(t)
	buf := make([]byte, 256)
	for i, c := range ref.Tokenization {
		got := llama.Tokenize(vocab, c.Text, false, false)
		if !equalTokens(got, c.IDs) {
			t.Errorf("text %d %q:\nllama.cpp %v\ntraining  %v", i, clip(c.Text), got, c.IDs)
		}
		var text []byte
		for _, id := range got {
			n := llama.TokenToPiece(vocab, id, buf, 0, false)
			text = append(text, buf[:n]...)
		}
		if string(text) != c.Text {
			t.Errorf("text %d does not round-trip:\n got %q\nwant %q", i, clip(string(text)), clip(c.Text))
		}
	}
	if len(ref.Tokenization) < 20 {
		t.Errorf("only %d tokenization cases", len(ref.Tokenization))
	}
}

// TestFIMTokens: the vocabulary declares Qwen-style FIM markers, which
// llama.cpp reports and parses as single control tokens.
func TestFIMTokens(t *testing.T) {
	_, vocab := loadModel(t)
	for name, c := range map[string]struct {
		got  llama.Token
		text string
	}{
		"prefix": {llama.VocabFIMPre(vocab), "<|fim_prefix|>"},
		"suffix": {llama.VocabFIMSuf(vocab), "<|fim_suffix|>"},
		"middle": {llama.VocabFIMMid(vocab), "<|fim_middle|>"},
	} {
		toks := llama.Tokenize(vocab, c.text, false, true)
		if c.got == llama.TokenNull || len(toks) != 1 || toks[0] != c.got {
			t.Errorf("FIM %s: llama.cpp says token %d, %q tokenizes to %v", name, c.got, c.text, toks)
		}
	}
	eot := llama.Tokenize(vocab, "<|endoftext|>", false, true)
	if len(eot) != 1 || !llama.VocabIsEOG(vocab, eot[0]) {
		t.Errorf("<|endoftext|> is %v, not one end-of-generation token", eot)
	}
}

// TestLogitsMatchPyTorch: the GGUF computes what the trained network
// computes: same prompt tokens, same top-5 next tokens with logits within
// f16 rounding, and the same greedy continuation wherever PyTorch's choice
// was not a near tie.
func TestLogitsMatchPyTorch(t *testing.T) {
	ref := readReference(t)
	model, vocab := loadModel(t)
	nVocab := int(llama.VocabNTokens(vocab))
	for i, c := range ref.FIM {
		prompt := "<|fim_prefix|>" + c.Prefix + "<|fim_suffix|>" + c.Suffix + "<|fim_middle|>"
		ids := llama.Tokenize(vocab, prompt, false, true)
		if !equalTokens(ids, c.IDs) {
			t.Errorf("prompt %d: llama.cpp %v, training %v", i, ids, c.IDs)
			continue
		}
		cp := llama.ContextDefaultParams()
		cp.NCtx, cp.NBatch, cp.NUbatch = 512, 512, 512
		cp.NThreads, cp.NThreadsBatch = 1, 1
		lctx, err := llama.InitFromModel(model, cp)
		if err != nil || lctx == 0 {
			t.Fatalf("creating context: %v", err)
		}
		batch := llama.BatchGetOne(ids)
		var greedy []llama.Token
		for step := 0; step <= len(c.Greedy); step++ {
			if rc, err := llama.Decode(lctx, batch); err != nil || rc != 0 {
				t.Fatalf("decode: rc %d, %v", rc, err)
			}
			logits, err := llama.GetLogitsIth(lctx, -1, nVocab)
			if err != nil {
				t.Fatal(err)
			}
			if step == 0 {
				for k, id := range c.TopIDs {
					if d := math.Abs(float64(logits[id] - c.TopLogits[k])); d > 0.05+0.01*math.Abs(float64(c.TopLogits[k])) {
						t.Errorf("prompt %d: logit of token %d is %.4f, PyTorch %.4f", i, id, logits[id], c.TopLogits[k])
					}
				}
			}
			best := argmax(logits)
			if llama.VocabIsEOG(vocab, best) || step == len(c.Greedy) {
				break
			}
			greedy = append(greedy, best)
			batch = llama.BatchGetOne([]llama.Token{best})
		}
		llama.Free(lctx)
		for k := 0; k < len(c.Greedy); k++ {
			if k >= len(greedy) || greedy[k] != c.Greedy[k] {
				if c.GreedyMargins[k] > 0.1 {
					t.Errorf("prompt %d: greedy tokens %v, PyTorch %v (diverged at %d with a margin of %.3f)", i, greedy, c.Greedy, k, c.GreedyMargins[k])
				}
				break
			}
		}
	}
}

func argmax(v []float32) llama.Token {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return llama.Token(best)
}

func equalTokens(a, b []llama.Token) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
