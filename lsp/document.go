package lsp

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

// DefaultMaxDocumentBytes is the size above which a document is kept only to
// stay in sync: no completion, no context, and its edits are applied in place
// instead of producing new snapshots.
const DefaultMaxDocumentBytes = 8 << 20

// Document is an immutable snapshot of one open text document. Snapshots are
// shared with in-flight completions, so neither Text nor the line index is
// ever written after the snapshot is published (except for oversized
// documents, which are never shared).
type Document struct {
	URI        string
	LanguageID string
	Version    int32
	Text       []byte

	// Binary is set once the text has contained a NUL byte: such files get no
	// completions. Oversized is set once the text has exceeded the store's
	// limit. Both are sticky until the document is reopened or fully replaced.
	Binary    bool
	Oversized bool

	// lines[i] is the byte offset where line i starts, counting line breaks as
	// LSP does (\n, \r\n and a lone \r); lines[0] == 0.
	lines []uint32
	// loneCR is set when the text may contain a \r not followed by \n; then
	// tree-sitter rows (which count only \n) differ from LSP lines.
	loneCR bool
}

// Completable reports whether the document gets completions: binary and
// oversized documents are only kept in sync.
func (d *Document) Completable() bool { return !d.Binary && !d.Oversized }

// LineCount is the number of lines (a final line break starts an empty last line).
func (d *Document) LineCount() int { return len(d.lines) }

// lineBounds returns the byte range of line i's content, without its terminator.
func (d *Document) lineBounds(i int) (start, end int) {
	start = int(d.lines[i])
	if i+1 >= len(d.lines) {
		return start, len(d.Text)
	}
	end = int(d.lines[i+1])
	if end > start && d.Text[end-1] == '\n' {
		end--
		if end > start && d.Text[end-1] == '\r' {
			end--
		}
	} else if end > start && d.Text[end-1] == '\r' {
		end--
	}
	return start, end
}

// Offset converts an LSP position into a byte offset. A character past the
// end of its line clamps to the line's end (exact is false); a line past the
// end of the document clamps to the end of the text (exact is false).
func (d *Document) Offset(p protocol.Position, enc PositionEncoding) (offset int, exact bool) {
	if int(p.Line) >= len(d.lines) {
		return len(d.Text), false
	}
	start, end := d.lineBounds(int(p.Line))
	line := d.Text[start:end]
	n := byteOffsetInLine(line, p.Character, enc)
	exact = n < len(line) || unitsInLine(line, n, enc) == p.Character
	return start + n, exact
}

// Position converts a byte offset into an LSP position in enc.
func (d *Document) Position(offset int, enc PositionEncoding) protocol.Position {
	if offset < 0 {
		offset = 0
	}
	if offset > len(d.Text) {
		offset = len(d.Text)
	}
	i := d.lineOf(offset)
	start, end := d.lineBounds(i)
	if offset > end { // inside the line terminator
		offset = end
	}
	return protocol.Position{Line: uint32(i), Character: unitsInLine(d.Text[start:end], offset-start, enc)}
}

// lineOf is the index of the line containing offset.
func (d *Document) lineOf(offset int) int {
	// The largest i with lines[i] <= offset.
	return sort.Search(len(d.lines), func(i int) bool { return int(d.lines[i]) > offset }) - 1
}

// point converts a byte offset into a tree-sitter point (rows count only \n).
func (d *Document) point(offset int) agent.Point {
	if !d.loneCR {
		i := d.lineOf(offset)
		return agent.Point{Row: uint32(i), Column: uint32(offset - int(d.lines[i]))}
	}
	before := d.Text[:offset]
	row := bytes.Count(before, []byte{'\n'})
	col := offset - (bytes.LastIndexByte(before, '\n') + 1)
	return agent.Point{Row: uint32(row), Column: uint32(col)}
}

// isLineStart reports whether offset x starts a line in text, given LSP's line breaks.
func isLineStart(text []byte, x int) bool {
	if x == 0 {
		return true
	}
	switch text[x-1] {
	case '\n':
		return true
	case '\r':
		return x == len(text) || text[x] != '\n'
	}
	return false
}

// scanLines appends the line starts within text[from:to] (inclusive of to) to
// lines and reports whether a lone \r was seen.
func scanLines(lines []uint32, text []byte, from, to int) ([]uint32, bool) {
	loneCR := false
	if from == 0 {
		lines = append(lines, 0)
		from = 1
	}
	if bytes.IndexByte(text[from-1:to], '\r') < 0 {
		// The common case: only \n breaks, found with the vectorized IndexByte.
		for x := from; x <= to; {
			rel := bytes.IndexByte(text[x-1:to], '\n')
			if rel < 0 {
				break
			}
			x += rel
			lines = append(lines, uint32(x))
			x++
		}
		return lines, false
	}
	for x := from; x <= to; {
		// Jump to the next byte that can end a line.
		rel := bytes.IndexAny(text[x-1:to], "\r\n")
		if rel < 0 {
			break
		}
		x += rel
		if isLineStart(text, x) {
			lines = append(lines, uint32(x))
			if text[x-1] == '\r' {
				loneCR = true
			}
		}
		x++
	}
	return lines, loneCR
}

// newDocument builds a snapshot with a fresh line index.
func newDocument(uri, languageID string, version int32, text []byte, maxBytes int) *Document {
	d := &Document{URI: uri, LanguageID: languageID, Version: version, Text: text}
	d.lines, d.loneCR = scanLines(make([]uint32, 0, bytes.Count(text, []byte{'\n'})+1), text, 0, len(text))
	d.Binary = bytes.IndexByte(text, 0) >= 0
	d.Oversized = len(text) > maxBytes
	return d
}

// TextChange is one entry of didChange's contentChanges: Range nil means the
// whole text is replaced.
type TextChange struct {
	Range *protocol.Range `json:"range,omitempty"`
	Text  string          `json:"text"`
}

// apply returns the document after change and the edit in tree-sitter terms.
// When owned is set the receiver's buffers belong to the caller and may be
// reused; otherwise they are shared and left untouched.
func (d *Document) apply(change TextChange, enc PositionEncoding, owned bool, maxBytes int) (*Document, agent.Edit) {
	if change.Range == nil {
		nd := newDocument(d.URI, d.LanguageID, d.Version, []byte(change.Text), maxBytes)
		edit := agent.Edit{
			StartByte:   0,
			OldEndByte:  uint32(len(d.Text)),
			NewEndByte:  uint32(len(nd.Text)),
			OldEndPoint: d.point(len(d.Text)),
			NewEndPoint: nd.point(len(nd.Text)),
		}
		return nd, edit
	}
	s, _ := d.Offset(change.Range.Start, enc)
	e, _ := d.Offset(change.Range.End, enc)
	if e < s {
		s, e = e, s
	}
	ins := change.Text
	startPt := d.point(s)
	edit := agent.Edit{
		StartByte:   uint32(s),
		OldEndByte:  uint32(e),
		NewEndByte:  uint32(s + len(ins)),
		StartPoint:  startPt,
		OldEndPoint: d.point(e),
		NewEndPoint: advancePoint(startPt, ins),
	}

	nd := &Document{
		URI: d.URI, LanguageID: d.LanguageID, Version: d.Version,
		Binary: d.Binary || bytes.IndexByte([]byte(ins), 0) >= 0,
		loneCR: d.loneCR,
	}
	nd.Text = splice(d.Text, s, e, ins, owned)
	nd.Oversized = d.Oversized || len(nd.Text) > maxBytes

	// Line starts before s are unchanged, those after e shift by delta, and
	// the inserted region (plus its boundaries) is rescanned.
	delta := len(ins) - (e - s)
	k1 := sort.Search(len(d.lines), func(i int) bool { return int(d.lines[i]) >= s })
	k3 := sort.Search(len(d.lines), func(i int) bool { return int(d.lines[i]) > e })
	tail := d.lines[k3:]
	lines := make([]uint32, k1, k1+len(tail)+8)
	copy(lines, d.lines[:k1])
	lines, lone := scanLines(lines, nd.Text, s, s+len(ins))
	nd.loneCR = nd.loneCR || lone
	for _, x := range tail {
		lines = append(lines, uint32(int(x)+delta))
	}
	nd.lines = lines
	return nd, edit
}

// advancePoint is the point reached by writing text at p.
func advancePoint(p agent.Point, text string) agent.Point {
	nl := 0
	last := -1
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			nl++
			last = i
		}
	}
	if nl == 0 {
		return agent.Point{Row: p.Row, Column: p.Column + uint32(len(text))}
	}
	return agent.Point{Row: p.Row + uint32(nl), Column: uint32(len(text) - last - 1)}
}

// splice replaces buf[s:e] with ins, in place when owned and there is room.
func splice(buf []byte, s, e int, ins string, owned bool) []byte {
	oldLen := len(buf)
	newLen := oldLen - (e - s) + len(ins)
	if !owned || newLen > cap(buf) {
		extra := 0
		if owned {
			extra = newLen / 8 // room for the next few keystrokes
		}
		nb := make([]byte, newLen, newLen+extra)
		copy(nb, buf[:s])
		copy(nb[s:], ins)
		copy(nb[s+len(ins):], buf[e:])
		return nb
	}
	if newLen > oldLen {
		buf = buf[:newLen]
	}
	copy(buf[s+len(ins):], buf[e:oldLen])
	copy(buf[s:], ins)
	return buf[:newLen]
}

// Store holds the open documents. It is safe for concurrent use; the
// snapshots it returns are immutable.
type Store struct {
	maxBytes int

	mu   sync.RWMutex
	docs map[string]*Document
}

// NewStore returns an empty store; documents over maxBytes are kept inert.
func NewStore(maxBytes int) *Store {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDocumentBytes
	}
	return &Store{maxBytes: maxBytes, docs: make(map[string]*Document)}
}

// Open records a newly opened document, replacing any previous one.
func (s *Store) Open(uri, languageID string, version int32, text string) *Document {
	d := newDocument(uri, languageID, version, []byte(text), s.maxBytes)
	s.mu.Lock()
	s.docs[uri] = d
	s.mu.Unlock()
	return d
}

// Get returns the current snapshot of uri, or nil.
func (s *Store) Get(uri string) *Document {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.docs[uri]
}

// Close forgets uri.
func (s *Store) Close(uri string) {
	s.mu.Lock()
	delete(s.docs, uri)
	s.mu.Unlock()
}

// Len is the number of open documents.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.docs)
}

// Change applies didChange's content changes in order and returns the new
// snapshot and one edit per change. The caller serializes changes (they come
// from the single JSON-RPC reader).
func (s *Store) Change(uri string, version int32, changes []TextChange, enc PositionEncoding) (*Document, []agent.Edit, error) {
	d := s.Get(uri)
	if d == nil {
		return nil, nil, fmt.Errorf("didChange for %s: document is not open", uri)
	}
	edits := make([]agent.Edit, 0, len(changes))
	// An oversized document is never shared, so its buffers are reused; a
	// normal one is copied once and the copy is reused for later changes in
	// the same notification.
	owned := d.Oversized
	if len(changes) == 0 {
		copied := *d
		d = &copied
	}
	for _, c := range changes {
		var e agent.Edit
		d, e = d.apply(c, enc, owned, s.maxBytes)
		edits = append(edits, e)
		owned = true
	}
	d.Version = version
	s.mu.Lock()
	s.docs[uri] = d
	s.mu.Unlock()
	return d, edits, nil
}
