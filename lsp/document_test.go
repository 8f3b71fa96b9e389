package lsp

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

// naiveLines splits text the way LSP counts lines, the slow obvious way.
func naiveLines(text string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n':
			lines = append(lines, text[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, text[start:i])
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	return append(lines, text[start:])
}

// naiveUnits counts s in enc with the standard library's encoders.
func naiveUnits(s string, enc PositionEncoding) int {
	switch enc {
	case UTF8:
		return len(s)
	case UTF32:
		return utf8.RuneCountInString(s)
	}
	return len(utf16.Encode([]rune(s)))
}

// naiveOffset converts a position by walking the text rune by rune.
func naiveOffset(text string, p protocol.Position, enc PositionEncoding) int {
	lines := naiveLines(text)
	if int(p.Line) >= len(lines) {
		return len(text)
	}
	off := 0
	for i := 0; i < int(p.Line); i++ {
		off += len(lines[i])
		if strings.HasPrefix(text[off:], "\r\n") {
			off += 2
		} else {
			off++
		}
	}
	line := lines[p.Line]
	units := 0
	for i, r := range line {
		n := naiveUnits(string(r), enc)
		if units+n > int(p.Character) {
			return off + i
		}
		units += n
	}
	return off + len(line)
}

func TestPositionsOnTrickyLines(t *testing.T) {
	// Tabs, emoji (a surrogate pair in UTF-16), CJK and CRLF lines.
	text := "\tfunc 😀(x) {\r\n\t\t日本語 := \"a😀b\"\r\nend"
	d := newDocument("file:///t.go", "go", 1, []byte(text), DefaultMaxDocumentBytes)
	if d.LineCount() != 3 {
		t.Fatalf("LineCount = %d, want 3", d.LineCount())
	}
	cases := []struct {
		enc  PositionEncoding
		pos  protocol.Position
		want string // text after the offset
	}{
		{UTF16, protocol.Position{Line: 0, Character: 1}, "func 😀(x) {\r\n"},
		{UTF16, protocol.Position{Line: 0, Character: 8}, "(x) {\r\n"}, // tab + "func " + 😀 (2 units)
		{UTF32, protocol.Position{Line: 0, Character: 7}, "(x) {\r\n"},
		{UTF8, protocol.Position{Line: 0, Character: 10}, "(x) {\r\n"},
		{UTF16, protocol.Position{Line: 0, Character: 7}, "😀(x) {\r\n"}, // inside the pair snaps back
		{UTF16, protocol.Position{Line: 1, Character: 3}, "本語 :="},
		{UTF8, protocol.Position{Line: 1, Character: 5}, "本語 :="},
		{UTF16, protocol.Position{Line: 1, Character: 13}, "b\"\r\n"},
		{UTF16, protocol.Position{Line: 1, Character: 12}, "😀b"},
		{UTF16, protocol.Position{Line: 0, Character: 99}, "\r\n\t\t"}, // clamps before CRLF
		{UTF16, protocol.Position{Line: 2, Character: 3}, ""},
	}
	for _, c := range cases {
		off, _ := d.Offset(c.pos, c.enc)
		if !strings.HasPrefix(text[off:], c.want) {
			t.Errorf("%s %v: offset %d, text there %q, want prefix %q", c.enc, c.pos, off, text[off:], c.want)
		}
		if naive := naiveOffset(text, c.pos, c.enc); naive != off {
			t.Errorf("%s %v: offset %d, naive %d", c.enc, c.pos, off, naive)
		}
	}
	// Round trip from every rune boundary.
	for _, enc := range []PositionEncoding{UTF8, UTF16, UTF32} {
		for off := range text {
			p := d.Position(off, enc)
			back, _ := d.Offset(p, enc)
			if text[off] == '\n' && off > 0 && text[off-1] == '\r' {
				continue // inside a CRLF terminator
			}
			if text[off] == '\r' || text[off] == '\n' {
				if back != off {
					t.Errorf("%s: terminator offset %d -> %v -> %d", enc, off, p, back)
				}
				continue
			}
			if back != off {
				t.Errorf("%s: offset %d -> %v -> %d", enc, off, p, back)
			}
		}
	}
}

func TestOffsetPastEnd(t *testing.T) {
	d := newDocument("u", "go", 1, []byte("ab\ncd"), DefaultMaxDocumentBytes)
	if off, exact := d.Offset(protocol.Position{Line: 5}, UTF16); off != 5 || exact {
		t.Errorf("line past end: %d %v", off, exact)
	}
	if off, exact := d.Offset(protocol.Position{Line: 0, Character: 9}, UTF16); off != 2 || exact {
		t.Errorf("character past end: %d %v", off, exact)
	}
	if off, exact := d.Offset(protocol.Position{Line: 0, Character: 2}, UTF16); off != 2 || !exact {
		t.Errorf("end of line: %d %v", off, exact)
	}
}

func TestNegotiateEncoding(t *testing.T) {
	cases := []struct {
		offered []string
		want    PositionEncoding
	}{
		{nil, UTF16},
		{[]string{"utf-16"}, UTF16},
		{[]string{"utf-32", "utf-16", "utf-8"}, UTF8},
		{[]string{"utf-32"}, UTF32},
		{[]string{"utf-32", "utf-16"}, UTF16},
		{[]string{"latin-1"}, UTF16},
	}
	for _, c := range cases {
		if got := NegotiateEncoding(c.offered); got != c.want {
			t.Errorf("NegotiateEncoding(%v) = %s, want %s", c.offered, got, c.want)
		}
	}
}

// naivePoint is the tree-sitter point of offset: rows count only \n.
func naivePoint(text string, offset int) agent.Point {
	before := text[:offset]
	row := strings.Count(before, "\n")
	return agent.Point{Row: uint32(row), Column: uint32(offset - (strings.LastIndexByte(before, '\n') + 1))}
}

// checkDocument compares a snapshot with a from-scratch rebuild.
func checkDocument(t *testing.T, d *Document, want string) {
	t.Helper()
	if string(d.Text) != want {
		t.Fatalf("text = %q, want %q", d.Text, want)
	}
	fresh := newDocument(d.URI, d.LanguageID, d.Version, []byte(want), DefaultMaxDocumentBytes)
	if !reflect.DeepEqual(d.lines, fresh.lines) {
		t.Fatalf("line index %v, rebuilt %v (text %q)", d.lines, fresh.lines, want)
	}
	if fresh.loneCR && !d.loneCR {
		t.Fatalf("lone CR not tracked in %q", want)
	}
	if len(d.lines) != len(naiveLines(want)) {
		t.Fatalf("%d lines, naive %d", len(d.lines), len(naiveLines(want)))
	}
}

var pieces = []string{"a", "bc", "\t", " ", "\n", "\r\n", "\r", "😀", "日本", "é", "}", "\x00"}

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

// applyAndCheck applies one random change through the store and checks the
// text, the line index and the tree-sitter edit against naive versions.
func applyAndCheck(t *testing.T, s *Store, uri string, r *rand.Rand, enc PositionEncoding) {
	t.Helper()
	d := s.Get(uri)
	text := string(d.Text)
	lines := naiveLines(text)
	pos := func() protocol.Position {
		line := r.Intn(len(lines) + 1)
		return protocol.Position{Line: uint32(line), Character: uint32(r.Intn(8))}
	}
	a, b := pos(), pos()
	sa, sb := naiveOffset(text, a, enc), naiveOffset(text, b, enc)
	if sb < sa {
		a, b, sa, sb = b, a, sb, sa
	}
	ins := randomText(r, r.Intn(4))
	want := text[:sa] + ins + text[sb:]
	nd, edits, err := s.Change(uri, d.Version+1, []TextChange{{Range: &protocol.Range{Start: a, End: b}, Text: ins}}, enc)
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, nd, want)
	e := edits[0]
	wantEdit := agent.Edit{
		StartByte: uint32(sa), OldEndByte: uint32(sb), NewEndByte: uint32(sa + len(ins)),
		StartPoint: naivePoint(text, sa), OldEndPoint: naivePoint(text, sb), NewEndPoint: naivePoint(want, sa+len(ins)),
	}
	if e != wantEdit {
		t.Fatalf("edit %+v, want %+v (text %q, change %v-%v %q)", e, wantEdit, text, a, b, ins)
	}
	if string(d.Text) != text {
		t.Fatalf("the previous snapshot changed: %q -> %q", text, d.Text)
	}
}

func TestIncrementalEditsMatchRebuild(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, enc := range []PositionEncoding{UTF8, UTF16, UTF32} {
		s := NewStore(0)
		s.Open("file:///x", "go", 1, randomText(r, 30))
		for i := 0; i < 2000; i++ {
			applyAndCheck(t, s, "file:///x", r, enc)
		}
	}
}

func TestSeveralChangesInOneNotification(t *testing.T) {
	s := NewStore(0)
	s.Open("u", "go", 1, "hello\nworld\n")
	changes := []TextChange{
		{Range: &protocol.Range{Start: protocol.Position{Line: 0, Character: 5}, End: protocol.Position{Line: 0, Character: 5}}, Text: ","},
		{Range: &protocol.Range{Start: protocol.Position{Line: 1, Character: 0}, End: protocol.Position{Line: 1, Character: 5}}, Text: "there\r\nfriend"},
		{Text: "replaced\n"},
		{Range: &protocol.Range{Start: protocol.Position{Line: 1, Character: 0}, End: protocol.Position{Line: 1, Character: 0}}, Text: "x"},
	}
	d, edits, err := s.Change("u", 2, changes, UTF16)
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, d, "replaced\nx")
	if d.Version != 2 || len(edits) != 4 {
		t.Fatalf("version %d, %d edits", d.Version, len(edits))
	}
	full := edits[2]
	if full.StartByte != 0 || full.OldEndByte != uint32(len("hello,\nthere\r\nfriend\n")) || full.NewEndPoint != (agent.Point{Row: 1}) {
		t.Fatalf("full replacement edit %+v", full)
	}
}

func TestBinaryAndOversized(t *testing.T) {
	s := NewStore(16)
	d := s.Open("u", "go", 1, "abc")
	if !d.Completable() {
		t.Fatal("small text document is inert")
	}
	d, _, _ = s.Change("u", 2, []TextChange{{Range: &protocol.Range{}, Text: "\x00"}}, UTF16)
	if !d.Binary {
		t.Fatal("NUL byte not detected")
	}
	d = s.Open("v", "go", 1, "0123456789")
	prev := d
	d, _, _ = s.Change("v", 2, []TextChange{{Range: &protocol.Range{}, Text: "0123456789"}}, UTF16)
	if !d.Oversized {
		t.Fatal("oversized document not flagged")
	}
	if string(prev.Text) != "0123456789" {
		t.Fatal("shared snapshot modified")
	}
	// Oversized documents stay in sync while being edited in place.
	want := string(d.Text)
	for i := 0; i < 50; i++ {
		d, _, _ = s.Change("v", int32(3+i), []TextChange{{Range: &protocol.Range{}, Text: "ab\n"}}, UTF16)
		want = "ab\n" + want
		checkDocument(t, d, want)
	}
	if _, _, err := s.Change("nope", 1, nil, UTF16); err == nil {
		t.Fatal("change to an unknown document succeeded")
	}
}

func FuzzDocumentEdits(f *testing.F) {
	f.Add("a\r\nb\rc\n😀日", int64(1))
	f.Add("\x00\t\r", int64(2))
	f.Fuzz(func(t *testing.T, initial string, seed int64) {
		if !utf8.ValidString(initial) {
			return // JSON strings are always valid UTF-8
		}
		r := rand.New(rand.NewSource(seed))
		s := NewStore(0)
		s.Open("u", "go", 1, initial)
		for i := 0; i < 20; i++ {
			applyAndCheck(t, s, "u", r, []PositionEncoding{UTF8, UTF16, UTF32}[i%3])
		}
	})
}

func BenchmarkKeystrokeOn20000Lines(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 20000; i++ {
		sb.WriteString("\tvalue := compute(input, 42) // a typical line of code\n")
	}
	s := NewStore(0)
	s.Open("u", "go", 1, sb.String())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pos := protocol.Position{Line: 10000, Character: 5}
		if _, _, err := s.Change("u", int32(i), []TextChange{{Range: &protocol.Range{Start: pos, End: pos}, Text: "x"}}, UTF16); err != nil {
			b.Fatal(err)
		}
	}
}
