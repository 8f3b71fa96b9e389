package ggufgen

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// params counts a file's values (parameters) from its tensors' dims.
func params(f *File) uint64 {
	var n uint64
	for _, t := range f.Tensors {
		n += t.values()
	}
	return n
}

func TestShapesMatchTheRealModels(t *testing.T) {
	// The parameter counts Qwen publishes for Qwen2.5(-Coder)-0.5B and 1.5B.
	for name, want := range map[string]uint64{"qwen2.5-coder-0.5b": 494_032_768, "qwen2.5-coder-1.5b": 1_543_714_304} {
		f, err := BuildShape(ShapeOptions{Shape: name, Type: Q8_0})
		if err != nil {
			t.Fatal(err)
		}
		if got := params(f); got != want {
			t.Errorf("%s: %d parameters, want %d", name, got, want)
		}
		kv := map[string]any{}
		for _, e := range f.KVs {
			kv[e.Key] = e.Value
		}
		if kv["general.architecture"] != "qwen2" || kv["general.file_type"] != uint32(7) || kv["qwen2.attention.head_count_kv"] != uint32(2) {
			t.Errorf("%s: metadata %v", name, kv)
		}
		for _, tn := range f.Tensors {
			if tn.Name == "output.weight" {
				t.Errorf("%s: an output.weight; the real model ties it to token_embd", name)
			}
			if len(tn.Dims) == 2 && tn.Type != Q8_0 || len(tn.Dims) == 1 && tn.Type != F32 {
				t.Errorf("%s: tensor %s %v of type %s", name, tn.Name, tn.Dims, tn.Type)
			}
		}
	}
}

func TestShapeVocab(t *testing.T) {
	v, err := ShapeVocab(151936)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) != 151936 || len(v.Types) != len(v.Tokens) || len(v.Scores) != len(v.Tokens) {
		t.Fatalf("%d tokens, %d types, %d scores", len(v.Tokens), len(v.Types), len(v.Scores))
	}
	seen := map[string]bool{}
	for _, tok := range v.Tokens {
		if seen[tok] {
			t.Fatalf("token %q twice", tok)
		}
		seen[tok] = true
	}
	for _, c := range []string{"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|endoftext|>", "<|repo_name|>", "<|file_sep|>"} {
		if id := v.ID(c); id < 0 || v.Types[id] != TokenControl {
			t.Errorf("%s: id %d", c, id)
		}
	}
	if id := v.ID("▁func"); id < 0 || silent(v, id, Options{}) {
		t.Errorf("▁func: id %d", id)
	}
	if last := len(v.Tokens) - 1; v.Types[last] != TokenUnused || !silent(v, last, Options{}) {
		t.Errorf("last token %q of type %d", v.Tokens[last], v.Types[last])
	}
	if _, err := ShapeVocab(1000); err == nil {
		t.Error("a vocabulary too small for the pieces: no error")
	}
}

func TestUnknownShapeAndType(t *testing.T) {
	if _, err := BuildShape(ShapeOptions{Shape: "qwen2.5-coder-70b"}); err == nil || !strings.Contains(err.Error(), "qwen2.5-coder-0.5b") {
		t.Errorf("unknown shape: %v", err)
	}
	if _, err := CachedShape(ShapeOptions{Shape: "nope"}); err == nil {
		t.Error("CachedShape of an unknown shape: no error")
	}
	if _, err := ParseType("q4_k"); err == nil {
		t.Error("q4_k: no error")
	}
	for s, want := range map[string]TensorType{"q8_0": Q8_0, "F16": F16, "f32": F32} {
		if got, err := ParseType(s); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := BuildShape(ShapeOptions{Shape: "qwen2.5-coder-0.5b", Type: TensorType(12)}); err == nil {
		t.Error("an unsupported tensor type: no error")
	}
}

func TestQ8_0RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4*q8Block)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	clear(x[q8Block : 2*q8Block]) // an all-zero block
	blocks := encodeRow(nil, Q8_0, x)
	if len(blocks) != 4*q8BlockBytes {
		t.Fatalf("%d bytes for 4 blocks", len(blocks))
	}
	got := DequantizeQ8_0(blocks)
	for b := 0; b < 4; b++ {
		d := Float16Value(binary.LittleEndian.Uint16(blocks[b*q8BlockBytes:]))
		for i := b * q8Block; i < (b+1)*q8Block; i++ {
			// Half a step, and what the f16 rounding of the scale adds at 127 steps.
			if diff := math.Abs(float64(got[i] - x[i])); diff > float64(d)*0.5+math.Abs(float64(x[i]))*1e-3 {
				t.Fatalf("value %d: %v decoded as %v (scale %v)", i, x[i], got[i], d)
			}
		}
	}
	if got[q8Block] != 0 || got[2*q8Block-1] != 0 {
		t.Error("the zero block does not decode to zeros")
	}
}

func TestRowsAndDataWriteTheSameTensor(t *testing.T) {
	data := make([]float32, 64*3)
	for i := range data {
		data[i] = float32(i%17) - 8
	}
	for _, typ := range []TensorType{F32, F16, Q8_0} {
		row := 0
		fromRows := File{Tensors: []Tensor{{Name: "w", Dims: []uint64{64, 3}, Type: typ, Rows: func(r []float32) {
			copy(r, data[row*64:])
			row++
		}}}}
		fromData := File{Tensors: []Tensor{{Name: "w", Dims: []uint64{64, 3}, Type: typ, Data: data}}}
		var a, b bytes.Buffer
		if _, err := fromRows.WriteTo(&a); err != nil {
			t.Fatal(err)
		}
		if _, err := fromData.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) || row != 3 {
			t.Errorf("%s: Rows and Data differ (%d rows asked)", typ, row)
		}
	}
	bad := File{Tensors: []Tensor{{Name: "w", Dims: []uint64{48, 2}, Type: Q8_0, Data: make([]float32, 96)}}}
	if _, err := bad.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("rows of 48 values in Q8_0 blocks of 32: no error")
	}
}
