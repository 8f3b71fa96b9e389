// Package bench is serval-bench: a headless editor that replays typing
// traces against any LSP completion agent and measures what a person at
// the keyboard would feel (keystroke-to-suggestion latency, suggestions
// shown when they pause, how often the agent goes to the server) and what
// it costs (agent CPU and memory, server requests, prompt-cache reuse).
//
// A Trace is built from real source: a function is picked, its body
// blanked, and the body retyped key by key with delays from a seeded model
// of bursts and pauses (Typist). Run drives one agent through a set of
// traces (Editor speaks LSP to it over stdio), and Report turns the
// observations into figures, a Markdown table and a latency CDF (SVG).
package bench

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// A Key is one keystroke of a trace: the text it inserts and how long the
// typist waited before pressing it.
type Key struct {
	Text  string  `json:"text"`
	Delay float64 `json:"delay_ms"`
}

// A Trace is one function body being retyped into a file.
type Trace struct {
	Name       string `json:"name"`        // "path/file.go:FuncName"
	LanguageID string `json:"language_id"` // LSP language id ("go", "python")
	Path       string `json:"path"`        // the source file it came from
	// Text is the file with the body removed; the cursor starts at Offset
	// (a byte offset into Text) and the keys retype Typed there.
	Text   string `json:"-"`
	Offset int    `json:"offset"`
	Typed  string `json:"typed"`
	Keys   []Key  `json:"-"`
}

// A Body is a function body found in a source file: the byte span to blank.
type Body struct {
	Name       string
	Start, End int // Text[Start:End] is retyped
}

// Typist is a seeded model of typing: keys come in bursts at a steady
// pace, with pauses where people stop to think (after a line, often after
// a word, sometimes anywhere).
type Typist struct {
	KeyDelayMs     float64 // median delay between keys inside a burst
	KeyJitter      float64 // log-normal sigma of in-burst delays
	PauseMs        float64 // median pause
	PauseJitter    float64 // log-normal sigma of pauses
	PauseAfterLine float64 // chance to pause after a newline
	PauseAfterWord float64 // chance to pause after a word
	PauseAnywhere  float64 // chance to pause before any other key
}

// DefaultTypist types about 60 words a minute with a pause every few words.
var DefaultTypist = Typist{
	KeyDelayMs:     110,
	KeyJitter:      0.35,
	PauseMs:        900,
	PauseJitter:    0.45,
	PauseAfterLine: 0.7,
	PauseAfterWord: 0.15,
	PauseAnywhere:  0.01,
}

// PauseThresholdMs separates a pause from in-burst typing when reporting.
const PauseThresholdMs = 400

// Keys splits text into keystrokes (one rune each; an indentation run
// after a newline is one key, as an editor's auto-indent would insert it)
// with delays drawn from rng.
func (t Typist) Keys(text string, rng *rand.Rand) []Key {
	var keys []Key
	prev := ""
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		k := text[i : i+size]
		i += size
		if r == '\n' {
			// newline plus the next line's indentation.
			j := i
			for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
				j++
			}
			k += text[i:j]
			i = j
		}
		keys = append(keys, Key{Text: k, Delay: t.delay(prev, k, rng)})
		prev = k
	}
	return keys
}

func (t Typist) delay(prev, next string, rng *rand.Rand) float64 {
	chance := t.PauseAnywhere
	switch {
	case strings.HasPrefix(prev, "\n"):
		chance = t.PauseAfterLine
	case prev != "" && isWordEnd(prev, next):
		chance = t.PauseAfterWord
	}
	if prev != "" && rng.Float64() < chance {
		return t.PauseMs * math.Exp(t.PauseJitter*rng.NormFloat64())
	}
	d := t.KeyDelayMs * math.Exp(t.KeyJitter*rng.NormFloat64())
	// Keep bursts below the pause threshold so the two stay distinguishable.
	return math.Min(d, PauseThresholdMs*0.9)
}

func isWordEnd(prev, next string) bool {
	return isWordChar(prev) && !isWordChar(next)
}

func isWordChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// GoBodies returns the bodies of the functions in a Go source file whose
// body (between the braces, without the leading newline) is between
// minLen and maxLen bytes.
func GoBodies(src []byte, minLen, maxLen int) ([]Body, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "src.go", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse Go source: %w", err)
	}
	var out []Body
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		open := fset.Position(fn.Body.Lbrace).Offset + 1
		end := fset.Position(fn.Body.Rbrace).Offset
		// Retype from the start of the first body line up to the closing
		// brace's line: the editor sees "{\n" ... "}" with nothing between.
		if open >= len(src) || src[open] != '\n' {
			continue
		}
		start := open + 1
		for end > start && (src[end-1] == '\t' || src[end-1] == ' ') {
			end--
		}
		if n := end - start; n < minLen || n > maxLen {
			continue
		}
		name := fn.Name.Name
		if fn.Recv != nil && len(fn.Recv.List) > 0 {
			name = recvName(fn.Recv.List[0].Type) + "." + name
		}
		out = append(out, Body{Name: name, Start: start, End: end})
	}
	return out, nil
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	}
	return "?"
}

// PythonBodies returns the bodies of `def` blocks in a Python source file:
// the lines after the `def ...:` line that are indented deeper than it
// (blank lines included), between minLen and maxLen bytes.
func PythonBodies(src []byte, minLen, maxLen int) []Body {
	lines := bytes.SplitAfter(src, []byte("\n"))
	offsets := make([]int, len(lines)+1)
	for i, l := range lines {
		offsets[i+1] = offsets[i] + len(l)
	}
	var out []Body
	for i, l := range lines {
		trimmed := bytes.TrimLeft(l, " \t")
		if !bytes.HasPrefix(trimmed, []byte("def ")) || !bytes.HasSuffix(bytes.TrimRight(l, " \t\r\n"), []byte(":")) {
			continue // skips multi-line signatures too: their first line ends in "(" or ","
		}
		indent := len(l) - len(trimmed)
		name := string(trimmed[4:])
		if p := strings.IndexAny(name, "( :"); p >= 0 {
			name = name[:p]
		}
		j := i + 1
		last := i // last non-blank line of the body
		for ; j < len(lines); j++ {
			t := bytes.TrimLeft(lines[j], " \t")
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
			if len(lines[j])-len(t) <= indent {
				break
			}
			last = j
		}
		if last == i {
			continue
		}
		start, end := offsets[i+1], offsets[last+1]
		if n := end - start; n < minLen || n > maxLen {
			continue
		}
		out = append(out, Body{Name: name, Start: start, End: end})
	}
	return out
}

// A Source is a tree of files in one language to draw traces from.
type Source struct {
	Root       string
	Ext        string // ".go", ".py"
	LanguageID string
	// Skip reports files not to use (tests, generated code).
	Skip func(rel string) bool
}

// GoSource is the Go standard library of the running toolchain.
func GoSource(goroot string) Source {
	return Source{
		Root:       filepath.Join(goroot, "src"),
		Ext:        ".go",
		LanguageID: "go",
		Skip: func(rel string) bool {
			return strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "testdata") ||
				strings.HasPrefix(rel, "vendor") || strings.HasPrefix(rel, "cmd")
		},
	}
}

// PythonSource is a Python standard library directory (/usr/lib/python3.X).
func PythonSource(dir string) Source {
	return Source{
		Root:       dir,
		Ext:        ".py",
		LanguageID: "python",
		Skip: func(rel string) bool {
			return strings.Contains(rel, "test") || strings.Contains(rel, "site-packages") ||
				strings.Contains(rel, "dist-packages") || strings.Contains(rel, "idlelib")
		},
	}
}

// TraceOptions bound the traces Build makes.
type TraceOptions struct {
	Count   int // traces from this source
	MinBody int // body size in bytes
	MaxBody int
	// MaxFileBytes skips huge files (the editor sends the whole text).
	MaxFileBytes int
	Typist       Typist
}

// Build makes opts.Count traces from src, chosen by seed: the same seed,
// source tree and options give the same traces.
func Build(src Source, seed uint64, opts TraceOptions) ([]Trace, error) {
	var files []string
	err := filepath.WalkDir(src.Root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable corners of a system tree are not worth failing for
		}
		rel, _ := filepath.Rel(src.Root, path)
		if d.IsDir() {
			if path != src.Root && src.Skip != nil && src.Skip(rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(path) == src.Ext && (src.Skip == nil || !src.Skip(rel)) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", src.Root, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no %s files under %s", src.Ext, src.Root)
	}
	sort.Strings(files) // WalkDir is lexical already; say so anyway.

	rng := rand.New(rand.NewPCG(seed, 0x5e7a1))
	var traces []Trace
	seen := map[string]bool{}
	// Bounded: each attempt looks at one random file.
	for attempt := 0; attempt < 50*opts.Count+200 && len(traces) < opts.Count; attempt++ {
		rel := files[rng.IntN(len(files))]
		path := filepath.Join(src.Root, rel)
		data, err := os.ReadFile(path)
		if err != nil || len(data) == 0 || (opts.MaxFileBytes > 0 && len(data) > opts.MaxFileBytes) || !utf8.Valid(data) {
			continue
		}
		var bodies []Body
		switch src.LanguageID {
		case "go":
			bodies, err = GoBodies(data, opts.MinBody, opts.MaxBody)
			if err != nil {
				continue
			}
		case "python":
			bodies = PythonBodies(data, opts.MinBody, opts.MaxBody)
		default:
			return nil, fmt.Errorf("no function finder for language %q", src.LanguageID)
		}
		if len(bodies) == 0 {
			continue
		}
		b := bodies[rng.IntN(len(bodies))]
		name := filepath.ToSlash(rel) + ":" + b.Name
		if seen[name] {
			continue
		}
		seen[name] = true
		typed := string(data[b.Start:b.End])
		traces = append(traces, Trace{
			Name:       name,
			LanguageID: src.LanguageID,
			Path:       path,
			Text:       string(data[:b.Start]) + string(data[b.End:]),
			Offset:     b.Start,
			Typed:      typed,
			Keys:       opts.Typist.Keys(typed, rng),
		})
	}
	if len(traces) < opts.Count {
		return traces, fmt.Errorf("found %d of %d %s functions with %d-%d byte bodies under %s",
			len(traces), opts.Count, src.LanguageID, opts.MinBody, opts.MaxBody, src.Root)
	}
	return traces, nil
}
