// Package ggufgen writes GGUF files, and in particular the tiny
// llama-architecture test model that Serval's tests run through llama.cpp
// instead of downloading a real one.
//
// The test model has seeded random f32 weights, a SentencePiece-style
// ("llama") vocabulary made of the 256 byte tokens, control tokens (bos, eos,
// unk, <|endoftext|>, the Qwen-style FIM markers and ChatML markers) and a few
// hundred code fragments, and a ChatML chat template. Its output layer is
// shaped so that greedy decoding always produces visible ASCII text: the rows
// of the output matrix for end-of-generation, control and non-ASCII byte
// tokens are zero (their logits are always 0 while the largest of the other
// random logits is positive), so a completion never ends at once and never
// contains invalid UTF-8. Options.RawBytes turns that off to exercise UTF-8
// handling.
package ggufgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Options shape the test model. The zero value gives the default model.
type Options struct {
	Seed          uint64 // random seed for the weights; the same seed gives the same file
	Name          string // general.name; default "serval-test-tiny"
	Layers        int    // default 2
	Embd          int    // embedding width; default 64 (must be a multiple of Heads)
	Heads         int    // default 4
	ContextLength int    // llama.context_length; default 8192
	// RawBytes keeps random output rows for every byte token, so generation
	// emits arbitrary bytes including invalid UTF-8 runs and split characters
	// (for testing UTF-8 handling). By default only printable ASCII, tab and
	// newline can be generated.
	RawBytes bool
	// NoFIM leaves out the FIM marker tokens (for testing template detection).
	NoFIM bool
	// NoLineBreaks makes every token holding a line break silent, so a
	// completion never meets a code stop word ("\n\n", "\n" + a keyword) and
	// runs to its token budget. Tests that cut a long stream midway use it:
	// with line breaks, where the first stop word falls depends on the CPU's
	// float rounding (ggml's kernels differ between CPUs), and a stream may
	// end before the cut on one machine and not on another.
	NoLineBreaks bool
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "serval-test-tiny"
	}
	if o.Layers <= 0 {
		o.Layers = 2
	}
	if o.Embd <= 0 {
		o.Embd = 64
	}
	if o.Heads <= 0 {
		o.Heads = 4
	}
	if o.ContextLength <= 0 {
		o.ContextLength = 8192
	}
	return o
}

// Token types of llama.cpp's vocabulary (llama_token_type).
const (
	TokenNormal      int32 = 1
	TokenUnknown     int32 = 2
	TokenControl     int32 = 3
	TokenUserDefined int32 = 4
	TokenUnused      int32 = 5
	TokenByte        int32 = 6
)

// Fixed token ids of the test model.
const (
	UnkID = 0
	BOSID = 1
	EOSID = 2
	// FirstByteID is the id of <0x00>; byte b has id FirstByteID+b.
	FirstByteID = 3
)

// Control tokens after the byte tokens, in this order.
var controlTokens = []string{
	"<|endoftext|>",
	"<|fim_prefix|>",
	"<|fim_suffix|>",
	"<|fim_middle|>",
	"<|fim_pad|>",
	"<|im_start|>",
	"<|im_end|>",
}

// ChatTemplate is the model's tokenizer.chat_template (ChatML, as Qwen uses).
const ChatTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// codeFragments are common pieces of source code that become whole tokens.
var codeFragments = strings.Fields(`
func return package import type struct interface map chan range for if else switch case default
break continue defer go select var const nil true false string int int64 uint32 float32 float64 byte rune bool error
def class self None True False elif while lambda yield async await from as with try except finally raise pass print
function let const new this null undefined typeof instanceof export require module console log
public private protected static void final extends implements throws throw catch Object String Integer List
fn mut impl pub use crate struct enum match Some Ok Err Vec Option Result
include define ifdef endif sizeof unsigned char long short double printf malloc free
len append make panic copy delete cap close fmt Println Printf Sprintf Errorf errors strings bytes
ctx context Context err Error value key name data buf result index count size length items list
main init test Test assert t.Fatal t.Errorf := == != <= >= && || ++ -- += -= -> => :: ... ()
{} [] (); {}; "" '' // /* */ # << >>
`)

// indentFragments are whitespace runs that code is full of; '▁' is
// SentencePiece's escaped space.
var indentFragments = []string{"▁", "▁▁", "▁▁▁▁", "▁▁▁▁▁▁▁▁", "\t\t", "\n\t", "\n\t\t", "\n▁▁▁▁", "\n▁▁▁▁▁▁▁▁", "\n\n", "▁=▁", "▁:=▁", "▁{", "▁}", "(){", ")▁{", "},", "\",", "\")"}

// Vocab is the test model's vocabulary: token texts and types, indexed by id.
type Vocab struct {
	Tokens []string
	Types  []int32
	Scores []float32
}

// ID returns the id of the token with this exact text, or -1.
func (v Vocab) ID(text string) int {
	for i, t := range v.Tokens {
		if t == text {
			return i
		}
	}
	return -1
}

// BuildVocab returns the test model's vocabulary.
func BuildVocab(opts Options) Vocab {
	var v Vocab
	add := func(text string, typ int32, score float32) {
		v.Tokens = append(v.Tokens, text)
		v.Types = append(v.Types, typ)
		v.Scores = append(v.Scores, score)
	}
	add("<unk>", TokenUnknown, 0)
	add("<s>", TokenControl, 0)
	add("</s>", TokenControl, 0)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), TokenByte, 0)
	}
	for _, c := range controlTokens {
		if opts.NoFIM && strings.HasPrefix(c, "<|fim_") {
			continue
		}
		add(c, TokenControl, 0)
	}

	// SentencePiece merges adjacent symbols only when their concatenation is a
	// token, so every prefix (of two characters or more) of a fragment is a
	// token too; a leading-space variant of each word fragment lets "▁return"
	// become one token. Longer pieces score higher so they win merges.
	seen := map[string]bool{}
	var pieces []string
	addPiece := func(s string) {
		r := []rune(s)
		for n := 1; n <= len(r); n++ {
			p := string(r[:n])
			if n == 1 && r[0] != '▁' {
				continue // single characters are covered by the byte tokens
			}
			if !seen[p] {
				seen[p] = true
				pieces = append(pieces, p)
			}
		}
	}
	for _, f := range indentFragments {
		addPiece(f)
	}
	for _, f := range codeFragments {
		addPiece(f)
		addPiece("▁" + f)
	}
	sort.SliceStable(pieces, func(i, j int) bool { return pieces[i] < pieces[j] })
	for _, p := range pieces {
		add(p, TokenNormal, float32(len([]rune(p))))
	}
	return v
}

// silent reports whether greedy decoding must never pick token id: control,
// unknown and end-of-generation tokens always; bytes that are not printable
// ASCII, tab or newline unless opts.RawBytes; and any line break with
// opts.NoLineBreaks.
func silent(v Vocab, id int, opts Options) bool {
	switch v.Types[id] {
	case TokenControl, TokenUnknown, TokenUnused:
		return true
	case TokenByte:
		b := id - FirstByteID
		switch {
		case opts.NoLineBreaks && (b == '\n' || b == '\r'):
			return true
		case opts.RawBytes:
			return false
		}
		return !(b == '\n' || b == '\t' || (b >= 0x20 && b < 0x7f))
	}
	return opts.NoLineBreaks && strings.ContainsAny(v.Tokens[id], "\r\n")
}

// Build returns the GGUF content of the test model.
func Build(opts Options) (*File, error) {
	opts = opts.withDefaults()
	if opts.Embd%opts.Heads != 0 {
		return nil, fmt.Errorf("ggufgen: embedding width %d is not a multiple of %d heads", opts.Embd, opts.Heads)
	}
	vocab := BuildVocab(opts)
	nVocab := uint64(len(vocab.Tokens))
	embd := uint64(opts.Embd)
	ff := 2 * embd
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5e7a1))

	normal := func(n uint64, std float64) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
		return d
	}
	ones := func(n uint64) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = 1
		}
		return d
	}

	output := normal(nVocab*embd, 1)
	for id := range vocab.Tokens {
		if silent(vocab, id, opts) {
			clear(output[uint64(id)*embd : uint64(id+1)*embd])
		}
	}

	tensors := []Tensor{
		{Name: "token_embd.weight", Dims: []uint64{embd, nVocab}, Data: normal(nVocab*embd, 1)},
		{Name: "output_norm.weight", Dims: []uint64{embd}, Data: ones(embd)},
		{Name: "output.weight", Dims: []uint64{embd, nVocab}, Data: output},
	}
	w := 1 / math.Sqrt(float64(embd))
	for l := 0; l < opts.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		tensors = append(tensors,
			Tensor{Name: p + "attn_norm.weight", Dims: []uint64{embd}, Data: ones(embd)},
			Tensor{Name: p + "attn_q.weight", Dims: []uint64{embd, embd}, Data: normal(embd*embd, w)},
			Tensor{Name: p + "attn_k.weight", Dims: []uint64{embd, embd}, Data: normal(embd*embd, w)},
			Tensor{Name: p + "attn_v.weight", Dims: []uint64{embd, embd}, Data: normal(embd*embd, w)},
			Tensor{Name: p + "attn_output.weight", Dims: []uint64{embd, embd}, Data: normal(embd*embd, w)},
			Tensor{Name: p + "ffn_norm.weight", Dims: []uint64{embd}, Data: ones(embd)},
			Tensor{Name: p + "ffn_gate.weight", Dims: []uint64{embd, ff}, Data: normal(embd*ff, w)},
			Tensor{Name: p + "ffn_up.weight", Dims: []uint64{embd, ff}, Data: normal(embd*ff, w)},
			Tensor{Name: p + "ffn_down.weight", Dims: []uint64{ff, embd}, Data: normal(ff*embd, 1/math.Sqrt(float64(ff)))},
		)
	}

	m := Llama{
		Name: opts.Name, ContextLength: opts.ContextLength, Embd: int(embd), Layers: opts.Layers,
		FeedForward: int(ff), Heads: opts.Heads, HeadsKV: opts.Heads, RopeBase: 10000, NormEps: 1e-5,
		FileType: 0, // all f32
		Vocab:    vocab, UnkID: UnkID, BOSID: BOSID, EOSID: EOSID,
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

// WriteTestModel writes the test model to path (through a temporary file in
// the same directory, renamed when complete).
func WriteTestModel(path string, opts Options) error {
	f, err := Build(opts)
	if err != nil {
		return err
	}
	return writeFile(path, f)
}

// writeFile writes f to path through a temporary file in the same
// directory, renamed when complete: a killed writer never leaves a partial
// model under the final name.
func writeFile(path string, f *File) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ggufgen-*")
	if err != nil {
		return fmt.Errorf("ggufgen: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := f.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("ggufgen: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("ggufgen: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ggufgen: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("ggufgen: %w", err)
	}
	return nil
}
