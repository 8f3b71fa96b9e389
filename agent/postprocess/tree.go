package postprocess

import (
	"bytes"
	"context"
	"strings"
	"sync"

	sitter "github.com/smacker/go-tree-sitter"

	"github.com/servalhq/serval/context/syntax"
)

// The parse window around the cursor: the document is never reparsed as a
// whole per completion, only the enclosing top-level construct, bounded.
const (
	maxWindowLines = 100
	maxWindowBytes = 4 << 10
)

// No parse timeout: tree-sitter's is wall-clock time, so on a busy machine
// the same input would sometimes fall back to the lexical scan and give a
// different result. The bounded windows and completion bound the parse
// instead (see BenchmarkProcessWorstCase).

// parsers pools one *sitter.Parser per grammar: parsers are not safe for
// concurrent use, and building one per call would cost more than parsing.
var parsers sync.Map // *sitter.Language -> *sync.Pool

func parserFor(lang *sitter.Language) (*sitter.Parser, func()) {
	v, _ := parsers.LoadOrStore(lang, &sync.Pool{New: func() any {
		p := sitter.NewParser()
		p.SetLanguage(lang)
		return p
	}})
	pool := v.(*sync.Pool)
	p := pool.Get().(*sitter.Parser)
	return p, func() { pool.Put(p) }
}

// treeBrackets parses prefix window + completion + suffix window and
// returns the brackets limitScope follows, read from the syntax tree's
// tokens. It reports false when the language has no grammar.
func treeBrackets(cc *cursorContext, text string) (bracketTokens, bool) {
	lang, ok := syntax.LanguageFor(cc.lang, "")
	if !ok {
		return bracketTokens{}, false
	}
	before := prefixWindow(cc.prefix)
	after := suffixWindow(cc.suffix)
	src := make([]byte, 0, len(before)+len(text)+len(after))
	src = append(append(append(src, before...), text...), after...)

	parser, release := parserFor(lang.Sitter)
	defer release()
	tree, err := parser.ParseCtx(context.Background(), nil, src)
	if err != nil || tree == nil {
		parser.Reset()
		return bracketTokens{}, false
	}
	defer tree.Close()
	root := tree.RootNode()

	cursor := uint32(len(before))
	textEnd := cursor + uint32(len(text))
	var tok bracketTokens
	var completion, suffix []bracket
	kinds := symbolKindsFor(lang.Sitter)
	kinds.collect(root, cursor, textEnd, &completion, &tok.literals)
	kinds.collect(root, textEnd, uint32(len(src)), &suffix, nil)
	for i := range completion {
		completion[i].off -= int(cursor)
	}
	for i := range tok.literals {
		tok.literals[i].start -= int(cursor)
		tok.literals[i].end -= int(cursor)
	}
	tok.completion = completion
	tok.suffix = firstUnmatchedCloser(suffix)
	tok.suffix.off -= int(textEnd)

	tok.declarationEnd = declarationEnd(root, src, cursor, textEnd)

	// The cursor is at top level when no top-level node spans from an
	// earlier line to the cursor.
	lineStart := uint32(strings.LastIndexByte(before, '\n') + 1)
	tok.topLevelKnown = true
	tok.cursorTopLevel = true
	for i := 0; i < int(root.ChildCount()); i++ {
		ch := root.Child(i)
		if ch.StartByte() < lineStart && ch.EndByte() > cursor {
			tok.cursorTopLevel = false
			break
		}
		if ch.StartByte() >= cursor {
			break
		}
	}
	return tok, true
}

// declarationEnd returns where, in the completion, the declaration it
// starts with ends (a function, method, class, type...), or -1 when it does
// not start with one or the declaration does not end inside it.
func declarationEnd(root *sitter.Node, src []byte, cursor, textEnd uint32) int {
	text := src[cursor:textEnd]
	first := cursor + uint32(len(text)-len(bytes.TrimLeft(text, " \t\n")))
	if first >= textEnd {
		return -1
	}
	lineStart := bytes.LastIndexByte(src[:first], '\n') + 1
	at := sitter.Point{Row: uint32(bytes.Count(src[:first], []byte{'\n'})), Column: first - uint32(lineStart)}
	var decl *sitter.Node
	for n := root.NamedDescendantForPointRange(at, at); n != nil && n.StartByte() == first; n = n.Parent() {
		if declarationNode(n.Type()) {
			decl = n
		}
	}
	if decl == nil || decl.HasError() || decl.EndByte() > textEnd {
		return -1
	}
	return int(decl.EndByte() - cursor)
}

// declarationNode reports the node types of declarations that a
// completion writes one at a time.
func declarationNode(typ string) bool {
	switch typ {
	case "function_declaration", "method_declaration", "function_definition", "method_definition",
		"class_declaration", "class_definition", "decorated_definition", "interface_declaration",
		"enum_declaration", "constructor_declaration", "type_declaration", "type_alias_declaration",
		"function_item", "impl_item", "trait_item", "struct_item", "enum_item", "method", "class", "module":
		return true
	}
	return false
}

// symbolKinds classifies a grammar's node symbols once, so that the walk
// over a tree compares small integers instead of fetching type names.
type symbolKinds struct {
	opaque  []bool // strings, comments, char and regex literals
	bracket []byte // the bracket a token symbol stands for, or 0
}

var kindsByLanguage sync.Map // *sitter.Language -> *symbolKinds

func symbolKindsFor(lang *sitter.Language) *symbolKinds {
	if v, ok := kindsByLanguage.Load(lang); ok {
		return v.(*symbolKinds)
	}
	n := int(lang.SymbolCount())
	k := &symbolKinds{opaque: make([]bool, n), bracket: make([]byte, n)}
	for i := 0; i < n; i++ {
		name := lang.SymbolName(sitter.Symbol(i))
		k.opaque[i] = opaqueNode(name)
		if len(name) == 1 && strings.ContainsRune("()[]{}", rune(name[0])) {
			k.bracket[i] = name[0]
		}
	}
	v, _ := kindsByLanguage.LoadOrStore(lang, k)
	return v.(*symbolKinds)
}

// collect appends the bracket tokens of n that start in [from, to),
// skipping strings, comments and tokens the parser invented (MISSING). The
// spans of strings and comments that hold a newline go to literals when it
// is not nil.
func (k *symbolKinds) collect(n *sitter.Node, from, to uint32, out *[]bracket, literals *[]span) {
	if n.EndByte() <= from || n.StartByte() >= to {
		return
	}
	sym := int(n.Symbol())
	known := sym < len(k.opaque)
	if known && k.opaque[sym] {
		if literals != nil && n.EndPoint().Row > n.StartPoint().Row {
			*literals = append(*literals, span{int(n.StartByte()), int(n.EndByte())})
		}
		return
	}
	count := int(n.ChildCount())
	if count == 0 {
		if known && k.bracket[sym] != 0 && n.StartByte() >= from && n.EndByte()-n.StartByte() == 1 && !n.IsMissing() {
			*out = append(*out, bracket{off: int(n.StartByte()), ch: k.bracket[sym]})
		}
		return
	}
	for i := 0; i < count; i++ {
		ch := n.Child(i)
		if ch.StartByte() >= to {
			break
		}
		k.collect(ch, from, to, out, literals)
	}
}

// opaqueNode reports node types whose brackets are text, not code.
func opaqueNode(typ string) bool {
	for _, s := range []string{"comment", "string", "char", "regex", "heredoc"} {
		if strings.Contains(typ, s) {
			return true
		}
	}
	return false
}

// prefixWindow returns the end of prefix from the start of the enclosing
// top-level construct: back to the last line starting a declaration at
// column 0, at most maxWindowLines lines and maxWindowBytes bytes.
func prefixWindow(prefix string) string {
	start := len(prefix)
	// The cursor's own line is always in.
	start = strings.LastIndexByte(prefix[:start], '\n') + 1
	for lines := 0; start > 0 && lines < maxWindowLines && len(prefix)-start < maxWindowBytes; lines++ {
		if startsDeclaration(prefix[start:lineEnd(prefix, start)]) {
			break
		}
		start = strings.LastIndexByte(prefix[:start-1], '\n') + 1
	}
	return prefix[start:]
}

// suffixWindow returns the start of suffix up to the end of the enclosing
// top-level construct: through the first line that starts with a closer at
// column 0, or before the first line starting a declaration there.
func suffixWindow(suffix string) string {
	end := lineEnd(suffix, 0)
	for lines := 0; end < len(suffix) && lines < maxWindowLines && end < maxWindowBytes; lines++ {
		next := lineEnd(suffix, end+1)
		line := suffix[end+1 : next]
		if startsDeclaration(line) {
			break
		}
		end = next
		if line != "" && strings.ContainsRune(")]}", rune(line[0])) {
			break
		}
	}
	return suffix[:end]
}
