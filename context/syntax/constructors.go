package syntax

import (
	"strings"

	sitter "github.com/smacker/go-tree-sitter"
)

// Limits on the constructor signatures a class's head carries: a call
// that constructs the class (`Invoice(`, `new Invoice(`) needs the
// parameters, and a class whose constructor sits below its first lines
// would otherwise show only its header and fields.
const (
	maxConstructors     = 3
	maxConstructorBytes = 320
	maxConstructorLines = 6
)

// constructorNames are the names of a class's constructor per grammar; an
// empty name stands for the class's own name (Java).
var constructorNames = map[string]string{
	"python":     "__init__",
	"javascript": "constructor",
	"typescript": "constructor",
	"tsx":        "constructor",
	"php":        "__construct",
	"java":       "",
}

// withConstructors appends to the head of each class whose head was cut
// before its constructors' parameters the signatures of those
// constructors, as one line each with an elided body:
//
//	class Invoice:
//	    """..."""
//	...
//	    def __init__(self, number: str, lines: list[Line]): ...
//
// decls are in source order with their containers set.
func (l *Language) withConstructors(root *sitter.Node, src []byte, decls []Decl) []Decl {
	ctorName, ok := constructorNames[l.Name]
	if !ok {
		return decls
	}
	for i := range decls {
		class := &decls[i]
		if class.Kind != KindClass || !strings.HasSuffix(class.Head, "\n...") {
			continue
		}
		shownEnd := class.StartByte + uint32(len(class.Head)-len("\n..."))
		want := ctorName
		if want == "" {
			want = class.Name
		}
		var sigs []string
		extra := 0
		for j := i + 1; j < len(decls) && decls[j].StartByte < class.EndByte && len(sigs) < maxConstructors; j++ {
			d := decls[j]
			if d.Container != class.Name || d.Name != want {
				continue
			}
			sig, end := l.constructorSignature(root, src, d)
			if sig == "" || end <= shownEnd {
				continue // no body to tell apart, or the head shows it already
			}
			if extra+len(sig)+1 > HeadBytes {
				break
			}
			sigs = append(sigs, sig)
			extra += len(sig) + 1
		}
		if len(sigs) == 0 {
			continue
		}
		head := class.Head + "\n" + strings.Join(sigs, "\n")
		// The name keeps sharing the head's memory (see nameIn).
		if at := strings.Index(head, class.Name); at >= 0 {
			class.Name = head[at : at+len(class.Name)]
		}
		class.Head = head
	}
	return decls
}

// constructorSignature returns the constructor's signature from the start
// of its line (indentation kept) to its body, with the body elided
// (`def __init__(self, a): ...`, `constructor(a: string) { ... }`), and
// the offset where its body starts. It returns "" when the declaration
// has no body field.
func (l *Language) constructorSignature(root *sitter.Node, src []byte, d Decl) (string, uint32) {
	n := nodeSpanning(root, d.StartByte, d.EndByte)
	if n == nil {
		return "", 0
	}
	if def := n.ChildByFieldName("definition"); def != nil && n.Type() == "decorated_definition" {
		n = def
	}
	body := n.ChildByFieldName("body")
	if body == nil || body.StartByte() <= n.StartByte() || int(body.StartByte()) > len(src) {
		return "", 0
	}
	from := lineStart(src, int(n.StartByte()))
	sig := strings.TrimRight(string(src[from:body.StartByte()]), " \t\r\n")
	if l.Name == "python" {
		sig += " ..."
	} else {
		sig += " { ... }"
	}
	if len(sig) > maxConstructorBytes || strings.Count(sig, "\n") >= maxConstructorLines {
		sig = truncateLines([]byte(sig), maxConstructorLines, maxConstructorBytes)
	}
	return sig, body.StartByte()
}

// nodeSpanning returns the node whose range is exactly [start, end), or
// nil.
func nodeSpanning(root *sitter.Node, start, end uint32) *sitter.Node {
	tc := sitter.NewTreeCursor(root)
	defer tc.Close()
	for tc.GoToFirstChildForByte(start) >= 0 {
		n := tc.CurrentNode()
		switch {
		case n.StartByte() > start:
			return nil
		case n.StartByte() == start && n.EndByte() == end:
			return n
		}
	}
	return nil
}
