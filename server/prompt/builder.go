package prompt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/servalhq/serval/server/engine"
)

// Defaults of Config fields left at zero.
const (
	DefaultContextSize     = 2048
	DefaultMaxOutputTokens = 64 // Tabby's default
	// DefaultCutStride is the mean spacing, in lines, of the anchor lines the
	// prefix may be cut at (see Config.CutStride).
	DefaultCutStride = 8
	// minPromptBudget is the least room for prefix, suffix and snippets a
	// configuration must leave.
	minPromptBudget = 16
)

// Config configures a Builder.
type Config struct {
	// Template is the FIM format; the zero Template means "qwen".
	// Get one from LookupTemplate, ParseTemplate or ChooseTemplate (a
	// Template with only Name, Format and SpecialTokens set works too).
	Template Template
	// ContextSize is the engine's context length in tokens (0: DefaultContextSize).
	ContextSize int
	// MaxOutputTokens is the default generation budget (0: DefaultMaxOutputTokens);
	// a request's max_tokens overrides it, up to half the context.
	MaxOutputTokens int
	// Tokenizer counts tokens exactly. Nil means estimate: one token per
	// three bytes, rounded up per piece, which over-counts typical code.
	Tokenizer engine.Tokenizer
	// MaxPrefixTokens caps the prefix (0: whatever the suffix and snippets leave).
	MaxPrefixTokens int
	// MaxSuffixTokens caps the suffix (0: an eighth of the budget, about
	// the 20 lines tabby-agent sends at a 2,048-token context). In
	// prefix-suffix-middle templates the whole suffix follows the text being
	// typed, so the engine evaluates it again at every keystroke: a short
	// suffix is a latency lever on CPU.
	MaxSuffixTokens int
	// MaxSnippetTokens caps the snippets (0: a quarter of the budget).
	MaxSnippetTokens int
	// CutStride is the mean spacing in lines of the anchor lines at which an
	// over-long prefix is cut (0: DefaultCutStride; 1: cut at the first line
	// that fits). Anchors are chosen by the lines' content, so the same lines
	// stay anchors while the user types and the prompt's start stays put
	// until the budget overflows past the anchor.
	CutStride int
}

// Builder builds prompts for one model and configuration. It is safe for
// concurrent use if its Tokenizer is.
type Builder struct {
	cfg      Config
	count    func(string) int
	overhead int // tokens of the template with empty prefix and suffix

	// reserve is kept free of the budget for tokens that joining the
	// separately counted pieces might add (exact tokenizers only).
	reserve int

	// pieceTokens caches the token counts of pieces of text (see
	// countText): consecutive requests share almost all their lines, and
	// tokenizer calls would otherwise dominate the time of a long prefix.
	pieceMu     sync.Mutex
	pieceTokens map[string]int
}

// maxBytesPerToken bounds the bytes one token can stand for (long runs of
// spaces are single tokens in some vocabularies); text longer than
// maxBytesPerToken times a budget cannot fit in it.
const maxBytesPerToken = 32

// maxCachedPieces bounds Builder.pieceTokens; when full it starts over.
const maxCachedPieces = 1 << 14

// pieceBytes is the longest piece countText hands to the tokenizer: llama.cpp
// tokenizes in time that grows faster than the length (6 KB took 12 ms,
// 800 bytes 0.4 ms, 40 bytes 27 µs with a 32,000-token SentencePiece
// vocabulary), and short pieces repeat from one request to the next.
const pieceBytes = 128

// countText counts the tokens of s as the sum of its pieces: its lines,
// with lines longer than pieceBytes split at character boundaries.
func (b *Builder) countText(s string) int {
	n := 0
	for piece := range pieces(s) {
		n += b.countPiece(piece)
	}
	return n
}

// countPiece counts one piece's tokens, through the cache when counting is
// exact (the estimate is cheaper than a map lookup).
func (b *Builder) countPiece(piece string) int {
	if b.cfg.Tokenizer == nil {
		return b.count(piece)
	}
	b.pieceMu.Lock()
	n, ok := b.pieceTokens[piece]
	b.pieceMu.Unlock()
	if ok {
		return n
	}
	n = b.count(piece)
	b.pieceMu.Lock()
	if len(b.pieceTokens) >= maxCachedPieces {
		clear(b.pieceTokens)
	}
	b.pieceTokens[strings.Clone(piece)] = n
	b.pieceMu.Unlock()
	return n
}

// Prompt is a finished prompt and what went into it.
type Prompt struct {
	// Text is the model input, template applied.
	Text string
	// Stop are the stop words to apply to the generated text.
	Stop []string
	// MaxTokens is the generation budget the prompt was sized for.
	MaxTokens int
	// Language is the resolved VS Code language id ("unknown" when not recognised).
	Language string
	// Snippets are the context snippets included, declarations first, in the
	// order they appear in Text.
	Snippets []Snippet
	// Token counts of each part: with a Tokenizer, the sum of the exact
	// counts of its lines (the engine's count of the joined text is the
	// same or a little lower); without, an estimate that over-counts.
	PrefixTokens, SuffixTokens, SnippetTokens, TotalTokens int
	// PrefixTruncated and SuffixTruncated report whether the budget cut them.
	PrefixTruncated, SuffixTruncated bool
	// Raw is true when the prompt came from debug_options.raw_prompt.
	Raw bool
}

// FieldError is a problem with one field of the request; the HTTP layer
// answers 400 with its message.
type FieldError struct {
	Field  string // JSON path, for example "segments.prefix"
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// NewBuilder checks cfg and returns a Builder.
func NewBuilder(cfg Config) (*Builder, error) {
	switch {
	case !cfg.Template.IsZero():
	case cfg.Template.Format != "":
		// A Template built by hand rather than by LookupTemplate or ParseTemplate.
		t, err := newTemplate(cfg.Template.Name, cfg.Template.Format, cfg.Template.SpecialTokens)
		if err != nil {
			return nil, err
		}
		cfg.Template = t
	default:
		cfg.Template, _ = LookupTemplate("qwen")
	}
	if cfg.ContextSize == 0 {
		cfg.ContextSize = DefaultContextSize
	}
	if cfg.MaxOutputTokens == 0 {
		cfg.MaxOutputTokens = DefaultMaxOutputTokens
	}
	if cfg.CutStride <= 0 {
		cfg.CutStride = DefaultCutStride
	}
	if cfg.ContextSize < 0 || cfg.MaxOutputTokens < 0 || cfg.MaxPrefixTokens < 0 || cfg.MaxSuffixTokens < 0 || cfg.MaxSnippetTokens < 0 {
		return nil, fmt.Errorf("prompt: negative size in config %+v", cfg)
	}
	b := &Builder{cfg: cfg, count: estimateTokens, pieceTokens: make(map[string]int)}
	if cfg.Tokenizer != nil {
		b.count = cfg.Tokenizer.CountTokens
		b.reserve = 2 + (cfg.ContextSize-cfg.MaxOutputTokens)/64
	}
	b.overhead = b.count(cfg.Template.Render("", ""))
	if free := cfg.ContextSize - cfg.MaxOutputTokens - b.overhead - b.reserve; free < minPromptBudget {
		return nil, fmt.Errorf("prompt: context size %d leaves %d tokens for the prompt after %d output tokens and the %q template; need at least %d",
			cfg.ContextSize, free, cfg.MaxOutputTokens, cfg.Template.Name, minPromptBudget)
	}
	return b, nil
}

// estimateTokens over-counts: code averages three to four bytes per token.
func estimateTokens(s string) int { return (len(s) + 2) / 3 }

// Template returns the builder's template.
func (b *Builder) Template() Template { return b.cfg.Template }

// Build makes the prompt for req. Over-long input is cut to the budget,
// never rejected; the only errors are *FieldError values for a nil request
// or a raw_prompt too long for the context.
func (b *Builder) Build(req *Request) (Prompt, error) {
	if req == nil {
		return Prompt{}, &FieldError{Field: "segments.prefix", Reason: "required (empty request)"}
	}
	l := LookupLanguage(req.Language, req.Filepath)
	p := Prompt{
		Stop:      stopWords(l, b.cfg.Template),
		MaxTokens: b.maxTokens(req.MaxTokens),
		Language:  l.ID,
	}
	budget := b.cfg.ContextSize - p.MaxTokens

	if req.RawPrompt != "" {
		p.Text, p.Raw = req.RawPrompt, true
		p.TotalTokens = b.countText(p.Text)
		if p.TotalTokens > budget {
			return Prompt{}, &FieldError{Field: "debug_options.raw_prompt",
				Reason: fmt.Sprintf("%d tokens, over the %d the context leaves after %d output tokens", p.TotalTokens, budget, p.MaxTokens)}
		}
		return p, nil
	}
	if strings.Contains(req.Prefix, "\r\n") || strings.Contains(req.Suffix, "\r\n") {
		p.Stop = withCRLF(p.Stop)
	}

	free := budget - b.overhead
	suffixCap := configuredOr(b.cfg.MaxSuffixTokens, free/8)
	snippetCap := configuredOr(b.cfg.MaxSnippetTokens, free/4)
	if req.MaxPromptTokens > 0 && req.MaxPromptTokens < free {
		free = req.MaxPromptTokens
		suffixCap, snippetCap = min(suffixCap, free/8), min(snippetCap, free/4)
	}
	var snippets []candidate
	if !req.NoSnippets {
		snippets = prioritized(req)
	}

	// Every count is a sum over short pieces (see countText). Pieces counted
	// alone cannot merge across their boundaries, so for the vocabularies
	// tried the sum is at least the count of the joined text (checked with
	// llama.cpp in TestBuildFitsRealTokenizer); the reserve covers a
	// vocabulary where a join costs a token.
	free -= b.reserve
	suffix, suffixTokens, suffixCut := keepHead(req.Suffix, min(suffixCap, free), b.countText)
	block, included, snippetTokens := b.snippetBlock(l, snippets, min(snippetCap, free-suffixTokens))
	prefixBudget := max(0, free-suffixTokens-snippetTokens)
	if b.cfg.MaxPrefixTokens > 0 {
		prefixBudget = min(prefixBudget, b.cfg.MaxPrefixTokens)
	}
	prefix, prefixTokens, prefixCut := keepTail(req.Prefix, prefixBudget, b.cfg.CutStride, b.countText)

	p.Text = b.cfg.Template.Render(block+prefix, suffix)
	p.Snippets, p.SnippetTokens = included, snippetTokens
	p.PrefixTokens, p.SuffixTokens = prefixTokens, suffixTokens
	p.PrefixTruncated, p.SuffixTruncated = prefixCut, suffixCut
	p.TotalTokens = b.overhead + snippetTokens + prefixTokens + suffixTokens
	return p, nil
}

// maxTokens is the request's output budget, clamped to half the context and
// to what leaves the prompt its minimum room.
func (b *Builder) maxTokens(requested int) int {
	if requested <= 0 {
		return b.cfg.MaxOutputTokens
	}
	limit := min(b.cfg.ContextSize/2, b.cfg.ContextSize-b.overhead-b.reserve-minPromptBudget)
	return max(1, min(requested, limit))
}

func configuredOr(configured, fallback int) int {
	if configured > 0 {
		return configured
	}
	return fallback
}

// candidate is a context snippet and its priority group: 0 declarations,
// 1 snippets from changed files, 2 from recently opened files.
type candidate struct {
	Snippet
	group int
}

// prioritized lists the request's context in priority order: declarations,
// snippets from changed files, snippets from recently opened files. Empty
// bodies and exact repeats are left out.
func prioritized(req *Request) []candidate {
	var out []candidate
	seen := make(map[Snippet]bool)
	add := func(s Snippet, group int) {
		key := Snippet{Filepath: s.Filepath, Body: s.Body}
		if strings.TrimSpace(s.Body) == "" || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, candidate{s, group})
	}
	for _, d := range req.Declarations {
		add(Snippet{Filepath: d.Filepath, Body: d.Body}, 0)
	}
	for _, s := range req.ChangedSnippets {
		add(s, 1)
	}
	for _, s := range req.OpenedSnippets {
		add(s, 2)
	}
	return out
}

// snippetBlock writes snippets as comments of the language, each a
// "Path: <filepath>" line and the body, followed by a blank line. Snippets
// are chosen whole in priority order; one that does not fit what is left of
// budget is skipped, and a smaller one after it may still fit. The chosen
// ones are written by group, and within a group by file path and body, not
// in the client's order: agents re-rank snippets as the user types, and the
// same set written the same way keeps the prompt's start, and so the
// engine's prompt cache, intact.
func (b *Builder) snippetBlock(l Language, snippets []candidate, budget int) (string, []Snippet, int) {
	type chosen struct {
		candidate
		text string
	}
	var picked []chosen
	used := 0
	for _, s := range snippets {
		if used >= budget {
			break
		}
		if len(s.Body) > maxBytesPerToken*(budget-used) {
			continue // cannot fit: skip without formatting and counting it
		}
		text := strings.TrimRight(s.Body, "\n")
		if s.Filepath != "" {
			text = "Path: " + s.Filepath + "\n" + text
		}
		text = l.Comment(text) + "\n"
		cost := b.countText(text)
		if used+cost > budget {
			continue
		}
		picked = append(picked, chosen{s, text})
		used += cost
	}
	slices.SortStableFunc(picked, func(x, y chosen) int {
		return cmp.Or(cmp.Compare(x.group, y.group), cmp.Compare(x.Filepath, y.Filepath), cmp.Compare(x.Body, y.Body))
	})
	var block strings.Builder
	included := make([]Snippet, 0, len(picked))
	for _, c := range picked {
		block.WriteString(c.text)
		included = append(included, c.Snippet)
	}
	return block.String(), included, used
}
