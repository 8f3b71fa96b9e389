package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
)

// writeSafetensors writes tensors (PyTorch shapes) the way train.py does.
func writeSafetensors(t testing.TB, path string, tensors []stTensor) {
	t.Helper()
	header := map[string]any{"__metadata__": map[string]string{"step": "1"}}
	var data bytes.Buffer
	for _, x := range tensors {
		start := data.Len()
		for _, v := range x.Data {
			binary.Write(&data, binary.LittleEndian, math.Float32bits(v))
		}
		header[x.Name] = map[string]any{"dtype": "F32", "shape": x.Shape, "data_offsets": []int{start, data.Len()}}
	}
	h, _ := json.Marshal(header)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(data.Bytes())
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tinyTrained makes the files train.py and tokenizer.py would write for a
// 2-layer model over a byte vocabulary with FIM tokens.
func tinyTrained(t testing.TB, dir string) (weights, config, vocab string) {
	t.Helper()
	cfg := trainConfig{Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFN: 64, Context: 128, NormEps: 1e-5, RopeBase: 10000}
	v := vocabFile{Model: "llama", UnkID: 0, BOSID: 1, EOSID: 3, FIMPre: 4, FIMSuf: 5, FIMMid: 6, FIMPad: 7}
	for _, s := range []string{"<unk>", "<s>", "</s>", "<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>"} {
		v.Tokens = append(v.Tokens, s)
		v.TokenTypes = append(v.TokenTypes, 3)
		v.Scores = append(v.Scores, 0)
	}
	v.TokenTypes[0] = 2
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("<0x%02X>", b))
		v.TokenTypes = append(v.TokenTypes, 6)
		v.Scores = append(v.Scores, 0)
	}
	for i, p := range []string{"re", "tu", "rn", "turn", "return", "\n", "\t"} {
		v.Tokens = append(v.Tokens, p)
		v.TokenTypes = append(v.TokenTypes, 1)
		v.Scores = append(v.Scores, float32(-i))
	}
	n := uint64(len(v.Tokens))
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(name string, shape ...uint64) stTensor {
		c := uint64(1)
		for _, s := range shape {
			c *= s
		}
		d := make([]float32, c)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.1)
			if len(shape) == 1 {
				d[i] = 1
			}
		}
		return stTensor{Name: name, Shape: shape, Data: d}
	}
	d, kv, ff := uint64(cfg.Dim), uint64(cfg.KVHeads*cfg.Dim/cfg.Heads), uint64(cfg.FFN)
	emb := mk("token_embd.weight", n, d)
	ts := []stTensor{emb, mk("output_norm.weight", d), {Name: "output.weight", Shape: emb.Shape, Data: emb.Data}}
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts, mk(p+"attn_norm.weight", d), mk(p+"attn_q.weight", d, d), mk(p+"attn_k.weight", kv, d),
			mk(p+"attn_v.weight", kv, d), mk(p+"attn_output.weight", d, d), mk(p+"ffn_norm.weight", d),
			mk(p+"ffn_gate.weight", ff, d), mk(p+"ffn_up.weight", ff, d), mk(p+"ffn_down.weight", d, ff))
	}
	weights, config, vocab = filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "config.json"), filepath.Join(dir, "vocab.json")
	writeSafetensors(t, weights, ts)
	cb, _ := json.Marshal(map[string]any{"dim": cfg.Dim, "layers": cfg.Layers, "heads": cfg.Heads, "kv_heads": cfg.KVHeads,
		"ffn": cfg.FFN, "context": cfg.Context, "norm_eps": cfg.NormEps, "rope_base": cfg.RopeBase, "lr": 0.003})
	vb, _ := json.Marshal(v)
	os.WriteFile(config, cb, 0o644)
	os.WriteFile(vocab, vb, 0o644)
	return weights, config, vocab
}

// TestExportLoadsInLlamaCpp: an exported model loads in the llama.cpp build
// Serval uses, with its vocabulary, FIM tokens and shape.
func TestExportLoadsInLlamaCpp(t *testing.T) {
	dir := t.TempDir()
	w, c, v := tinyTrained(t, dir)
	for _, typ := range []string{"f16", "f32"} {
		out := filepath.Join(dir, typ+".gguf")
		if err := run([]string{"-weights", w, "-config", c, "-vocab", v, "-type", typ, "-o", out}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		libDir := llamalib.Dir(t)
		if err := llama.Load(libDir); err != nil {
			t.Fatal(err)
		}
		llama.LogSet(llama.LogSilent())
		llama.Init()
		mp := llama.ModelDefaultParams()
		mp.SetCPUOnly()
		model, err := llama.ModelLoadFromFile(out, mp)
		if err != nil || model == 0 {
			t.Fatalf("%s: llama.cpp does not load the export: %v", typ, err)
		}
		vocab := llama.ModelGetVocab(model)
		if llama.VocabFIMPre(vocab) != 4 || llama.VocabFIMMid(vocab) != 6 || llama.VocabEOS(vocab) != 3 {
			t.Errorf("%s: FIM/EOS ids %d %d %d", typ, llama.VocabFIMPre(vocab), llama.VocabFIMMid(vocab), llama.VocabEOS(vocab))
		}
		if got := llama.Tokenize(vocab, "return\n\t", false, false); len(got) != 3 {
			t.Errorf("%s: %q tokenized to %v", typ, "return\n\t", got)
		}
		if n := llama.ModelNEmbd(model); n != 32 {
			t.Errorf("%s: n_embd %d", typ, n)
		}
		llama.ModelFree(model)
	}
	fi16, _ := os.Stat(filepath.Join(dir, "f16.gguf"))
	fi32, _ := os.Stat(filepath.Join(dir, "f32.gguf"))
	if fi16.Size() >= fi32.Size() {
		t.Errorf("f16 export %d bytes is not smaller than f32 %d", fi16.Size(), fi32.Size())
	}
}

func TestExportRejectsMismatches(t *testing.T) {
	dir := t.TempDir()
	w, c, v := tinyTrained(t, dir)
	out := filepath.Join(dir, "x.gguf")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"dim": 64, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 64, "context": 128}`), 0o644)
	if err := run([]string{"-weights", w, "-config", bad, "-vocab", v, "-o", out}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "the config says") {
		t.Errorf("a config of another shape: %v", err)
	}
	if err := run([]string{"-weights", w, "-config", c, "-vocab", v, "-type", "q4", "-o", out}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown -type was accepted")
	}
	raw, _ := os.ReadFile(w)
	trunc := filepath.Join(dir, "t.safetensors")
	os.WriteFile(trunc, raw[:len(raw)-100], 0o644)
	if err := run([]string{"-weights", trunc, "-config", c, "-vocab", v, "-o", out}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("truncated weights: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed export left an output file")
	}
}

func FuzzParseSafetensors(f *testing.F) {
	dir := f.TempDir()
	w, _, _ := tinyTrained(f, dir)
	raw, _ := os.ReadFile(w)
	f.Add(raw[:min(len(raw), 4096)])
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, _, err := parseSafetensors(b)
		if err != nil {
			return
		}
		for _, x := range ts {
			n := uint64(1)
			for _, s := range x.Shape {
				n *= s
			}
			if n != uint64(len(x.Data)) {
				t.Fatalf("tensor %s: shape %v, %d values", x.Name, x.Shape, len(x.Data))
			}
		}
	})
}
