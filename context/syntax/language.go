// Package syntax owns Serval's tree-sitter grammars: it maps an LSP language
// id or a file name to a Language (the grammar plus the queries the context
// engine runs over it) and keeps one incrementally updated tree per document
// (see Document).
package syntax

import (
	"context"
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
// and immutable; a *sitter.Parser built from Sitter is not safe for
// concurrent use, so each goroutine makes its own (NewParser).
type Language struct {
	// Name is Serval's canonical name: "go", "python", "javascript",
	// "typescript", "tsx", "rust", "java", "c", "cpp", "ruby" or "php".
	Name string
	// Sitter is the grammar.
	Sitter *sitter.Language
	// Extensions lists the file extensions (with the dot) mapped to it.
	Extensions []string
}

// NewParser returns a parser set to this language. The caller closes it.
func (l *Language) NewParser() *sitter.Parser {
	p := sitter.NewParser()
	p.SetLanguage(l.Sitter)
	return p
}

// Parse parses src from scratch. The caller closes the returned tree.
func (l *Language) Parse(ctx context.Context, src []byte) (*sitter.Tree, error) {
	p := l.NewParser()
	defer p.Close()
	tree, err := p.ParseCtx(ctx, nil, src)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", l.Name, err)
	}
	return tree, nil
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
