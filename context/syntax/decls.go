package syntax

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"

	sitter "github.com/smacker/go-tree-sitter"
)

// Kind says what a declaration declares.
type Kind string

// The kinds of declarations the queries find.
const (
	KindFunction  Kind = "function"
	KindMethod    Kind = "method"
	KindType      Kind = "type"
	KindClass     Kind = "class"
	KindInterface Kind = "interface"
	KindConstant  Kind = "constant"
	KindVariable  Kind = "variable"
)

// Decl is one declaration found in a file.
type Decl struct {
	Name      string
	Kind      Kind
	StartByte uint32
	EndByte   uint32
	StartRow  uint32 // zero-based
	EndRow    uint32
	// Head is the start of the declaration's text: its signature and the
	// first lines of its body, at most HeadLines lines and HeadBytes bytes.
	// A class whose constructors are cut off gets their signatures after
	// it (see withConstructors), so a call that constructs it shows the
	// parameters.
	Head string
	// Container is the type a method or member belongs to: a Go method's
	// receiver type, or the innermost class, interface or type declaration
	// that encloses the declaration. Empty at top level.
	Container string
}

// Limits on Decl.Head, which keep the index small while showing the model
// a declaration's signature and the top of its body.
const (
	HeadLines = 10
	HeadBytes = 480
)

// maxDeclDepth is how deep below the root a declaration may start in each
// grammar (Go: source_file > type_declaration > type_spec > interface_type
// > method_elem is 4; a class member inside a nested namespace or module
// is deeper). Limiting it spares the query cursor most function bodies,
// which halves the cost of indexing.
var maxDeclDepth = map[string]uint32{
	"go": 4, "python": 6, "javascript": 6, "typescript": 6, "tsx": 6, "rust": 6,
	"java": 6, "c": 6, "cpp": 8, "ruby": 7, "php": 6,
}

// declQuery is a compiled declaration query with what its captures mean.
type declQuery struct {
	q *sitter.Query
	// kinds[i] is the Kind of capture i ("def.function" → KindFunction),
	// empty for the name capture and others. Resolved once: the library
	// allocates a fresh string for each capture-name lookup, and a Kind cut
	// from one kept it alive in every indexed declaration.
	kinds []Kind
	name  uint32 // the index of the "name" capture
}

var (
	queryMu sync.Mutex
	queries = map[string]*declQuery{}
)

// declQuery compiles the language's declaration query once. A compiled
// query is immutable and shared; each run uses its own cursor.
func (l *Language) declQuery() (*declQuery, error) {
	queryMu.Lock()
	defer queryMu.Unlock()
	if dq, ok := queries[l.Name]; ok {
		return dq, nil
	}
	src, ok := declQueries[l.Name]
	if !ok {
		return nil, fmt.Errorf("no declaration query for %s", l.Name)
	}
	q, err := sitter.NewQuery([]byte(src), l.Sitter)
	if err != nil {
		return nil, fmt.Errorf("compile %s declaration query: %w", l.Name, err)
	}
	dq := &declQuery{q: q, kinds: make([]Kind, q.CaptureCount()), name: ^uint32(0)}
	for i := range dq.kinds {
		capName := q.CaptureNameForId(uint32(i))
		if capName == "name" {
			dq.name = uint32(i)
		} else if k, ok := strings.CutPrefix(capName, "def."); ok {
			dq.kinds[i] = Kind(strings.Clone(k))
		}
	}
	queries[l.Name] = dq
	return dq, nil
}

// Declarations lists the declarations of a parsed file in source order:
// top-level ones and members of types and classes, but not the locals of a
// function body.
func (l *Language) Declarations(root *sitter.Node, src []byte) ([]Decl, error) {
	dq, err := l.declQuery()
	if err != nil {
		return nil, err
	}
	qc := sitter.NewQueryCursor()
	defer qc.Close()
	qc.Exec(dq.q, root)
	setMaxStartDepth(qc, maxDeclDepth[l.Name])

	var decls []Decl
	for {
		m, ok := qc.NextMatch()
		if !ok {
			break
		}
		var nameNode, defNode *sitter.Node
		var kind Kind
		for _, c := range m.Captures {
			if c.Index == dq.name {
				nameNode = c.Node
			} else if k := dq.kinds[c.Index]; k != "" {
				defNode, kind = c.Node, k
			}
		}
		if nameNode == nil || defNode == nil {
			continue
		}
		defNode = l.declarationNode(defNode)
		d := Decl{
			Kind:      kind,
			StartByte: defNode.StartByte(),
			EndByte:   defNode.EndByte(),
			StartRow:  defNode.StartPoint().Row,
			EndRow:    defNode.EndPoint().Row,
		}
		var textAt int
		d.Head, textAt = l.head(defNode, src)
		d.Name = nameIn(d.Head, textAt, src, defNode, nameNode)
		if l.Name == "go" && defNode.Type() == "method_declaration" {
			if r := defNode.ChildByFieldName("receiver"); r != nil {
				d.Container = receiverType(r.Content(src))
			}
		}
		decls = append(decls, d)
	}
	return l.withConstructors(root, src, setContainers(dropLocals(decls))), nil
}

// nameIn returns the declaration's name, sharing the memory of its head
// when the head shows it (it nearly always does): the index keeps both for
// every declaration of the workspace. textAt is where def's text starts in
// head (after a keyword the head adds).
func nameIn(head string, textAt int, src []byte, def, name *sitter.Node) string {
	from, to := name.StartByte(), name.EndByte()
	if from >= def.StartByte() && from <= to && to <= uint32(len(src)) {
		off := textAt + int(from-def.StartByte())
		if end := off + int(to-from); end <= len(head) && head[off:end] == string(src[from:to]) {
			return head[off:end]
		}
	}
	return name.Content(src)
}

// receiverType extracts the type name of a Go receiver: "(s *Server)" and
// "(l *List[T])" give "Server" and "List".
func receiverType(recv string) string {
	recv = strings.Trim(recv, "() \t\n")
	fields := strings.Fields(recv)
	if len(fields) == 0 {
		return ""
	}
	t := strings.TrimLeft(fields[len(fields)-1], "*")
	if i := strings.IndexByte(t, '['); i >= 0 {
		t = t[:i]
	}
	return t
}

// setContainers gives each declaration nested in a class, interface or
// type declaration (decls are in source order) the innermost one's name.
func setContainers(decls []Decl) []Decl {
	var open []Decl // enclosing type-like declarations, outermost first
	for i := range decls {
		d := &decls[i]
		for len(open) > 0 && open[len(open)-1].EndByte <= d.StartByte {
			open = open[:len(open)-1]
		}
		if d.Container == "" && len(open) > 0 {
			d.Container = open[len(open)-1].Name
		}
		switch d.Kind {
		case KindClass, KindInterface, KindType:
			open = append(open, *d)
		}
	}
	return decls
}

// declarationNode widens a declaration to what the model should see with
// it: a Go spec to its declaration ("type T struct", not "T struct") when
// the declaration holds only that spec, a JavaScript/TypeScript
// declaration to its export statement, a Python definition to its
// decorators.
func (l *Language) declarationNode(n *sitter.Node) *sitter.Node {
	switch l.Name {
	case "go":
		switch n.Type() {
		case "type_spec", "type_alias", "const_spec", "var_spec":
			if p := n.Parent(); p != nil && p.NamedChildCount() == 1 {
				return p
			}
		}
	case "javascript", "typescript", "tsx":
		if p := n.Parent(); p != nil && p.Type() == "export_statement" {
			return p
		}
	case "python":
		if p := n.Parent(); p != nil && p.Type() == "decorated_definition" {
			return p
		}
	}
	return n
}

// head is the declaration's text cut to HeadLines lines and HeadBytes bytes
// at a line boundary, with a Go spec that sits in a group given its keyword;
// textAt is where the declaration's own text starts in it.
func (l *Language) head(n *sitter.Node, src []byte) (head string, textAt int) {
	text := src[n.StartByte():n.EndByte()]
	prefix := ""
	if l.Name == "go" {
		switch n.Type() {
		case "type_spec", "type_alias":
			prefix = "type "
		case "const_spec":
			prefix = "const "
		case "var_spec":
			prefix = "var "
		}
	}
	return prefix + truncateLines(text, HeadLines, HeadBytes), len(prefix)
}

// truncateLines keeps at most maxLines lines and maxBytes bytes of text,
// cutting at a line end when there is one, and marks a cut with "...".
func truncateLines(text []byte, maxLines, maxBytes int) string {
	end := len(text)
	lines := 0
	for i, b := range text {
		if b == '\n' {
			lines++
			if lines == maxLines {
				end = i
				break
			}
		}
	}
	if end > maxBytes {
		end = maxBytes
		if nl := bytes.LastIndexByte(text[:end], '\n'); nl > 0 {
			end = nl
		}
	}
	if end == len(text) {
		return string(text)
	}
	return string(text[:end]) + "\n..."
}

// dropLocals removes declarations nested in a function or method body;
// members of classes and interfaces stay.
func dropLocals(decls []Decl) []Decl {
	sort.SliceStable(decls, func(i, j int) bool {
		if decls[i].StartByte != decls[j].StartByte {
			return decls[i].StartByte < decls[j].StartByte
		}
		return decls[i].EndByte > decls[j].EndByte
	})
	out := decls[:0]
	var fnEnd uint32 // end of the function or method that encloses the current position
	var seen = map[[2]uint32]bool{}
	for _, d := range decls {
		if d.StartByte < fnEnd {
			continue
		}
		key := [2]uint32{d.StartByte, d.EndByte}
		if seen[key] && d.Kind != KindConstant && d.Kind != KindVariable {
			continue
		}
		seen[key] = true
		if d.Kind == KindFunction || d.Kind == KindMethod {
			fnEnd = d.EndByte
		}
		out = append(out, d)
	}
	return out
}

// Enclosing is a declaration whose body holds an offset.
type Enclosing struct {
	Name     string
	StartRow uint32 // where the declaration starts, as Declarations gives it
}

// EnclosingDecls lists the named declarations with a body (functions,
// methods, classes) that hold offset in the tree of src, outermost first.
// The index may hold an older version of the same declarations, whose rows
// no longer contain the cursor (a body being typed grows past them): the
// gatherer matches these by name and start to keep the declaration the user
// is writing out of its own context.
func (l *Language) EnclosingDecls(root *sitter.Node, src []byte, offset int) []Enclosing {
	// Look from the last character typed: a block ends at its last token,
	// so a cursor after "return " is past Python's, and so is one on an
	// indented new line below the block's last statement. On a line with
	// no indentation the cursor is outside whatever ends above it.
	at := min(max(offset, 0), len(src))
	indented := at > 0 && isBlank(src[at-1]) && startsLine(src, at)
	for at > 0 && (isBlank(src[at-1]) || indented && src[at-1] == '\n') {
		at--
	}
	if at > 0 && src[at-1] != '\n' {
		at--
	}
	var out []Enclosing
	enclosingBodies(root, at, func(n, _ *sitter.Node) bool {
		if name := n.ChildByFieldName("name"); name != nil {
			out = append(out, Enclosing{Name: name.Content(src), StartRow: l.declarationNode(n).StartPoint().Row})
		}
		return true
	})
	return out
}
