package syntax

import (
	"bytes"
	"strings"
	"unicode/utf8"

	sitter "github.com/smacker/go-tree-sitter"
)

// Window is the text around a cursor that goes to the model as prefix and
// suffix.
type Window struct {
	// Header holds the first lines of the functions and classes that
	// enclose the start of the prefix window when that start is inside
	// them; it is empty when the window starts at top level.
	Header string
	// Prefix is the text from a statement or declaration boundary up to
	// the cursor. The model sees Header + Prefix.
	Prefix string
	// Suffix is the text from the cursor up to a statement or
	// declaration boundary.
	Suffix string
}

// maxHeaderShare bounds the enclosing headers to this fraction of the
// prefix budget, so a long signature cannot crowd out the code around the
// cursor.
const maxHeaderShare = 2

// NewWindow cuts the prefix and suffix windows around offset out of src,
// whose syntax tree is root. Budgets are in characters (UTF-8 code points;
// an invalid byte counts as one); the prefix window (header included) and
// the suffix window stay within them. When the budget reaches into the
// middle of a statement, the window is shortened to the nearest statement
// or declaration boundary (or a line boundary where the tree offers none),
// never cut mid-token.
func NewWindow(root *sitter.Node, src []byte, offset, prefixBudget, suffixBudget int) Window {
	offset = max(0, min(offset, len(src)))
	var w Window
	start := 0
	if from := backChars(src, offset, prefixBudget); from > 0 {
		start = prefixStart(root, src, from, offset)
		w.Header = fitHeader(root, src, &start, offset, prefixBudget)
	}
	w.Prefix = string(src[start:offset])
	end := len(src)
	if limit := forwardChars(src, offset, suffixBudget); limit < len(src) {
		end = suffixEnd(root, src, offset, limit)
	}
	w.Suffix = string(src[offset:end])
	return w
}

// PlainWindow cuts the windows of a document without a syntax tree: up to
// prefixBudget characters before offset and up to suffixBudget after it. A
// window cut by its budget starts (prefix) or ends (suffix) on a line
// boundary when the budget holds one. It has no header.
func PlainWindow(src []byte, offset, prefixBudget, suffixBudget int) Window {
	offset = max(0, min(offset, len(src)))
	for offset > 0 && offset < len(src) && !utf8.RuneStart(src[offset]) {
		offset--
	}
	start := backChars(src, offset, prefixBudget)
	if start > 0 {
		if nl := bytes.IndexByte(src[start:offset], '\n'); nl >= 0 {
			start += nl + 1
		}
	}
	end := forwardChars(src, offset, suffixBudget)
	if end < len(src) {
		if nl := bytes.LastIndexByte(src[offset:end], '\n'); nl >= 0 {
			end = offset + nl + 1
		}
	}
	return Window{Prefix: string(src[start:offset]), Suffix: string(src[offset:end])}
}

// fitHeader returns the headers enclosing *start and, to make room for
// them within budget (in characters), moves *start forward to a later
// boundary. When no later line boundary leaves room, it returns no header
// and leaves *start.
func fitHeader(root *sitter.Node, src []byte, start *int, offset, budget int) string {
	s := *start
	for range 3 {
		h := header(root, src, s, budget/maxHeaderShare)
		hc := utf8.RuneCountInString(h)
		if h == "" || hc+utf8.RuneCount(src[s:offset]) <= budget {
			*start = s
			return h
		}
		next := prefixStart(root, src, backChars(src, offset, budget-hc), offset)
		if next <= s || (next > 0 && src[next-1] != '\n') {
			break
		}
		s = next
	}
	return ""
}

// backChars walks n characters back from offset and returns where it
// stopped.
func backChars(src []byte, offset, n int) int {
	i := offset
	for ; n > 0 && i > 0; n-- {
		if src[i-1] < utf8.RuneSelf {
			i--
			continue
		}
		_, size := utf8.DecodeLastRune(src[:i])
		i -= size
	}
	return i
}

// forwardChars walks n characters forward from offset and returns where it
// stopped.
func forwardChars(src []byte, offset, n int) int {
	i := offset
	for ; n > 0 && i < len(src); n-- {
		if src[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRune(src[i:])
		i += size
	}
	return i
}

// Text is the prefix as the model sees it: header and prefix window.
func (w Window) Text() string { return w.Header + w.Prefix }

// prefixStart returns the first line start at or after from (and before
// cursor) that begins a whole statement or declaration: the largest named
// node starting at the line's first non-blank byte either ends a line or
// holds the cursor. Without one it falls back to the first line start
// after from.
func prefixStart(root *sitter.Node, src []byte, from, cursor int) int {
	tc := sitter.NewTreeCursor(root)
	defer tc.Close()
	first := -1
	for ls := nextLineStart(src, from); ls >= 0 && ls < cursor; ls = nextLineStart(src, ls+1) {
		if first < 0 {
			first = ls
		}
		p := skipBlanks(src, ls)
		if p >= cursor {
			break
		}
		n := largestNodeStartingAt(tc, root, p)
		if n != nil && n.IsNamed() && (int(n.EndByte()) >= cursor || endsStatementLine(tc, root, src, int(n.EndByte()))) {
			return ls
		}
	}
	if first >= 0 {
		return first
	}
	// The budget is shorter than the cursor's line: start after a blank
	// so that no token is cut.
	for p := from; p < cursor; p++ {
		if isBlank(src[p]) {
			return p + 1
		}
	}
	return cursor
}

// suffixEnd returns the last line end after cursor and at or before limit
// (just past its newline) that ends a whole statement or declaration: the
// largest named node ending at the line's last non-blank byte starts a
// line or before the cursor. Without one it falls back to the last line
// end before limit.
func suffixEnd(root *sitter.Node, src []byte, cursor, limit int) int {
	tc := sitter.NewTreeCursor(root)
	defer tc.Close()
	last := -1
	for nl := bytes.LastIndexByte(src[cursor:limit], '\n'); nl >= 0; nl = bytes.LastIndexByte(src[cursor:cursor+nl], '\n') {
		end := cursor + nl // the newline
		if last < 0 {
			last = end + 1
		}
		q := end
		for q > cursor && isBlank(src[q-1]) {
			q--
		}
		if q <= cursor {
			continue
		}
		n := largestNodeEndingAt(tc, root, q)
		if n != nil && isComment(n) && !startsLine(src, int(n.StartByte())) {
			// A trailing comment (`x := 1 // note`): the line's code ends
			// before it.
			c := int(n.StartByte())
			for c > cursor && isBlank(src[c-1]) {
				c--
			}
			if c <= cursor {
				continue
			}
			n = largestNodeEndingAt(tc, root, c)
		}
		if n != nil && n.IsNamed() && (int(n.StartByte()) <= cursor || startsLine(src, int(n.StartByte()))) {
			return end + 1
		}
	}
	if last >= 0 {
		return last
	}
	for limit > cursor && limit < len(src) && !utf8.RuneStart(src[limit]) {
		limit--
	}
	return limit
}

// endsStatementLine reports whether only blanks and comments follow
// offset on its line: a statement followed by a trailing comment
// (`x := 1 // note`, `x = 1  # note`) ends its line as much as one without.
func endsStatementLine(tc *sitter.TreeCursor, root *sitter.Node, src []byte, offset int) bool {
	for range maxTrailingComments {
		p := skipBlanks(src, offset)
		if p >= len(src) || src[p] == '\n' {
			return true
		}
		c := largestNodeStartingAt(tc, root, p)
		if c == nil || !isComment(c) || int(c.EndByte()) <= p {
			return false
		}
		offset = int(c.EndByte())
	}
	return false
}

// maxTrailingComments bounds the comments endsStatementLine steps over on
// one line (`x = 1 /* a */ /* b */`).
const maxTrailingComments = 4

// isComment reports a comment node in any grammar: "comment",
// "line_comment", "block_comment".
func isComment(n *sitter.Node) bool {
	return strings.HasSuffix(n.Type(), "comment")
}

// largestNodeStartingAt descends from root to the outermost node that
// starts exactly at p, or returns nil when no node starts there.
func largestNodeStartingAt(tc *sitter.TreeCursor, root *sitter.Node, p int) *sitter.Node {
	tc.Reset(root)
	for tc.GoToFirstChildForByte(uint32(p)) >= 0 {
		n := tc.CurrentNode()
		switch s := int(n.StartByte()); {
		case s == p:
			return n
		case s > p:
			return nil
		}
	}
	return nil
}

// largestNodeEndingAt descends from root to the outermost node that ends
// exactly at q (exclusive end), or returns nil when none does.
func largestNodeEndingAt(tc *sitter.TreeCursor, root *sitter.Node, q int) *sitter.Node {
	tc.Reset(root)
	for tc.GoToFirstChildForByte(uint32(q-1)) >= 0 {
		n := tc.CurrentNode()
		switch e := int(n.EndByte()); {
		case e == q:
			return n
		case int(n.StartByte()) > q-1:
			return nil
		}
	}
	return nil
}

func nextLineStart(src []byte, from int) int {
	if from == 0 || (from <= len(src) && src[from-1] == '\n') {
		return from
	}
	if nl := bytes.IndexByte(src[from:], '\n'); nl >= 0 {
		return from + nl + 1
	}
	return -1
}

func skipBlanks(src []byte, p int) int {
	for p < len(src) && isBlank(src[p]) {
		p++
	}
	return p
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\r' }

// header returns the header lines of every function or class (a node
// with a body field) that encloses start, outermost first, within budget
// characters.
func header(root *sitter.Node, src []byte, start, budget int) string {
	var parts []string
	total := 0
	enclosingBodies(root, start, func(n, body *sitter.Node) bool {
		h := headerText(src, n, body)
		hc := utf8.RuneCountInString(h)
		if total+hc > budget {
			return false
		}
		parts = append(parts, h)
		total += hc
		return true
	})
	return strings.Join(parts, "")
}

// enclosingBodies calls visit with each node that has a body field begun by
// offset and holds it (a function, method or class the offset is in),
// outermost first, until visit returns false.
func enclosingBodies(root *sitter.Node, offset int, visit func(n, body *sitter.Node) bool) {
	tc := sitter.NewTreeCursor(root)
	defer tc.Close()
	// GoToFirstChildForByte finds the enclosing child in C; scanning with
	// Node.Child would cost O(children²) at a large file's top level.
	for tc.GoToFirstChildForByte(uint32(offset)) >= 0 {
		n := tc.CurrentNode()
		if int(n.StartByte()) >= offset {
			break
		}
		if body := n.ChildByFieldName("body"); body != nil && int(body.StartByte()) <= offset && !visit(n, body) {
			return
		}
	}
}

// headerText is the text of n from the start of its first line to the end
// of the line that opens body: "func f() {\n", "class A:\n".
func headerText(src []byte, n, body *sitter.Node) string {
	from := lineStart(src, int(n.StartByte()))
	bs := int(body.StartByte())
	var to int
	if startsLine(src, bs) {
		to = lineStart(src, bs) // the body begins on its own line (Python)
	} else {
		to = lineEnd(src, bs)
	}
	if to <= from {
		return ""
	}
	h := string(src[from:to])
	if !strings.HasSuffix(h, "\n") {
		h += "\n"
	}
	return h
}

// startsLine reports whether only blanks precede offset on its line.
func startsLine(src []byte, offset int) bool {
	for i := offset - 1; i >= 0; i-- {
		switch src[i] {
		case '\n':
			return true
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return true
}

// endsLine reports whether only blanks follow offset on its line.
func endsLine(src []byte, offset int) bool {
	for i := offset; i < len(src); i++ {
		switch src[i] {
		case '\n':
			return true
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return true
}

func lineStart(src []byte, offset int) int {
	return bytes.LastIndexByte(src[:offset], '\n') + 1
}

// lineEnd is the offset just past the newline that ends offset's line.
func lineEnd(src []byte, offset int) int {
	if nl := bytes.IndexByte(src[offset:], '\n'); nl >= 0 {
		return offset + nl + 1
	}
	return len(src)
}
