package syntax

import (
	"context"
	"fmt"
	"strings"
	"testing"
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
			if len(w.Header)+len(w.Prefix) > pb && off > pb {
				t.Fatalf("%s: prefix window %d bytes over budget %d", where, len(w.Header)+len(w.Prefix), pb)
			}
			if len(w.Suffix) > sb {
				t.Fatalf("%s: suffix window %d bytes over budget %d", where, len(w.Suffix), sb)
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
