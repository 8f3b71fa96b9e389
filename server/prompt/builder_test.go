package prompt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// byteTokenizer counts one token per byte, like the project's byte-vocabulary
// test model: the least favourable tokenizer for a budget.
type byteTokenizer struct{}

func (byteTokenizer) CountTokens(s string) int { return len(s) }

func newTestBuilder(t testing.TB, cfg Config) *Builder {
	t.Helper()
	b, err := NewBuilder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func completion(lang, prefix, suffix string) *Request {
	return &Request{Language: lang, Prefix: prefix, Suffix: suffix}
}

func TestBuildSmallPromptIsVerbatim(t *testing.T) {
	b := newTestBuilder(t, Config{})
	p, err := b.Build(completion("go", "func add(a, b int) int {\n\treturn ", "\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "<|fim_prefix|>func add(a, b int) int {\n\treturn <|fim_suffix|>\n}\n<|fim_middle|>"
	if p.Text != want {
		t.Errorf("Text = %q, want %q", p.Text, want)
	}
	if p.PrefixTruncated || p.SuffixTruncated || p.MaxTokens != DefaultMaxOutputTokens || p.Language != "go" {
		t.Errorf("prompt = %+v", p)
	}
	if !contains(p.Stop, "\nfunc") || !contains(p.Stop, "<|fim_middle|>") {
		t.Errorf("Stop = %q", p.Stop)
	}
}

func TestBuildMissingPrefix(t *testing.T) {
	b := newTestBuilder(t, Config{})
	_, err := b.Build(nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "segments.prefix" {
		t.Errorf("Build(nil) error = %v, want a FieldError for segments.prefix", err)
	}
}

func TestBuildRawPrompt(t *testing.T) {
	b := newTestBuilder(t, Config{ContextSize: 256, MaxOutputTokens: 16, Tokenizer: byteTokenizer{}})
	req := completion("python", "ignored", "ignored")
	req.RawPrompt = "def f():"
	p, err := b.Build(req)
	if err != nil || p.Text != "def f():" || !p.Raw || !contains(p.Stop, "\ndef") {
		t.Fatalf("Build = %+v, %v", p, err)
	}
	req.RawPrompt = strings.Repeat("x", 300)
	_, err = b.Build(req)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "debug_options.raw_prompt" {
		t.Errorf("over-long raw prompt: error = %v", err)
	}
}

func numberedLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "\tline_number_%04d := compute(%d)\n", i, i)
	}
	return b.String()
}

func TestBuildLongPrefixAndSuffixAreCutNotRejected(t *testing.T) {
	for _, tmplName := range TemplateNames() {
		tmpl, _ := LookupTemplate(tmplName)
		for _, tok := range []struct {
			name string
			cfg  Config
		}{
			{"estimate", Config{Template: tmpl, ContextSize: 512, MaxOutputTokens: 64}},
			{"bytes", Config{Template: tmpl, ContextSize: 512, MaxOutputTokens: 64, Tokenizer: byteTokenizer{}}},
		} {
			b := newTestBuilder(t, tok.cfg)
			prefix := numberedLines(0, 2000) + "\tcursor_line := "
			suffix := "// after cursor\n" + numberedLines(2000, 4000)
			p, err := b.Build(completion("go", prefix, suffix))
			if err != nil {
				t.Fatalf("%s/%s: %v", tmplName, tok.name, err)
			}
			if !p.PrefixTruncated || !p.SuffixTruncated {
				t.Errorf("%s/%s: not truncated: %+v", tmplName, tok.name, p)
			}
			if p.TotalTokens > 512-64 {
				t.Errorf("%s/%s: %d tokens, over the budget", tmplName, tok.name, p.TotalTokens)
			}
			// The template is intact: rendering what was kept gives the text.
			assertTemplateIntact(t, tmpl, p.Text)
			// The end of the prefix (the cursor's line) and the start of the suffix are kept.
			if !strings.Contains(p.Text, "compute(1999)\n\tcursor_line := ") {
				t.Errorf("%s/%s: the end of the prefix is missing", tmplName, tok.name)
			}
			if !strings.Contains(p.Text, "// after cursor\n") {
				t.Errorf("%s/%s: the start of the suffix is missing", tmplName, tok.name)
			}
			// Cut at line boundaries: the kept prefix starts a line of the input.
			kept := betweenMarkers(tmpl, p.Text, "prefix")
			if !strings.HasPrefix(kept, "\tline_number_") {
				t.Errorf("%s/%s: prefix cut mid-line: %.40q", tmplName, tok.name, kept)
			}
		}
	}
}

// assertTemplateIntact checks that every literal piece of the template
// appears in text, in order.
func assertTemplateIntact(t *testing.T, tmpl Template, text string) {
	t.Helper()
	rest := text
	for _, part := range tmpl.parts {
		if part.placeholder != "" {
			continue
		}
		i := strings.Index(rest, part.literal)
		if i < 0 {
			t.Fatalf("template piece %q missing or out of order in %.80q", part.literal, text)
		}
		rest = rest[i+len(part.literal):]
	}
	if !strings.HasPrefix(text, tmpl.parts[0].literal) {
		t.Fatalf("prompt does not start with the template's first piece: %.40q", text)
	}
}

// betweenMarkers returns the text rendered for a placeholder, assuming the
// user text does not contain the template's literal pieces.
func betweenMarkers(tmpl Template, text, placeholder string) string {
	pos := 0
	for i, part := range tmpl.parts {
		if part.placeholder == "" {
			pos += strings.Index(text[pos:], part.literal) + len(part.literal)
			continue
		}
		end := len(text)
		if i+1 < len(tmpl.parts) {
			end = pos + strings.Index(text[pos:], tmpl.parts[i+1].literal)
		}
		if part.placeholder == placeholder {
			return text[pos:end]
		}
		pos = end
	}
	return ""
}

func TestBuildSingleHugeLine(t *testing.T) {
	b := newTestBuilder(t, Config{ContextSize: 300, MaxOutputTokens: 44, Tokenizer: byteTokenizer{}})
	prefix := strings.Repeat("é", 5000) + "END"
	suffix := "START" + strings.Repeat("ü", 5000)
	p, err := b.Build(completion("", prefix, suffix))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(p.Text) {
		t.Fatal("prompt is not valid UTF-8")
	}
	if p.TotalTokens > 256 || !strings.Contains(p.Text, "éEND<|fim_suffix|>START") {
		t.Errorf("tokens %d, text %q", p.TotalTokens, p.Text)
	}
}

func TestBuildSnippetsPriorityAndFormat(t *testing.T) {
	req := &Request{
		Prefix:   "def main():\n    ",
		Filepath: "app/main.py",
		Declarations: []Snippet{
			{Filepath: "lib/util.py", Body: "def helper(x):\n    return x * 2"},
		},
		ChangedSnippets: []Snippet{
			{Filepath: "lib/changed.py", Body: "CHANGED = True", Score: 0.9},
		},
		OpenedSnippets: []Snippet{
			{Filepath: "lib/opened.py", Body: "OPENED = " + strings.Repeat("1", 400), Score: 0.5},
			{Filepath: "lib/small.py", Body: "SMALL = 1", Score: 0.4},
		},
	}
	// Python via the file path alone: comments use '#'.
	b := newTestBuilder(t, Config{ContextSize: 1024, MaxOutputTokens: 64, MaxSnippetTokens: 140, Tokenizer: byteTokenizer{}})
	p, err := b.Build(req)
	if err != nil {
		t.Fatal(err)
	}
	wantBlock := "# Path: lib/util.py\n# def helper(x):\n#     return x * 2\n\n" +
		"# Path: lib/changed.py\n# CHANGED = True\n\n" +
		"# Path: lib/small.py\n# SMALL = 1\n\n"
	if want := "<|fim_prefix|>" + wantBlock + "def main():\n    <|fim_suffix|>"; !strings.HasPrefix(p.Text, want) {
		t.Errorf("Text = %q\nwant prefix %q", p.Text, want)
	}
	var got []string
	for _, s := range p.Snippets {
		got = append(got, s.Filepath)
	}
	if strings.Join(got, ",") != "lib/util.py,lib/changed.py,lib/small.py" {
		t.Errorf("included snippets %v (the 400-char one must be skipped for budget)", got)
	}
	if p.Language != "python" || p.SnippetTokens != len(wantBlock) {
		t.Errorf("language %q, snippet tokens %d want %d", p.Language, p.SnippetTokens, len(wantBlock))
	}

	// Retrieval can be switched off by the client.
	req.NoSnippets = true
	p, _ = b.Build(req)
	if len(p.Snippets) != 0 || strings.Contains(p.Text, "Path:") {
		t.Errorf("snippets included although disabled: %q", p.Text)
	}
}

func TestBuildBlockCommentSnippets(t *testing.T) {
	b := newTestBuilder(t, Config{})
	p, err := b.Build(&Request{Language: "css",
		Prefix:       "body {",
		Declarations: []Snippet{{Filepath: "a.css", Body: "a { b: c } /* x */"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, "/* Path: a.css */\n/* a { b: c } /* x * / */\n\nbody {") {
		t.Errorf("Text = %q", p.Text)
	}
}

func TestBuildMaxTokens(t *testing.T) {
	b := newTestBuilder(t, Config{ContextSize: 1000, MaxOutputTokens: 32})
	req := completion("go", "x", "")
	req.MaxTokens = 128
	if p, _ := b.Build(req); p.MaxTokens != 128 {
		t.Errorf("MaxTokens = %d, want the request's 128", p.MaxTokens)
	}
	req.MaxTokens = 100000
	if p, _ := b.Build(req); p.MaxTokens != 500 {
		t.Errorf("MaxTokens = %d, want half the context", p.MaxTokens)
	}
	// In a tiny context the prompt keeps its minimum room.
	b = newTestBuilder(t, Config{ContextSize: 80, MaxOutputTokens: 8, Tokenizer: byteTokenizer{}})
	req = completion("go", strings.Repeat("x", 500), strings.Repeat("y", 500))
	req.MaxTokens = 1000
	p, err := b.Build(req)
	if err != nil || p.TotalTokens > 80-p.MaxTokens || !strings.HasSuffix(p.Text, "xxx<|fim_suffix|>yy<|fim_middle|>") {
		t.Errorf("tiny context: %d tokens, max %d, %q, %v", p.TotalTokens, p.MaxTokens, p.Text, err)
	}
}

func TestNewBuilderRejectsTinyContext(t *testing.T) {
	if _, err := NewBuilder(Config{ContextSize: 64, MaxOutputTokens: 60}); err == nil {
		t.Error("a context with no room for a prompt was accepted")
	}
}

func FuzzBuild(f *testing.F) {
	f.Add("go", "package main\n\nfunc main() {\n\t", "\n}\n", "a.go", "func f() {}", 300, uint8(1))
	f.Add("python", strings.Repeat("x = 1\n", 200), strings.Repeat("y\n", 100), "", "", 200, uint8(0))
	f.Add("", "<|fim_prefix|>{suffix}", "{prefix}<|fim_middle|>", "", "é", 100, uint8(3))
	f.Fuzz(func(t *testing.T, lang, prefix, suffix, path, body string, ctx int, which uint8) {
		names := TemplateNames()
		tmpl, _ := LookupTemplate(names[int(which)%len(names)])
		cfg := Config{Template: tmpl, ContextSize: 100 + abs(ctx)%2000, MaxOutputTokens: 32}
		if which%2 == 0 {
			cfg.Tokenizer = byteTokenizer{}
		}
		b, err := NewBuilder(cfg)
		if err != nil {
			if strings.Contains(err.Error(), "leaves") {
				return // a context too small for this template is refused at start, as it must be
			}
			t.Fatal(err)
		}
		req := &Request{Language: lang,
			Prefix: prefix, Suffix: suffix, Filepath: path,
			Declarations: []Snippet{{Filepath: path, Body: body}},
		}
		p, err := b.Build(req)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if p.TotalTokens > cfg.ContextSize-p.MaxTokens {
			t.Fatalf("%d tokens over the budget %d", p.TotalTokens, cfg.ContextSize-p.MaxTokens)
		}
		if !strings.HasPrefix(p.Text, tmpl.parts[0].literal) || !strings.HasSuffix(p.Text, tmpl.parts[len(tmpl.parts)-1].literal) {
			t.Fatalf("template pieces cut: %q", p.Text)
		}
		if utf8.ValidString(prefix) && utf8.ValidString(suffix) && utf8.ValidString(body) && utf8.ValidString(path) && !utf8.ValidString(p.Text) {
			t.Fatalf("valid input gave invalid UTF-8: %q", p.Text)
		}
		for _, part := range tmpl.parts {
			if part.literal != "" && strings.Contains(prefix+suffix+body+path, strings.TrimSpace(part.literal)) {
				return // the markers cannot be told apart from user text
			}
		}
		// The prefix part is the snippet block, then an end of the input prefix.
		block := snippetText(b, LookupLanguage(lang, path), p.Snippets)
		kept := betweenMarkers(tmpl, p.Text, "prefix")
		if !strings.HasPrefix(kept, block) || !strings.HasSuffix(prefix, kept[len(block):]) {
			t.Fatalf("kept prefix %q is not block %q + an end of %q", kept, block, prefix)
		}
		if keptSuffix := betweenMarkers(tmpl, p.Text, "suffix"); !strings.HasPrefix(suffix, keptSuffix) {
			t.Fatalf("kept suffix %q is not a start of %q", keptSuffix, suffix)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // math.MinInt
			return 0
		}
		return -n
	}
	return n
}

// snippetText formats included snippets as Build writes them, in order.
func snippetText(b *Builder, l Language, included []Snippet) string {
	var out strings.Builder
	for _, s := range included {
		text, _, _ := b.snippetBlock(l, []candidate{{Snippet: s}}, 1<<30)
		out.WriteString(text)
	}
	return out.String()
}

func TestBuildSnippetOrderIsCanonical(t *testing.T) {
	a := Snippet{Filepath: "a.go", Body: "var A = 1", Score: 0.9}
	z := Snippet{Filepath: "z.go", Body: "var Z = 2", Score: 0.8}
	decl := Snippet{Filepath: "y.go", Body: "type Y int"}
	b := newTestBuilder(t, Config{})
	build := func(snippets ...Snippet) Prompt {
		p, err := b.Build(&Request{Language: "go",
			Prefix: "func main() {\n\t", Declarations: []Snippet{decl},
			ChangedSnippets: snippets,
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1, p2 := build(a, z), build(z, a) // the agent re-ranked them
	if p1.Text != p2.Text {
		t.Errorf("re-ranked snippets changed the prompt:\n%q\n%q", p1.Text, p2.Text)
	}
	// Declarations still come first, whatever their path.
	if i, j := strings.Index(p1.Text, "y.go"), strings.Index(p1.Text, "a.go"); i < 0 || j < 0 || i > j {
		t.Errorf("declaration not first: %q", p1.Text)
	}
	if got := []string{p2.Snippets[0].Filepath, p2.Snippets[1].Filepath, p2.Snippets[2].Filepath}; strings.Join(got, " ") != "y.go a.go z.go" {
		t.Errorf("Snippets in %v, want the order of the text", got)
	}
}

func TestNewBuilderHandMadeTemplate(t *testing.T) {
	b := newTestBuilder(t, Config{Template: Template{Name: "mine", Format: "<A>{prefix}<B>{suffix}<C>", SpecialTokens: []string{"<C>"}}})
	p, err := b.Build(completion("go", "x", "y"))
	if err != nil || p.Text != "<A>x<B>y<C>" || !contains(p.Stop, "<C>") {
		t.Errorf("Build = %q, %q, %v", p.Text, p.Stop, err)
	}
	if _, err := NewBuilder(Config{Template: Template{Format: "no placeholders"}}); err == nil {
		t.Error("a hand-made template without placeholders was accepted")
	}
}

// MaxPromptTokens caps prefix, suffix and context together below the
// configured budget, keeping the cursor's surroundings and their shares;
// above the budget it changes nothing.
func TestBuildMaxPromptTokens(t *testing.T) {
	b := newTestBuilder(t, Config{ContextSize: 4096, MaxOutputTokens: 64, Tokenizer: byteTokenizer{}})
	long := completion("go", numberedLines(0, 2000)+"\tcursor_line := ", "// after cursor\n"+numberedLines(2000, 4000))
	long.Declarations = []Snippet{{Filepath: "lib.go", Body: "func compute(n int) int { return n }"}}
	full, err := b.Build(long)
	if err != nil {
		t.Fatal(err)
	}
	capped := *long
	capped.MaxPromptTokens = 512
	p, err := b.Build(&capped)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.PrefixTokens + p.SuffixTokens + p.SnippetTokens; got > 512 || got < 400 {
		t.Errorf("capped at 512: prefix %d + suffix %d + context %d tokens", p.PrefixTokens, p.SuffixTokens, p.SnippetTokens)
	}
	if p.SuffixTokens > 512/8 || p.SuffixTokens == 0 || p.SnippetTokens == 0 || full.PrefixTokens < 4*p.PrefixTokens {
		t.Errorf("capped %+v, full %+v", p, full)
	}
	if !strings.Contains(p.Text, "\tcursor_line := ") || !strings.Contains(p.Text, "// after cursor\n") {
		t.Errorf("the cursor's surroundings were cut: %q", p.Text)
	}
	capped.MaxPromptTokens = 1 << 20
	if same, _ := b.Build(&capped); same.Text != full.Text {
		t.Error("a cap above the budget changed the prompt")
	}
}
