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

var (
	queryMu sync.Mutex
	queries = map[string]*sitter.Query{}
)

// declQuery compiles the language's declaration query once. A compiled
// query is immutable and shared; each run uses its own cursor.
func (l *Language) declQuery() (*sitter.Query, error) {
	queryMu.Lock()
	defer queryMu.Unlock()
	if q, ok := queries[l.Name]; ok {
		return q, nil
	}
	src, ok := declQueries[l.Name]
	if !ok {
		return nil, fmt.Errorf("no declaration query for %s", l.Name)
	}
	q, err := sitter.NewQuery([]byte(src), l.Sitter)
	if err != nil {
		return nil, fmt.Errorf("compile %s declaration query: %w", l.Name, err)
	}
	queries[l.Name] = q
	return q, nil
}

// Declarations lists the declarations of a parsed file in source order:
// top-level ones and members of types and classes, but not the locals of a
// function body.
func (l *Language) Declarations(root *sitter.Node, src []byte) ([]Decl, error) {
	q, err := l.declQuery()
	if err != nil {
		return nil, err
	}
	qc := sitter.NewQueryCursor()
	defer qc.Close()
	qc.Exec(q, root)
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
			capName := q.CaptureNameForId(c.Index)
			if capName == "name" {
				nameNode = c.Node
			} else if k, ok := strings.CutPrefix(capName, "def."); ok {
				defNode, kind = c.Node, Kind(k)
			}
		}
		if nameNode == nil || defNode == nil {
			continue
		}
		defNode = l.declarationNode(defNode)
		d := Decl{
			Name:      nameNode.Content(src),
			Kind:      kind,
			StartByte: defNode.StartByte(),
			EndByte:   defNode.EndByte(),
			StartRow:  defNode.StartPoint().Row,
			EndRow:    defNode.EndPoint().Row,
		}
		d.Head = l.head(defNode, src)
		if l.Name == "go" && defNode.Type() == "method_declaration" {
			if r := defNode.ChildByFieldName("receiver"); r != nil {
				d.Container = receiverType(r.Content(src))
			}
		}
		decls = append(decls, d)
	}
	return setContainers(dropLocals(decls)), nil
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
// at a line boundary, with a Go spec that sits in a group given its keyword.
func (l *Language) head(n *sitter.Node, src []byte) string {
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
	return prefix + truncateLines(text, HeadLines, HeadBytes)
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
