package syntax

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// cut splits a source with a <|> cursor marker into text and offset.
func cut(t testing.TB, marked string) ([]byte, int) {
	t.Helper()
	i := strings.Index(marked, "<|>")
	if i < 0 {
		t.Fatal("no <|> marker")
	}
	return []byte(marked[:i] + marked[i+3:]), i
}

func window(t *testing.T, lang, marked string, prefixBudget, suffixBudget int) Window {
	t.Helper()
	l, ok := ByName(lang)
	if !ok {
		t.Fatalf("no language %s", lang)
	}
	src, off := cut(t, marked)
	tree, err := l.Parse(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	return NewWindow(tree.RootNode(), src, off, prefixBudget, suffixBudget)
}

func TestWindowGo(t *testing.T) {
	src := `package p

func (s *Server) handle(w Writer, r *Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	a := r.Query("a")
	b := compute(a,
		1, 2)
	if b > 0 {
		w.Write(b)
	}
	s.<|>log(b)
	s.count++
	return
}

func other() {}
`
	// The budget reaches into the middle of the call that spans two lines,
	// so the window starts at the next statement, "if b > 0 {".
	w := window(t, "go", src, 100, 24)
	if want := "func (s *Server) handle(w Writer, r *Request) {\n"; w.Header != want {
		t.Errorf("header = %q, want %q", w.Header, want)
	}
	if want := "\tif b > 0 {\n\t\tw.Write(b)\n\t}\n\ts."; w.Prefix != want {
		t.Errorf("prefix = %q, want %q", w.Prefix, want)
	}
	if want := "log(b)\n\ts.count++\n"; w.Suffix != want {
		t.Errorf("suffix = %q, want %q", w.Suffix, want)
	}
	if n := len(w.Header) + len(w.Prefix); n > 100 {
		t.Errorf("header+prefix is %d bytes, over the budget of 100", n)
	}

	// A budget that covers everything returns the whole text, no header.
	w = window(t, "go", src, 10000, 10000)
	if w.Header != "" || !strings.HasPrefix(w.Prefix, "package p") || !strings.HasSuffix(w.Suffix, "func other() {}\n") {
		t.Errorf("whole-file window = %+v", w)
	}
}

func TestWindowPython(t *testing.T) {
	src := `import os

class Store:
    def load(self, path):
        self.check(path)
        data = read(path)
        items = [parse(x)
                 for x in data]
        for item in items:
            self.add(item)
        return <|>items

    def save(self):
        pass
`
	w := window(t, "python", src, 150, 12)
	if want := "class Store:\n    def load(self, path):\n"; w.Header != want {
		t.Errorf("header = %q, want %q", w.Header, want)
	}
	if want := "        for item in items:\n            self.add(item)\n        return "; w.Prefix != want {
		t.Errorf("prefix = %q, want %q", w.Prefix, want)
	}
	if want := "items\n"; w.Suffix != want {
		t.Errorf("suffix = %q, want %q", w.Suffix, want)
	}
}

func TestWindowTypeScript(t *testing.T) {
	src := `export class Cart {
  private items: Item[] = [];
  total(): number {
    this.check();
    let sum = 0;
    for (const it of this.items) {
      sum += it.price;
    }
    return <|>sum;
  }
}
`
	// The class line alone fits the first cut, but the window must move
	// past the method signature to leave room for both headers.
	w := window(t, "typescript", src, 140, 100)
	if want := "export class Cart {\n  total(): number {\n"; w.Header != want {
		t.Errorf("header = %q, want %q", w.Header, want)
	}
	if !strings.HasPrefix(w.Prefix, "    let sum = 0;\n") {
		t.Errorf("prefix = %q, want it to start at the let statement", w.Prefix)
	}
	if n := len(w.Header) + len(w.Prefix); n > 140 {
		t.Errorf("header+prefix is %d bytes, over the budget of 140", n)
	}
}

// TestWindowProperties checks, for every language and every cursor
// position in its declaration sample, that the windows are exact slices
// around the cursor, within budget, and start on a line.
func TestWindowProperties(t *testing.T) {
	for _, l := range Languages() {
		src := []byte(declSources[l.Name].src)
		tree, err := l.Parse(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off <= len(src); off++ {
			const pb, sb = 60, 40
			w := NewWindow(tree.RootNode(), src, off, pb, sb)
			where := fmt.Sprintf("%s at %d", l.Name, off)
			if !strings.HasSuffix(string(src[:off]), w.Prefix) {
				t.Fatalf("%s: prefix %q is not the text before the cursor", where, w.Prefix)
			}
			if !strings.HasPrefix(string(src[off:]), w.Suffix) {
				t.Fatalf("%s: suffix %q is not the text after the cursor", where, w.Suffix)
			}
			if n := utf8.RuneCountInString(w.Text()); n > pb && utf8.RuneCount(src[:off]) > pb {
				t.Fatalf("%s: prefix window %d characters over budget %d", where, n, pb)
			}
			if n := utf8.RuneCountInString(w.Suffix); n > sb {
				t.Fatalf("%s: suffix window %d characters over budget %d", where, n, sb)
			}
			if start := off - len(w.Prefix); start > 0 && src[start-1] != '\n' && len(w.Prefix) > 0 {
				// A mid-line start is allowed only when no line starts inside
				// the budget, and then only after a blank.
				if strings.Contains(string(src[off-pb:off-1]), "\n") || !isBlank(src[start-1]) {
					t.Fatalf("%s: prefix %q starts mid-line", where, w.Prefix)
				}
			}
			for _, line := range strings.SplitAfter(w.Header, "\n") {
				if line != "" && !strings.Contains(string(src), line) {
					t.Fatalf("%s: header line %q is not in the source", where, line)
				}
			}
		}
		tree.Close()
	}
}

func TestIdentifiersNear(t *testing.T) {
	src, off := cut(t, `package p

func f(s *Server) {
	cfg := LoadConfig("x")
	var opts Options
	s.handler.Serve<|>(cfg, opts)
}
`)
	l, _ := ByName("go")
	tree, err := l.Parse(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	ids := IdentifiersNear(tree.RootNode(), src, off, 2)
	var got []string
	for _, id := range ids {
		got = append(got, fmt.Sprintf("%s/%d", id.Name, id.Role))
	}
	want := []string{
		fmt.Sprintf("Serve/%d", RoleCall),
		fmt.Sprintf("handler/%d", RoleSelector),
		fmt.Sprintf("Options/%d", RoleType),
		fmt.Sprintf("opts/%d", RoleOther),
		fmt.Sprintf("LoadConfig/%d", RoleCall),
		fmt.Sprintf("cfg/%d", RoleOther),
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("identifiers\n got %v\nwant %v", got, want)
	}
}

// TestWindowBudgetsInCharacters: budgets count characters, not bytes, so a
// window of multibyte text holds as many characters as one of ASCII text,
// and the syntax-aware window agrees with the plain one where the tree
// offers no better boundary.
func TestWindowBudgetsInCharacters(t *testing.T) {
	var b strings.Builder
	b.WriteString("package p\n\nfunc f() {\n")
	for i := range 40 {
		fmt.Fprintf(&b, "\ts := \"%s\" // 第%d行\n", strings.Repeat("日本語", 3), i)
	}
	b.WriteString("\t<|>\n")
	for i := range 40 {
		fmt.Fprintf(&b, "\tt := \"%s\" // 第%d行\n", strings.Repeat("中文", 4), i)
	}
	b.WriteString("}\n")
	const pb, sb = 200, 150
	w := window(t, "go", b.String(), pb, sb)
	if n := utf8.RuneCountInString(w.Text()); n > pb || n < pb/2 {
		t.Errorf("prefix window has %d characters (%d bytes); budget %d characters", n, len(w.Text()), pb)
	}
	if n := utf8.RuneCountInString(w.Suffix); n > sb || n < sb/2 {
		t.Errorf("suffix window has %d characters (%d bytes); budget %d characters", n, len(w.Suffix), sb)
	}
	if len(w.Prefix) <= pb {
		t.Errorf("prefix window of multibyte text is only %d bytes: budget counted in bytes", len(w.Prefix))
	}
	src, off := cut(t, b.String())
	p := PlainWindow(src, off, pb, sb)
	if n := utf8.RuneCountInString(p.Prefix); n > pb || n < pb/2 {
		t.Errorf("plain prefix window has %d characters; budget %d", n, pb)
	}
	if n := utf8.RuneCountInString(p.Suffix); n > sb || n < sb/2 {
		t.Errorf("plain suffix window has %d characters; budget %d", n, sb)
	}
}

func TestPlainWindow(t *testing.T) {
	src := []byte("ab\ncdefgh\nij")
	for _, c := range []struct {
		off, pb, sb    int
		prefix, suffix string
	}{
		{7, 6, 4, "cdef", "gh\n"}, // both cut at line boundaries
		{7, 2, 2, "ef", "gh"},     // no line boundary inside the budgets
		{99, 6, 4, "ij", ""},      // offset clamped
		{0, 6, 4, "", "ab\n"},
		{7, 0, 0, "", ""},
	} {
		w := PlainWindow(src, c.off, c.pb, c.sb)
		if w.Prefix != c.prefix || w.Suffix != c.suffix || w.Header != "" {
			t.Errorf("PlainWindow(%d, %d, %d) = %q|%q, want %q|%q", c.off, c.pb, c.sb, w.Prefix, w.Suffix, c.prefix, c.suffix)
		}
	}
	// A cursor inside a character moves to its start.
	if w := PlainWindow([]byte("aé b"), 2, 10, 10); w.Prefix != "a" || w.Suffix != "é b" {
		t.Errorf("mid-character cursor: %q|%q", w.Prefix, w.Suffix)
	}
}

func TestPlainWindowCharacters(t *testing.T) {
	text := []byte("line1\nline2\nline3 😀 cursor| after\nline5\nline6\n")
	off := strings.Index(string(text), "|")
	if w := PlainWindow(text, off, 1000, 1000); w.Prefix != string(text[:off]) || w.Suffix != string(text[off:]) {
		t.Fatal("generous budget did not take everything")
	}
	w := PlainWindow(text, off, 20, 12)
	if w.Prefix != "line3 😀 cursor" {
		t.Errorf("prefix window %q (cut to a line start)", w.Prefix)
	}
	if w.Suffix != "| after\n" {
		t.Errorf("suffix window %q (cut to a line end)", w.Suffix)
	}
	if w := PlainWindow(text, off, 5, 0); w.Prefix != "ursor" {
		t.Errorf("a budget within the line keeps characters: %q", w.Prefix)
	}
	// 8 characters back from the cursor take the emoji whole only
	// when the emoji counts as one character (it is 4 bytes).
	if w := PlainWindow(text, off, 8, 0); w.Prefix != "😀 cursor" {
		t.Errorf("the emoji counted as more than one character: %q", w.Prefix)
	}
	// Offsets out of range or inside a character never panic.
	PlainWindow(text, -3, 10, 10)
	PlainWindow(text, len(text)+4, 10, 10)
	PlainWindow(text, strings.Index(string(text), "😀")+1, 10, 10)
}
