// Command serval-modelexport turns a model trained by
// models/serval-tiny/train (float32 weights in safetensors, named as
// llama.cpp names them, its training config and its SentencePiece vocabulary
// dumped as JSON) into a llama-architecture GGUF file, written with the
// project's own GGUF writer (integration/testsupport/ggufgen).
//
//	serval-modelexport -weights weights.safetensors -config config.json \
//	    -vocab tokenizer.vocab.json -name serval-tiny [-type f16] -o serval-tiny.gguf
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serval-modelexport:", err)
		os.Exit(1)
	}
}

// trainConfig is the part of the training config the GGUF needs.
type trainConfig struct {
	Dim      int     `json:"dim"`
	Layers   int     `json:"layers"`
	Heads    int     `json:"heads"`
	KVHeads  int     `json:"kv_heads"`
	FFN      int     `json:"ffn"`
	Context  int     `json:"context"`
	NormEps  float32 `json:"norm_eps"`
	RopeBase float32 `json:"rope_base"`
}

// vocabFile is models/serval-tiny/train/tokenizer.py's dump.
type vocabFile struct {
	Model      string    `json:"model"`
	Tokens     []string  `json:"tokens"`
	Scores     []float32 `json:"scores"`
	TokenTypes []int32   `json:"token_types"`
	UnkID      int       `json:"unk_id"`
	BOSID      int       `json:"bos_id"`
	EOSID      int       `json:"eos_id"`
	FIMPre     int       `json:"fim_pre_id"`
	FIMSuf     int       `json:"fim_suf_id"`
	FIMMid     int       `json:"fim_mid_id"`
	FIMPad     int       `json:"fim_pad_id"`
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serval-modelexport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	weights := fs.String("weights", "", "float32 safetensors from train.py (required)")
	config := fs.String("config", "", "the training config.json (required)")
	vocabPath := fs.String("vocab", "", "the tokenizer's .vocab.json (required)")
	name := fs.String("name", "serval-tiny", "general.name")
	typ := fs.String("type", "f16", "storage of the weight matrices: f16 or f32 (norms stay f32)")
	out := fs.String("o", "", "output GGUF path (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *weights == "" || *config == "" || *vocabPath == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("usage: serval-modelexport -weights F -config F -vocab F -o OUT.gguf")
	}
	var matType ggufgen.TensorType
	var fileType uint32
	switch *typ {
	case "f16":
		matType, fileType = ggufgen.F16, 1
	case "f32":
		matType, fileType = ggufgen.F32, 0
	default:
		return fmt.Errorf("-type %q: want f16 or f32", *typ)
	}
	var cfg trainConfig
	if err := readJSON(*config, &cfg); err != nil {
		return err
	}
	var v vocabFile
	if err := readJSON(*vocabPath, &v); err != nil {
		return err
	}
	if v.Model != "llama" {
		return fmt.Errorf("%s: tokenizer model %q, want llama", *vocabPath, v.Model)
	}
	raw, err := os.ReadFile(*weights)
	if err != nil {
		return err
	}
	st, _, err := parseSafetensors(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *weights, err)
	}
	m := ggufgen.Llama{
		Name: *name, ContextLength: cfg.Context, Embd: cfg.Dim, Layers: cfg.Layers, FeedForward: cfg.FFN,
		Heads: cfg.Heads, HeadsKV: cfg.KVHeads, RopeBase: cfg.RopeBase, NormEps: cfg.NormEps, FileType: fileType,
		Vocab: ggufgen.Vocab{Tokens: v.Tokens, Scores: v.Scores, Types: v.TokenTypes},
		UnkID: v.UnkID, BOSID: v.BOSID, EOSID: v.EOSID,
		FIMPre: v.FIMPre, FIMSuf: v.FIMSuf, FIMMid: v.FIMMid, FIMPad: v.FIMPad,
	}
	kvs, err := m.KVs()
	if err != nil {
		return err
	}
	tensors, err := ggufTensors(st, cfg, len(v.Tokens), matType)
	if err != nil {
		return fmt.Errorf("%s: %w", *weights, err)
	}
	return writeFile(*out, &ggufgen.File{KVs: kvs, Tensors: tensors})
}

// ggufTensors checks the trained tensors against the config and converts
// them: ggml lists dimensions fastest-varying first, the reverse of PyTorch.
func ggufTensors(st []stTensor, cfg trainConfig, nVocab int, matType ggufgen.TensorType) ([]ggufgen.Tensor, error) {
	hd := cfg.Dim / cfg.Heads
	want := map[string][]uint64{
		"token_embd.weight":  {uint64(nVocab), uint64(cfg.Dim)},
		"output_norm.weight": {uint64(cfg.Dim)},
		"output.weight":      {uint64(nVocab), uint64(cfg.Dim)},
	}
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		d, kv, ff := uint64(cfg.Dim), uint64(cfg.KVHeads*hd), uint64(cfg.FFN)
		want[p+"attn_norm.weight"] = []uint64{d}
		want[p+"attn_q.weight"] = []uint64{d, d}
		want[p+"attn_k.weight"] = []uint64{kv, d}
		want[p+"attn_v.weight"] = []uint64{kv, d}
		want[p+"attn_output.weight"] = []uint64{d, d}
		want[p+"ffn_norm.weight"] = []uint64{d}
		want[p+"ffn_gate.weight"] = []uint64{ff, d}
		want[p+"ffn_up.weight"] = []uint64{ff, d}
		want[p+"ffn_down.weight"] = []uint64{d, ff}
	}
	var out []ggufgen.Tensor
	for _, t := range st {
		shape, ok := want[t.Name]
		if !ok {
			return nil, fmt.Errorf("unexpected tensor %q", t.Name)
		}
		if fmt.Sprint(shape) != fmt.Sprint(t.Shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, the config says %v", t.Name, t.Shape, shape)
		}
		delete(want, t.Name)
		dims := make([]uint64, len(t.Shape))
		for i, s := range t.Shape {
			dims[len(t.Shape)-1-i] = s
		}
		typ := matType
		if len(dims) == 1 {
			typ = ggufgen.F32 // llama.cpp multiplies by norm weights in f32
		}
		out = append(out, ggufgen.Tensor{Name: t.Name, Dims: dims, Data: t.Data, Type: typ})
	}
	if len(want) > 0 {
		var missing []string
		for n := range want {
			missing = append(missing, n)
		}
		return nil, fmt.Errorf("missing tensors: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeFile writes f through a temporary file renamed into place.
func writeFile(path string, f *ggufgen.File) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".modelexport-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := f.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
