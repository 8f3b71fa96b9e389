package ggufgen

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func build(t *testing.T, opts Options) []byte {
	t.Helper()
	f, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestHeader(t *testing.T) {
	b := build(t, Options{})
	if string(b[:4]) != "GGUF" {
		t.Fatalf("magic %q", b[:4])
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != 3 {
		t.Errorf("version %d, want 3", v)
	}
	f, _ := Build(Options{})
	if n := binary.LittleEndian.Uint64(b[8:]); n != uint64(len(f.Tensors)) {
		t.Errorf("tensor count %d, want %d", n, len(f.Tensors))
	}
	if n := binary.LittleEndian.Uint64(b[16:]); n != uint64(len(f.KVs)) {
		t.Errorf("kv count %d, want %d", n, len(f.KVs))
	}
	if len(b)%Alignment != 0 {
		t.Errorf("file length %d not aligned to %d", len(b), Alignment)
	}
}

func TestDeterministicForSeed(t *testing.T) {
	a, b := build(t, Options{Seed: 7}), build(t, Options{Seed: 7})
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different files")
	}
	if c := build(t, Options{Seed: 8}); bytes.Equal(a, c) {
		t.Error("different seeds gave the same file")
	}
}

func TestVocab(t *testing.T) {
	v := BuildVocab(Options{})
	if v.Tokens[FirstByteID] != "<0x00>" || v.Tokens[FirstByteID+255] != "<0xFF>" || v.Types[FirstByteID+65] != TokenByte {
		t.Error("byte tokens not at their fixed ids")
	}
	for _, c := range []string{"<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|im_start|>", "<|im_end|>"} {
		id := v.ID(c)
		if id < 0 || v.Types[id] != TokenControl {
			t.Errorf("control token %s missing", c)
		}
	}
	seen := map[string]bool{}
	for _, tok := range v.Tokens {
		if seen[tok] {
			t.Errorf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
	// Every multi-character piece needs its prefix to be reachable by SentencePiece merges.
	for id, tok := range v.Tokens {
		r := []rune(tok)
		if v.Types[id] == TokenNormal && len(r) > 2 && !seen[string(r[:len(r)-1])] {
			t.Errorf("token %q has no prefix token", tok)
		}
	}
	if len(v.Tokens) < 256+300 {
		t.Errorf("vocabulary of %d tokens, want a few hundred code fragments", len(v.Tokens))
	}
	if v.ID("<|fim_prefix|>") < 0 || BuildVocab(Options{NoFIM: true}).ID("<|fim_prefix|>") >= 0 {
		t.Error("NoFIM does not drop the FIM markers")
	}
}

func TestOutputRowsOfSilentTokensAreZero(t *testing.T) {
	f, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := BuildVocab(Options{})
	var out Tensor
	for _, tn := range f.Tensors {
		if tn.Name == "output.weight" {
			out = tn
		}
	}
	embd := int(out.Dims[0])
	isZero := func(id int) bool {
		for _, x := range out.Data[id*embd : (id+1)*embd] {
			if x != 0 {
				return false
			}
		}
		return true
	}
	for _, id := range []int{UnkID, BOSID, EOSID, v.ID("<|endoftext|>"), v.ID("<|fim_middle|>"), FirstByteID + 0x80, FirstByteID + 0xff, FirstByteID} {
		if !isZero(id) {
			t.Errorf("output row of %q is not zero", v.Tokens[id])
		}
	}
	for _, id := range []int{FirstByteID + 'a', FirstByteID + '\n', v.ID("return")} {
		if isZero(id) {
			t.Errorf("output row of %q is zero", v.Tokens[id])
		}
	}
	oneLine, _ := Build(Options{NoLineBreaks: true})
	for _, tn := range oneLine.Tensors {
		if tn.Name != "output.weight" {
			continue
		}
		for _, id := range []int{FirstByteID + '\n', FirstByteID + '\r', v.ID("\n\n"), v.ID("\n\t")} {
			if slices.ContainsFunc(tn.Data[id*embd:(id+1)*embd], func(x float32) bool { return x != 0 }) {
				t.Errorf("NoLineBreaks: output row of %q is not zero", v.Tokens[id])
			}
		}
		if id := v.ID("▁return"); !slices.ContainsFunc(tn.Data[id*embd:(id+1)*embd], func(x float32) bool { return x != 0 }) {
			t.Error("NoLineBreaks silenced \"▁return\"")
		}
	}
	raw, _ := Build(Options{RawBytes: true})
	for _, tn := range raw.Tensors {
		if tn.Name == "output.weight" && tn.Data[(FirstByteID+0x80)*embd] == 0 {
			t.Error("RawBytes left the row of <0x80> zero")
		}
	}
}

func TestWriteTestModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteTestModel(path, Options{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, build(t, Options{Seed: 3})) {
		t.Error("file differs from Build's content")
	}
	if err := WriteTestModel(filepath.Join(t.TempDir(), "no", "such", "dir.gguf"), Options{}); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if _, err := Build(Options{Embd: 10, Heads: 4}); err == nil {
		t.Error("an embedding width not divisible by the heads was accepted")
	}
}

func TestUnsupportedValueType(t *testing.T) {
	f := &File{KVs: []KV{{"x", struct{}{}}}}
	if _, err := f.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("unsupported metadata type accepted")
	}
}

func TestFloat16RoundTrip(t *testing.T) {
	for _, c := range []struct {
		in   float32
		bits uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e6, 0x7c00},
		{6.103515625e-05, 0x0400}, {5.960464477539063e-08, 0x0001}, {1e-9, 0},
		{1.0009765625, 0x3c01}, {1.00048828125, 0x3c00}, // a tie rounds to even
	} {
		if got := Float16Bits(c.in); got != c.bits {
			t.Errorf("Float16Bits(%g) = %#04x, want %#04x", c.in, got, c.bits)
		}
	}
	for h := 0; h < 0x7c00; h++ { // every finite positive half survives a round trip
		if got := Float16Bits(Float16Value(uint16(h))); got != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, Float16Value(uint16(h)), got)
		}
	}
}

func TestF16TensorLayout(t *testing.T) {
	f := &File{Tensors: []Tensor{
		{Name: "a", Dims: []uint64{3}, Data: []float32{1, -2, 0.5}, Type: F16},
		{Name: "b", Dims: []uint64{1}, Data: []float32{7}},
	}}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// The data section is the last aligned 64 bytes: a (6 bytes, padded to 32), then b.
	data := b[len(b)-64:]
	for i, want := range []uint16{0x3c00, 0xc000, 0x3800} {
		if got := binary.LittleEndian.Uint16(data[2*i:]); got != want {
			t.Errorf("a[%d] = %#04x, want %#04x", i, got, want)
		}
	}
	if got := binary.LittleEndian.Uint32(data[32:]); got != 0x40e00000 {
		t.Errorf("b = %#08x, want 7.0f", got)
	}
	bad := &File{Tensors: []Tensor{{Name: "q", Dims: []uint64{1}, Data: []float32{1}, Type: 8}}}
	if _, err := bad.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("an unsupported tensor type was written")
	}
}
