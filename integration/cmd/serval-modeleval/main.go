// Command serval-modeleval measures code models on held-out source through
// the llama.cpp build Serval uses, so that the figures are those of the GGUF
// files Serval serves:
//
//   - single-line fill-in-the-middle exact match: N lines chosen by seed from
//     the held-out files; the cursor is after the line's indentation, the
//     prompt is <|fim_prefix|>prefix<|fim_suffix|>suffix<|fim_middle|> (the
//     "qwen" template) with the prefix and suffix cut to fit, greedy decoding
//     up to the end of the line; exact when the generated line equals the
//     real one (trailing spaces aside);
//
//   - bits per byte of held-out text (comparable across vocabularies) and
//     perplexity per token (the model's own tokens).
//
//     serval-modeleval -heldout heldout.jsonl -model serval-tiny=models/serval-tiny/serval-tiny.gguf \
//     -model random=test.gguf [-n 500] [-seed 1] [-ppl-bytes 60000] [-lib-dir bin/lib/cpu] [-o results.json]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/hybridgroup/yzma/pkg/llama"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serval-modeleval:", err)
		os.Exit(1)
	}
}

type modelFlags []string

func (m *modelFlags) String() string     { return strings.Join(*m, ",") }
func (m *modelFlags) Set(v string) error { *m = append(*m, v); return nil }

// heldOut is one record of the corpus's heldout.jsonl.
type heldOut struct {
	Lang string `json:"lang"`
	Path string `json:"path"`
	Text string `json:"text"`
}

// Case is one single-line FIM task.
type Case struct {
	Lang   string `json:"lang"`
	Path   string `json:"path"`
	Prefix string `json:"-"`
	Suffix string `json:"-"`
	Middle string `json:"middle"`
}

// Result is one model's figures.
type Result struct {
	Model      string             `json:"model"`
	File       string             `json:"file"`
	Cases      int                `json:"cases"`
	ExactMatch map[string]float64 `json:"exact_match"` // by language and "all"
	EditSim    map[string]float64 `json:"edit_similarity"`
	BitsPerB   map[string]float64 `json:"bits_per_byte"`
	Perplexity map[string]float64 `json:"perplexity_per_token"`
	Samples    []Sample           `json:"samples"`
}

// Sample is a generated line next to the real one.
type Sample struct {
	Lang   string `json:"lang"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Exact  bool   `json:"exact"`
	Source string `json:"source"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serval-modeleval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var models modelFlags
	fs.Var(&models, "model", "NAME=FILE.gguf (repeat)")
	heldoutPath := fs.String("heldout", "", "heldout.jsonl of models/serval-tiny/train/corpus.py (required)")
	n := fs.Int("n", 500, "single-line FIM cases")
	seed := fs.Uint64("seed", 1, "seed of the case choice")
	pplBytes := fs.Int("ppl-bytes", 60000, "held-out bytes per language for bits per byte")
	ctxTokens := fs.Int("ctx", 256, "context of a FIM prompt in tokens (prefix and suffix are cut to fit)")
	libDir := fs.String("lib-dir", os.Getenv("SERVAL_LIB_DIR"), "directory of libllama.so")
	out := fs.String("o", "", "write the results as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(models) == 0 || *heldoutPath == "" || *libDir == "" {
		return errors.New("usage: serval-modeleval -heldout F -model NAME=FILE [-model ...] -lib-dir DIR")
	}
	docs, err := readHeldOut(*heldoutPath)
	if err != nil {
		return err
	}
	cases := chooseCases(docs, *n, *seed)
	if err := llama.Load(*libDir); err != nil {
		return fmt.Errorf("loading llama.cpp from %s: %w", *libDir, err)
	}
	llama.LogSet(llama.LogSilent())
	llama.Init()

	var results []Result
	for _, m := range models {
		name, file, ok := strings.Cut(m, "=")
		if !ok {
			return fmt.Errorf("-model %q: want NAME=FILE", m)
		}
		r, err := evaluate(name, file, cases, docs, *pplBytes, *ctxTokens)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	writeTable(stdout, results)
	if *out != "" {
		b, _ := json.MarshalIndent(results, "", " ")
		return os.WriteFile(*out, b, 0o644)
	}
	return nil
}

func readHeldOut(path string) ([]heldOut, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var docs []heldOut
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var d heldOut
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		docs = append(docs, d)
	}
	return docs, sc.Err()
}

// chooseCases picks n lines with at least 4 visible characters, in
// proportion 7:3 from Go and Python files, by seed.
func chooseCases(docs []heldOut, n int, seed uint64) []Case {
	rng := rand.New(rand.NewPCG(seed, 17))
	byLang := map[string][]heldOut{}
	for _, d := range docs {
		byLang[d.Lang] = append(byLang[d.Lang], d)
	}
	var cases []Case
	for _, share := range []struct {
		lang string
		n    int
	}{{"go", n * 7 / 10}, {"python", n - n*7/10}} {
		pool := byLang[share.lang]
		for tries := 0; len(pool) > 0 && tries < 100*share.n && countLang(cases, share.lang) < share.n; tries++ {
			d := pool[rng.IntN(len(pool))]
			lines := strings.SplitAfter(d.Text, "\n")
			i := rng.IntN(len(lines))
			line := strings.TrimRight(lines[i], "\n")
			body := strings.TrimLeft(line, " \t")
			if len(strings.TrimSpace(body)) < 4 {
				continue
			}
			start := 0
			for _, l := range lines[:i] {
				start += len(l)
			}
			indent := len(line) - len(body)
			cut := start + indent
			cases = append(cases, Case{Lang: d.Lang, Path: d.Path, Prefix: d.Text[:cut],
				Middle: strings.TrimRight(body, " \t\r"), Suffix: d.Text[start+len(line):]})
		}
	}
	return cases
}

func countLang(cases []Case, lang string) int {
	k := 0
	for _, c := range cases {
		if c.Lang == lang {
			k++
		}
	}
	return k
}

func evaluate(name, file string, cases []Case, docs []heldOut, pplBytes, ctxTokens int) (Result, error) {
	mp := llama.ModelDefaultParams()
	mp.SetCPUOnly()
	model, err := llama.ModelLoadFromFile(file, mp)
	if err != nil || model == 0 {
		return Result{}, fmt.Errorf("loading %s: %v", file, err)
	}
	defer llama.ModelFree(model)
	vocab := llama.ModelGetVocab(model)
	cp := llama.ContextDefaultParams()
	cp.NCtx, cp.NBatch, cp.NUbatch = 1024, 1024, 1024
	cp.NThreads, cp.NThreadsBatch = 1, 1
	lctx, err := llama.InitFromModel(model, cp)
	if err != nil || lctx == 0 {
		return Result{}, fmt.Errorf("context: %v", err)
	}
	defer llama.Free(lctx)
	mem, err := llama.GetMemory(lctx)
	if err != nil {
		return Result{}, err
	}
	nVocab := int(llama.VocabNTokens(vocab))
	tok := func(s string) []llama.Token { return llama.Tokenize(vocab, s, false, false) }
	special := func(s string) llama.Token { return llama.Tokenize(vocab, s, false, true)[0] }
	pre, suf, mid := special("<|fim_prefix|>"), special("<|fim_suffix|>"), special("<|fim_middle|>")
	buf := make([]byte, 256)

	r := Result{Model: name, File: file, Cases: len(cases), ExactMatch: map[string]float64{}, EditSim: map[string]float64{},
		BitsPerB: map[string]float64{}, Perplexity: map[string]float64{}}
	count := map[string]float64{}
	for ci, c := range cases {
		ps, ss := tok(c.Prefix), tok(c.Suffix)
		maxSuffix := ctxTokens / 4
		if len(ss) > maxSuffix {
			ss = ss[:maxSuffix]
		}
		room := ctxTokens - 3 - len(ss) - 48
		if len(ps) > room {
			ps = ps[len(ps)-room:]
		}
		prompt := append(append(append(append([]llama.Token{pre}, ps...), suf), ss...), mid)
		llama.MemoryClear(mem, true)
		batch := llama.BatchGetOne(prompt)
		var got []byte
		for step := 0; step < 48; step++ {
			if rc, err := llama.Decode(lctx, batch); err != nil || rc != 0 {
				return r, fmt.Errorf("decode: rc %d, %v", rc, err)
			}
			logits, err := llama.GetLogitsIth(lctx, -1, nVocab)
			if err != nil {
				return r, err
			}
			next := argmax(logits)
			if llama.VocabIsEOG(vocab, next) {
				break
			}
			k := llama.TokenToPiece(vocab, next, buf, 0, false)
			got = append(got, buf[:k]...)
			if strings.Contains(string(got), "\n") {
				break
			}
			batch = llama.BatchGetOne([]llama.Token{next})
		}
		line, _, _ := strings.Cut(string(got), "\n")
		line = strings.TrimRight(line, " \t\r")
		exact := line == c.Middle
		sim := editSimilarity(line, c.Middle)
		for _, k := range []string{c.Lang, "all"} {
			count[k]++
			r.EditSim[k] += sim
			if exact {
				r.ExactMatch[k]++
			}
		}
		if ci%25 == 0 {
			r.Samples = append(r.Samples, Sample{Lang: c.Lang, Want: c.Middle, Got: line, Exact: exact, Source: c.Path})
		}
	}
	for k, v := range count {
		r.ExactMatch[k] /= v
		r.EditSim[k] /= v
	}

	// Bits per byte: windows of ctx tokens over the held-out files of each
	// language, every token predicted from the ones before it in its window.
	langs := map[string][]heldOut{}
	for _, d := range docs {
		langs[d.Lang] = append(langs[d.Lang], d)
	}
	for lang, ds := range langs {
		var nll float64
		var tokens, nbytes int
		for _, d := range ds {
			if nbytes >= pplBytes {
				break
			}
			text := d.Text
			if len(text) > pplBytes-nbytes {
				text = text[:pplBytes-nbytes]
			}
			ids := tok(text)
			for s := 0; s+1 < len(ids); s += ctxTokens - 1 {
				w := ids[s:min(len(ids), s+ctxTokens)]
				llama.MemoryClear(mem, true)
				b := llama.BatchInit(int32(len(w)), 0, 1)
				for i, id := range w {
					b.Add(id, llama.Pos(i), []llama.SeqId{0}, true)
				}
				if rc, err := llama.Decode(lctx, b); err != nil || rc != 0 {
					llama.BatchFree(b)
					return r, fmt.Errorf("decode: rc %d, %v", rc, err)
				}
				for i := 0; i+1 < len(w); i++ {
					logits, err := llama.GetLogitsIth(lctx, int32(i), nVocab)
					if err != nil {
						llama.BatchFree(b)
						return r, err
					}
					nll += logSumExp(logits) - float64(logits[w[i+1]])
					tokens++
				}
				llama.BatchFree(b)
			}
			// The first token of each window has no prediction: count the
			// bytes of the predicted tokens only.
			for s := 0; s < len(ids); s++ {
				if s%(ctxTokens-1) == 0 {
					continue
				}
				k := llama.TokenToPiece(vocab, ids[s], buf, 0, false)
				nbytes += int(k)
			}
		}
		if tokens > 0 && nbytes > 0 {
			r.BitsPerB[lang] = nll / math.Ln2 / float64(nbytes)
			r.Perplexity[lang] = math.Exp(nll / float64(tokens))
		}
	}
	return r, nil
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

func logSumExp(v []float32) float64 {
	m := float64(v[0])
	for _, x := range v {
		m = math.Max(m, float64(x))
	}
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}

// editSimilarity is 1 - Levenshtein/max length over runes (as serval-bench).
func editSimilarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 && len(rb) == 0 {
		return 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(max(len(ra), len(rb)))
}

func writeTable(w io.Writer, results []Result) {
	fmt.Fprintf(w, "| model | cases | FIM exact match (go / python / all) | edit similarity (all) | bits per byte (go / python) | perplexity per token (go / python) |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %.3f / %.3f / %.3f | %.3f | %.3f / %.3f | %.1f / %.1f |\n", r.Model, r.Cases,
			r.ExactMatch["go"], r.ExactMatch["python"], r.ExactMatch["all"], r.EditSim["all"],
			r.BitsPerB["go"], r.BitsPerB["python"], r.Perplexity["go"], r.Perplexity["python"])
	}
	for _, r := range results {
		fmt.Fprintf(w, "\n%s samples:\n", r.Model)
		sort.SliceStable(r.Samples, func(i, j int) bool { return r.Samples[i].Lang < r.Samples[j].Lang })
		for _, s := range r.Samples {
			fmt.Fprintf(w, "  %-6s exact=%-5v want %q\n                      got  %q\n", s.Lang, s.Exact, s.Want, s.Got)
		}
	}
}
