// Package syntax owns Serval's tree-sitter grammars: it maps an LSP language
// id or a file name to a Language (the grammar plus the queries the context
// engine runs over it) and keeps one incrementally updated tree per document
// (see Document).
package syntax

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	sitter "github.com/smacker/go-tree-sitter"
	"github.com/smacker/go-tree-sitter/c"
	"github.com/smacker/go-tree-sitter/cpp"
	"github.com/smacker/go-tree-sitter/golang"
	"github.com/smacker/go-tree-sitter/java"
	"github.com/smacker/go-tree-sitter/javascript"
	"github.com/smacker/go-tree-sitter/php"
	"github.com/smacker/go-tree-sitter/python"
	"github.com/smacker/go-tree-sitter/ruby"
	"github.com/smacker/go-tree-sitter/rust"
	"github.com/smacker/go-tree-sitter/typescript/tsx"
	"github.com/smacker/go-tree-sitter/typescript/typescript"
)

// Language is one tree-sitter grammar Serval can parse. Values are shared
// by every document of the language; their exported fields are immutable. A
// *sitter.Parser is not safe for concurrent use, so each parse takes a
// parser of its own from the language's small pool of idle parsers.
type Language struct {
	// Name is Serval's canonical name: "go", "python", "javascript",
	// "typescript", "tsx", "rust", "java", "c", "cpp", "ruby" or "php".
	Name string
	// Sitter is the grammar.
	Sitter *sitter.Language
	// Extensions lists the file extensions (with the dot) mapped to it.
	Extensions []string

	parsersMu sync.Mutex
	idle      []*sitter.Parser // at most maxIdleParsers
}

// maxIdleParsers is how many parsers a language keeps for reuse. A parser
// that has parsed keeps its buffers (about 200 KB for a 7 KB Go file), so
// documents share a few instead of owning one each; parses running at the
// same time beyond these get a parser that is closed afterwards.
const maxIdleParsers = 2

// NewParser returns a parser set to this language. The caller closes it.
func (l *Language) NewParser() *sitter.Parser {
	p := sitter.NewParser()
	p.SetLanguage(l.Sitter)
	return p
}

// Parse parses src from scratch. The caller closes the returned tree.
func (l *Language) Parse(ctx context.Context, src []byte) (*sitter.Tree, error) {
	tree, err := l.parse(ctx, nil, src)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", l.Name, err)
	}
	return tree, nil
}

// parse parses src with a pooled parser, reusing old (already edited to
// match src) when it is not nil; old stays valid and owned by the caller.
func (l *Language) parse(ctx context.Context, old *sitter.Tree, src []byte) (*sitter.Tree, error) {
	p := l.getParser()
	tree, err := p.ParseCtx(ctx, old, src)
	if err != nil && ctx.Err() == nil && errors.Is(err, sitter.ErrOperationLimit) {
		// No operation limit is ever set: the parser was stopped by a
		// cancellation flag left set by an earlier parse's context
		// (go-tree-sitter's watcher goroutine may set it after that parse
		// ended). A fresh parser has a clear flag.
		p.Close()
		p = l.NewParser()
		tree, err = p.ParseCtx(ctx, old, src)
	}
	if err != nil || ctx.Err() != nil {
		// A cancelled parser holds its half-done parse, which tree-sitter
		// would resume on its next call whatever the input, and a context
		// done by now may still set its flag: neither goes back to the pool.
		p.Close()
	} else {
		l.putParser(p)
	}
	return tree, err
}

func (l *Language) getParser() *sitter.Parser {
	l.parsersMu.Lock()
	if n := len(l.idle); n > 0 {
		p := l.idle[n-1]
		l.idle[n-1] = nil
		l.idle = l.idle[:n-1]
		l.parsersMu.Unlock()
		return p
	}
	l.parsersMu.Unlock()
	return l.NewParser()
}

// putParser keeps p for the next parse, or closes it when enough parsers
// are idle already.
func (l *Language) putParser(p *sitter.Parser) {
	l.parsersMu.Lock()
	if len(l.idle) < maxIdleParsers {
		l.idle = append(l.idle, p)
		l.parsersMu.Unlock()
		return
	}
	l.parsersMu.Unlock()
	p.Close()
}

// idleParsers is the number of parsers in the pool (for tests).
func (l *Language) idleParsers() int {
	l.parsersMu.Lock()
	defer l.parsersMu.Unlock()
	return len(l.idle)
}

type languageSpec struct {
	name       string
	grammar    func() *sitter.Language
	extensions []string
	lspIDs     []string
}

var specs = []languageSpec{
	{"go", golang.GetLanguage, []string{".go"}, []string{"go"}},
	{"python", python.GetLanguage, []string{".py", ".pyi", ".pyw"}, []string{"python"}},
	{"javascript", javascript.GetLanguage, []string{".js", ".mjs", ".cjs", ".jsx"}, []string{"javascript", "javascriptreact", "jsx"}},
	{"typescript", typescript.GetLanguage, []string{".ts", ".mts", ".cts"}, []string{"typescript"}},
	{"tsx", tsx.GetLanguage, []string{".tsx"}, []string{"typescriptreact", "tsx"}},
	{"rust", rust.GetLanguage, []string{".rs"}, []string{"rust"}},
	{"java", java.GetLanguage, []string{".java"}, []string{"java"}},
	{"c", c.GetLanguage, []string{".c", ".h"}, []string{"c"}},
	{"cpp", cpp.GetLanguage, []string{".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp"}, []string{"cpp", "cuda-cpp", "objective-cpp"}},
	{"ruby", ruby.GetLanguage, []string{".rb", ".rake", ".gemspec"}, []string{"ruby"}},
	{"php", php.GetLanguage, []string{".php", ".phtml"}, []string{"php"}},
}

type table struct {
	byName map[string]*Language
	byLSP  map[string]*Language
	byExt  map[string]*Language
}

// languages builds the grammar table once; GetLanguage allocates, so the
// table keeps one *sitter.Language per grammar for the whole process.
var languages = sync.OnceValue(func() *table {
	t := &table{
		byName: make(map[string]*Language),
		byLSP:  make(map[string]*Language),
		byExt:  make(map[string]*Language),
	}
	for _, s := range specs {
		l := &Language{Name: s.name, Sitter: s.grammar(), Extensions: s.extensions}
		t.byName[s.name] = l
		for _, id := range s.lspIDs {
			t.byLSP[id] = l
		}
		for _, ext := range s.extensions {
			t.byExt[ext] = l
		}
	}
	return t
})

// LanguageFor picks the grammar for a document: by its LSP language id
// first, then by the extension of path (a file path or a URI). It reports
// false when Serval has no grammar for either.
func LanguageFor(languageID, path string) (*Language, bool) {
	t := languages()
	if l, ok := t.byLSP[strings.ToLower(languageID)]; ok {
		return l, true
	}
	if l, ok := t.byExt[strings.ToLower(filepath.Ext(path))]; ok {
		return l, true
	}
	return nil, false
}

// ByName returns the language with the canonical name (Language.Name).
func ByName(name string) (*Language, bool) {
	l, ok := languages().byName[name]
	return l, ok
}

// Languages lists every supported language in a stable order.
func Languages() []*Language {
	t := languages()
	out := make([]*Language, 0, len(specs))
	for _, s := range specs {
		out = append(out, t.byName[s.name])
	}
	return out
}
