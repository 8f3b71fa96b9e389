package ggufgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Shape is the architecture of a real model that BuildShape reproduces with
// random weights: the same tensors, widths and vocabulary size, so compute
// and memory traffic per token match the real model (latency is exact,
// quality is meaningless).
type Shape struct {
	Name          string
	Arch          string // general.architecture
	Layers        int
	Embd          int
	Heads         int
	HeadsKV       int
	FeedForward   int
	VocabSize     int
	ContextLength int
	RopeBase      float32
	NormEps       float32
}

// shapes are the real models' hyperparameters, from their config.json on
// Hugging Face (Qwen/Qwen2.5-Coder-0.5B and -1.5B): both tie the output layer
// to the token embeddings and have biases on the query, key and value
// projections.
var shapes = []Shape{
	{Name: "qwen2.5-coder-0.5b", Arch: "qwen2", Layers: 24, Embd: 896, Heads: 14, HeadsKV: 2, FeedForward: 4864,
		VocabSize: 151936, ContextLength: 32768, RopeBase: 1e6, NormEps: 1e-6},
	{Name: "qwen2.5-coder-1.5b", Arch: "qwen2", Layers: 28, Embd: 1536, Heads: 12, HeadsKV: 2, FeedForward: 8960,
		VocabSize: 151936, ContextLength: 32768, RopeBase: 1e6, NormEps: 1e-6},
}

// ShapeNames lists the shapes BuildShape knows.
func ShapeNames() []string {
	var names []string
	for _, s := range shapes {
		names = append(names, s.Name)
	}
	return names
}

// LookupShape returns the shape of this name ("qwen2.5-coder-0.5b", or its
// size alone: "0.5b").
func LookupShape(name string) (Shape, error) {
	for _, s := range shapes {
		if s.Name == name || "qwen2.5-coder-"+name == s.Name {
			return s, nil
		}
	}
	return Shape{}, fmt.Errorf("ggufgen: unknown model shape %q (known: %s)", name, strings.Join(ShapeNames(), ", "))
}

// ParseType reads a tensor type as the command line spells it: f32, f16 or q8_0.
// Q4_K is not offered: the 0.5B shape's rows of 896 and 4,864 values do not
// fill Q4_K's 256-value super-blocks (llama.cpp's own Q4_K_M files of that
// model fall back to other types for those tensors).
func ParseType(s string) (TensorType, error) {
	for _, t := range []TensorType{F32, F16, Q8_0} {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("ggufgen: unknown tensor type %q (known: f32, f16, q8_0)", s)
}

// ShapeOptions pick a shaped model.
type ShapeOptions struct {
	Shape string     // a name from ShapeNames
	Type  TensorType // of the weight matrices; norms and biases stay f32, as in real files
	Seed  uint64
	// Layers, when above 0, keeps only this many blocks: tests load the real
	// vocabulary and widths without the whole model's size.
	Layers int
}

// fileType is general.file_type for a model whose matrices are of type t.
func fileType(t TensorType) uint32 {
	switch t {
	case F16:
		return 1
	case Q8_0:
		return 7
	}
	return 0
}

// BuildShape returns a model of a real architecture with seeded random
// weights. Its vocabulary (ShapeVocab) has the shape's size and the Qwen
// control tokens, so the FIM template is detected from the tokens as for the
// real model; its weight matrices are generated row by row while the file is
// written, never held whole.
func BuildShape(opts ShapeOptions) (*File, error) {
	s, err := LookupShape(opts.Shape)
	if err != nil {
		return nil, err
	}
	if opts.Layers > 0 {
		s.Layers = min(s.Layers, opts.Layers)
	}
	if opts.Type != F32 && opts.Type != F16 && opts.Type != Q8_0 {
		return nil, fmt.Errorf("ggufgen: tensor type %s is not supported for shaped models", opts.Type)
	}
	vocab, err := ShapeVocab(s.VocabSize)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5e7a1))
	embd, ff := uint64(s.Embd), uint64(s.FeedForward)
	kv := embd / uint64(s.Heads) * uint64(s.HeadsKV)
	matrix := func(name string, cols, rows uint64, std float64) Tensor {
		return Tensor{Name: name, Dims: []uint64{cols, rows}, Rows: uniformRows(rng, std), Type: opts.Type}
	}
	ones := func(name string, n uint64) Tensor {
		d := make([]float32, n)
		for i := range d {
			d[i] = 1
		}
		return Tensor{Name: name, Dims: []uint64{n}, Data: d}
	}
	zeros := func(name string, n uint64) Tensor {
		return Tensor{Name: name, Dims: []uint64{n}, Data: make([]float32, n)}
	}

	// The output layer is the token embedding (tied), so the rows of tokens
	// that must never be generated are zero in it (see silent).
	embedRow, id := uniformRows(rng, 1), 0
	tensors := []Tensor{
		{Name: "token_embd.weight", Dims: []uint64{embd, uint64(len(vocab.Tokens))}, Type: opts.Type, Rows: func(row []float32) {
			if silent(vocab, id, Options{}) {
				clear(row)
			} else {
				embedRow(row)
			}
			id++
		}},
		ones("output_norm.weight", embd),
	}
	w, wff := 1/math.Sqrt(float64(embd)), 1/math.Sqrt(float64(ff))
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		tensors = append(tensors,
			ones(p+"attn_norm.weight", embd),
			matrix(p+"attn_q.weight", embd, embd, w), zeros(p+"attn_q.bias", embd),
			matrix(p+"attn_k.weight", embd, kv, w), zeros(p+"attn_k.bias", kv),
			matrix(p+"attn_v.weight", embd, kv, w), zeros(p+"attn_v.bias", kv),
			matrix(p+"attn_output.weight", embd, embd, w),
			ones(p+"ffn_norm.weight", embd),
			matrix(p+"ffn_gate.weight", embd, ff, w),
			matrix(p+"ffn_up.weight", embd, ff, w),
			matrix(p+"ffn_down.weight", ff, embd, wff),
		)
	}
	m := Llama{
		Arch: s.Arch, Name: "serval-shape-" + s.Name + "-" + opts.Type.String(), ContextLength: s.ContextLength,
		Embd: s.Embd, Layers: s.Layers, FeedForward: s.FeedForward, Heads: s.Heads, HeadsKV: s.HeadsKV,
		RopeBase: s.RopeBase, NormEps: s.NormEps, FileType: fileType(opts.Type),
		Vocab: vocab, UnkID: UnkID, BOSID: BOSID, EOSID: vocab.ID("<|endoftext|>"),
		FIMPre: vocab.ID("<|fim_prefix|>"), FIMSuf: vocab.ID("<|fim_suffix|>"),
		FIMMid: vocab.ID("<|fim_middle|>"), FIMPad: vocab.ID("<|fim_pad|>"),
		ChatTemplate: ChatTemplate,
	}
	kvs, err := m.KVs()
	if err != nil {
		return nil, err
	}
	return &File{KVs: kvs, Tensors: tensors}, nil
}

// uniformRows fills rows with uniform values of standard deviation std:
// as good as normal ones for timing, and several times cheaper to draw for a
// model of a billion values.
func uniformRows(rng *rand.Rand, std float64) func([]float32) {
	a := float32(std * math.Sqrt(3))
	return func(row []float32) {
		for i := 0; i < len(row); i += 4 {
			u := rng.Uint64()
			for j := i; j < min(i+4, len(row)); j++ {
				row[j] = (float32(uint16(u))/32767.5 - 1) * a
				u >>= 16
			}
		}
	}
}

// ShapeVocab returns a SentencePiece-style vocabulary of exactly size tokens:
// the test model's (BuildVocab: bytes, control tokens with the FIM markers,
// code fragments), Qwen's other control tokens, the pieces that make code
// tokenize to about as many tokens as a real code model's vocabulary does
// (every pair of printable characters, lower-case trigrams, words of up to
// four letters after a space), then unused tokens that no text reaches.
func ShapeVocab(size int) (Vocab, error) {
	v := BuildVocab(Options{})
	seen := map[string]bool{}
	for _, t := range v.Tokens {
		seen[t] = true
	}
	add := func(text string, typ int32) {
		if len(v.Tokens) < size && !seen[text] {
			seen[text] = true
			v.Tokens = append(v.Tokens, text)
			v.Types = append(v.Types, typ)
			v.Scores = append(v.Scores, float32(len([]rune(text))))
		}
	}
	for _, c := range []string{"<|repo_name|>", "<|file_sep|>"} {
		add(c, TokenControl)
	}
	chars := []string{"▁", "\n", "\t"}
	for c := byte(0x21); c < 0x7f; c++ {
		chars = append(chars, string(c))
	}
	for _, a := range chars {
		for _, b := range chars {
			add(a+b, TokenNormal)
		}
	}
	lower := "abcdefghijklmnopqrstuvwxyz"
	upper := strings.ToUpper(lower)
	for _, a := range lower {
		for _, b := range lower {
			add("▁"+string(a)+string(b), TokenNormal)
			for _, c := range lower {
				add(string(a)+string(b)+string(c), TokenNormal)
				add("▁"+string(a)+string(b)+string(c), TokenNormal)
			}
		}
	}
	for _, a := range upper {
		for _, b := range lower {
			for _, c := range lower {
				add(string(a)+string(b)+string(c), TokenNormal)
			}
		}
	}
	if len(v.Tokens) > size {
		return Vocab{}, fmt.Errorf("ggufgen: a vocabulary of %d tokens is too small for the shaped models' %d pieces", size, len(v.Tokens))
	}
	// U+2400 never occurs in code: no text tokenizes to these.
	for i := 0; len(v.Tokens) < size; i++ {
		add(fmt.Sprintf("\u2400unused%d", i), TokenUnused)
	}
	return v, nil
}

// WriteShape writes a shaped model to path (see BuildShape).
func WriteShape(path string, opts ShapeOptions) error {
	f, err := BuildShape(opts)
	if err != nil {
		return err
	}
	return writeFile(path, f)
}

// CacheDir is where benchmarks keep generated shaped models, outside any
// checkout: ${XDG_CACHE_HOME:-$HOME/.cache}/serval/models.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("ggufgen: no cache directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "serval", "models"), nil
}

// shapeVersion changes whenever BuildShape's output does, so a cached file
// from an older generator is not reused.
const shapeVersion = 1

// CachedShape returns the path of the shaped model in CacheDir, writing it
// first when it is missing (minutes for the 1.5B shape; then reused).
func CachedShape(opts ShapeOptions) (string, error) {
	s, err := LookupShape(opts.Shape)
	if err != nil {
		return "", err
	}
	opts.Shape = s.Name
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s-seed%d-v%d.gguf", opts.Shape, opts.Type, opts.Seed, shapeVersion)
	if opts.Layers > 0 {
		name = fmt.Sprintf("%s-%s-%dlayers-seed%d-v%d.gguf", opts.Shape, opts.Type, opts.Layers, opts.Seed, shapeVersion)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("ggufgen: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("ggufgen: %w", err)
	}
	return path, WriteShape(path, opts)
}
