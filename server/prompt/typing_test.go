package prompt

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// typingTrace replays a user typing a stretch of a real source file: the
// stretch [from, to) of lines is typed one character at a time and a request
// is made every `every` characters, as an agent with debouncing would.
// wholeFile clients send the whole text before the cursor and the rest of
// the file; window clients send the last 20 lines and the next 20, as
// tabby-agent does.
type typingTrace struct {
	requests []*Request
}

func loadSource(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(runtime.GOROOT(), "src", rel)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("typing trace source %s not available: %v", p, err)
	}
	return string(data)
}

func lineOffset(text string, line int) int {
	off := 0
	for i := 0; i < line && off < len(text); i++ {
		next := strings.IndexByte(text[off:], '\n')
		if next < 0 {
			return len(text)
		}
		off += next + 1
	}
	return off
}

// windowChars > 0 makes an agent-style client: the last windowChars
// characters before the cursor, from the next line start on (Serval's agent
// sends 8,000).
func newTypingTrace(text string, fromLine, toLine, every int, window bool, windowChars ...int) typingTrace {
	from, to := lineOffset(text, fromLine), lineOffset(text, toLine)
	var tr typingTrace
	for pos := from; pos <= to; pos += every {
		prefix, suffix := text[:pos], text[to:]
		if window {
			prefix = lastLines(prefix, 20)
			suffix = firstLines(suffix, 20)
		}
		if len(windowChars) > 0 && len(prefix) > windowChars[0] {
			prefix = prefix[len(prefix)-windowChars[0]:]
			prefix = prefix[strings.IndexByte(prefix, '\n')+1:]
		}
		tr.requests = append(tr.requests, &Request{
			Language: "go",
			Prefix:   prefix, Suffix: suffix, Filepath: "net/http/server.go",
		})
	}
	return tr
}

func lastLines(s string, n int) string {
	i := len(s)
	for k := 0; k < n; k++ {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}

func firstLines(s string, n int) string {
	i := 0
	for k := 0; k < n; k++ {
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			return s
		}
		i += j + 1
	}
	return s[:i]
}

// reuse is what an engine's prompt cache could reuse over a trace: for each
// prompt after the first, the bytes it shares at its start with the one
// before (counted in bytes: with a byte vocabulary, bytes are tokens).
type reuse struct {
	prompts     int
	total       int // bytes of all prompts after the first
	evaluated   int // bytes after the common prefix (what must be evaluated)
	beforeEnd   int // of those, the bytes up to the end of the prefix part (the rest is what the template puts after it)
	startMoves  int // prompts whose first line differs from the previous prompt's
	prefixBytes int // bytes of code prefix included, summed
}

func (r reuse) evaluatedFraction() float64 { return float64(r.evaluated) / float64(r.total) }
func (r reuse) prefixFraction() float64    { return float64(r.beforeEnd) / float64(r.total) }

// prefixEnd is where the text rendered for {prefix} ends in a prompt.
func prefixEnd(tmpl Template, text string) int {
	for i, part := range tmpl.parts {
		if part.placeholder == "prefix" {
			if i+1 == len(tmpl.parts) {
				return len(text)
			}
			return strings.LastIndex(text, tmpl.parts[i+1].literal)
		}
	}
	return len(text)
}

func measureReuse(t testing.TB, b *Builder, tr typingTrace) reuse {
	t.Helper()
	var r reuse
	prev := ""
	prevStart := ""
	for i, req := range tr.requests {
		p, err := b.Build(req)
		if err != nil {
			t.Fatal(err)
		}
		r.prompts++
		r.prefixBytes += p.PrefixTokens
		start, _, _ := strings.Cut(p.Text, "\n")
		if i > 0 {
			common := commonPrefixLen(prev, p.Text)
			r.total += len(p.Text)
			r.evaluated += len(p.Text) - common
			r.beforeEnd += max(0, prefixEnd(b.Template(), p.Text)-common)
			if start != prevStart {
				r.startMoves++
			}
		}
		prev, prevStart = p.Text, start
	}
	return r
}

func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// TestTypingKeepsPromptStart replays typing 150 lines in the middle of a
// 4,000-line file with a whole-file client and a 2,048-token context: the
// prefix must be cut at every request. Cutting at content anchors must keep
// the prompt's start far more stable than cutting at the first line that
// fits, so that little of the prompt before the cursor is evaluated again.
// (In prefix-suffix-middle order the suffix always follows the changed text;
// a suffix-first template removes that too.)
func TestTypingKeepsPromptStart(t *testing.T) {
	text := loadSource(t, "net/http/server.go")
	tr := newTypingTrace(text, 2000, 2150, 3, false)
	cfg := Config{ContextSize: 2048, MaxOutputTokens: 64, Tokenizer: byteTokenizer{}}
	anchored := measureReuse(t, newTestBuilder(t, cfg), tr)
	cfg.CutStride = 1
	naive := measureReuse(t, newTestBuilder(t, cfg), tr)
	cfg.CutStride = 0
	cfg.Template, _ = LookupTemplate("starcoder-spm")
	spm := measureReuse(t, newTestBuilder(t, cfg), tr)

	for _, c := range []struct {
		name string
		r    reuse
	}{{"anchored", anchored}, {"naive", naive}, {"anchored, suffix first", spm}} {
		t.Logf("%-22s start moved %3d/%d times; evaluated %4.1f%% of prompt bytes (%4.1f%% before the cursor); mean prefix %d bytes",
			c.name, c.r.startMoves, c.r.prompts, 100*c.r.evaluatedFraction(), 100*c.r.prefixFraction(), c.r.prefixBytes/c.r.prompts)
	}
	if anchored.startMoves*4 > naive.startMoves {
		t.Errorf("anchored cuts moved the prompt start %d times, naive ones %d: want at most a quarter", anchored.startMoves, naive.startMoves)
	}
	if anchored.prefixFraction() > naive.prefixFraction()/3 {
		t.Errorf("anchored cuts re-evaluate %.1f%% before the cursor, naive ones %.1f%%: want at most a third",
			100*anchored.prefixFraction(), 100*naive.prefixFraction())
	}
	if spm.evaluatedFraction() > 0.05 {
		t.Errorf("suffix-first prompts leave %.1f%% to evaluate, want under 5%%", 100*spm.evaluatedFraction())
	}
	// The anchors cost little context: the prefix stays above 80% of the naive one.
	if anchored.prefixBytes*10 < naive.prefixBytes*8 {
		t.Errorf("anchored prefix %d bytes on average vs naive %d", anchored.prefixBytes/anchored.prompts, naive.prefixBytes/naive.prompts)
	}
}

// BenchmarkTypingReuse reports, for replayed typing traces, the fraction of
// prompt bytes (= tokens with a byte vocabulary) an engine with a prompt
// cache must evaluate, the part of it before the cursor, and how often the
// prompt's start moves.
func BenchmarkTypingReuse(b *testing.B) {
	text := loadSource(b, "net/http/server.go")
	for _, c := range []struct {
		name     string
		window   bool
		stride   int
		template string
	}{
		{"wholefile/anchored", false, 0, "qwen"},
		{"wholefile/naive", false, 1, "qwen"},
		{"wholefile/anchored-spm", false, 0, "starcoder-spm"},
		{"window20/anchored", true, 0, "qwen"},
		{"agent8000chars/anchored", false, 0, "qwen"},
		{"agent8000chars/naive", false, 1, "qwen"},
		{"agent8000chars-ctx16384/anchored", false, 0, "qwen"},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := newTypingTrace(text, 2000, 2150, 3, c.window)
			if strings.HasPrefix(c.name, "agent8000chars") {
				tr = newTypingTrace(text, 2000, 2150, 3, false, 8000)
			}
			tmpl, _ := LookupTemplate(c.template)
			var r reuse
			for b.Loop() {
				ctx := 2048
				if strings.Contains(c.name, "ctx16384") {
					ctx = 16384
				}
				builder := newTestBuilder(b, Config{Template: tmpl, ContextSize: ctx, MaxOutputTokens: 64, Tokenizer: byteTokenizer{}, CutStride: c.stride})
				r = measureReuse(b, builder, tr)
			}
			b.ReportMetric(100*r.evaluatedFraction(), "%evaluated")
			b.ReportMetric(100*r.prefixFraction(), "%evaluated-before-cursor")
			b.ReportMetric(100*float64(r.startMoves)/float64(r.prompts), "%start-moves")
			b.ReportMetric(float64(r.prefixBytes)/float64(r.prompts), "prefix-bytes")
		})
	}
}

// BenchmarkBuild measures building one prompt from a long whole-file prefix.
func BenchmarkBuild(b *testing.B) {
	text := loadSource(b, "net/http/server.go")
	pos := lineOffset(text, 2100) + 17
	req := &Request{Language: "go",
		Prefix: text[:pos], Suffix: text[pos:],
		Declarations: []Snippet{{Filepath: "net/http/header.go", Body: "type Header map[string][]string"}},
	}
	for _, c := range []struct {
		name string
		tok  Config
	}{
		{"estimate", Config{}},
		{"bytes", Config{Tokenizer: byteTokenizer{}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			builder := newTestBuilder(b, c.tok)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := builder.Build(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
