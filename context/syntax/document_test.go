package syntax

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	sitter "github.com/smacker/go-tree-sitter"
)

// dump renders every named node of a tree with its type, byte range and
// points, so that two trees compare equal only when structure and positions
// agree. Anonymous tokens are left out: tree-sitter may keep or drop a
// trailing terminator token (Go's final "\n") depending on how the text was
// reached, without any effect on the named structure.
func dump(n *sitter.Node) string {
	var b strings.Builder
	var walk func(n *sitter.Node, depth int)
	walk = func(n *sitter.Node, depth int) {
		fmt.Fprintf(&b, "%*s%s %d-%d %v-%v\n", depth, "", n.Type(), n.StartByte(), n.EndByte(), n.StartPoint(), n.EndPoint())
		for i := range int(n.NamedChildCount()) {
			walk(n.NamedChild(i), depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// pointAt is the tree-sitter point of a byte offset.
func pointAt(text []byte, off int) sitter.Point {
	row := strings.Count(string(text[:off]), "\n")
	col := off - (strings.LastIndex(string(text[:off]), "\n") + 1)
	return sitter.Point{Row: uint32(row), Column: uint32(col)}
}

// editFor describes replacing text[start:end] with ins.
func editFor(text []byte, start, end int, ins string) (sitter.EditInput, []byte) {
	next := append(append(append([]byte{}, text[:start]...), ins...), text[end:]...)
	return sitter.EditInput{
		StartIndex:  uint32(start),
		OldEndIndex: uint32(end),
		NewEndIndex: uint32(start + len(ins)),
		StartPoint:  pointAt(text, start),
		OldEndPoint: pointAt(text, end),
		NewEndPoint: pointAt(next, start+len(ins)),
	}, next
}

// TestIncrementalMatchesFreshParse applies random edits (typing, deleting,
// pasting lines) to each language's sample, then undoes them, and checks
// that the incrementally updated tree equals a fresh parse of the text,
// positions included: after every undo (the text is the valid original
// again) and after every edit whose text still parses without errors.
// Texts with syntax errors are not compared, since tree-sitter's error
// recovery may legitimately differ between an incremental and a fresh parse.
func TestIncrementalMatchesFreshParse(t *testing.T) {
	inserts := []string{"x", "\n", "foo(bar)", "\n\t// note\n", " ", "1 + 2", "\"s\"", "\n\n", "{"}
	ctx := context.Background()
	for _, l := range Languages() {
		t.Run(l.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(l.Name))))
			text := []byte(declSources[l.Name].src)
			doc, err := NewDocument(ctx, l, text)
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			check := func(step int, strict bool) {
				t.Helper()
				fresh, err := l.Parse(ctx, text)
				if err != nil {
					t.Fatal(err)
				}
				defer fresh.Close()
				if !strict && fresh.RootNode().HasError() {
					return
				}
				if got, want := dump(doc.Root()), dump(fresh.RootNode()); got != want {
					t.Fatalf("step %d: incremental tree differs from a fresh parse of %q\n got:\n%s\nwant:\n%s", step, text, got, want)
				}
			}
			compared := 0
			for step := range 80 {
				start := rng.IntN(len(text) + 1)
				end := min(len(text), start+rng.IntN(6))
				removed := string(text[start:end])
				ins := inserts[rng.IntN(len(inserts))]
				var e1, e2 sitter.EditInput
				e1, text = editFor(text, start, end, ins)
				edits := []sitter.EditInput{e1}
				// Some changes carry a second edit, in the coordinates left
				// by the first; the undo then reverts both.
				second := step%4 == 0
				if second {
					e2, text = editFor(text, start, start, "\n")
					edits = append(edits, e2)
				}
				if err := doc.Update(ctx, edits, text); err != nil {
					t.Fatal(err)
				}
				check(step, false)
				undo := []sitter.EditInput{}
				if second {
					e2, text = editFor(text, start, start+1, "")
					undo = append(undo, e2)
				}
				e1, text = editFor(text, start, start+len(ins), removed)
				undo = append(undo, e1)
				if err := doc.Update(ctx, undo, text); err != nil {
					t.Fatal(err)
				}
				if string(text) != declSources[l.Name].src {
					t.Fatalf("step %d: undo did not restore the text", step)
				}
				check(step, true)
				compared++
			}
		})
	}
}

func TestUpdateRejectsInvalidEdit(t *testing.T) {
	l, _ := ByName("go")
	doc, err := NewDocument(context.Background(), l, []byte("package p\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	for _, bad := range []sitter.EditInput{
		{StartIndex: 5, OldEndIndex: 2, NewEndIndex: 5},  // end before start
		{StartIndex: 8, OldEndIndex: 50, NewEndIndex: 9}, // past the old text
		{StartIndex: 8, OldEndIndex: 9, NewEndIndex: 12}, // the new text would be 13 bytes
		{StartIndex: 1 << 31, OldEndIndex: 1 << 31, NewEndIndex: 1<<32 - 1},
	} {
		if err := doc.Update(context.Background(), []sitter.EditInput{bad}, []byte("package q\n")); err == nil {
			t.Errorf("Update accepted the edit %+v", bad)
		}
	}
	if got := string(doc.Text()); got != "package p\n" {
		t.Errorf("a rejected edit changed the text to %q", got)
	}
}

// FuzzWindow feeds arbitrary text and cursors to NewWindow and checks that
// the windows stay exact slices around the cursor, within budget.
func FuzzWindow(f *testing.F) {
	for name, tc := range declSources {
		f.Add(name, tc.src, len(tc.src)/2, 40, 30)
	}
	f.Add("go", "package p\nfunc f() {\n\tx := 1\n}\n", 20, 5, 5)
	f.Add("python", "\xff\xfe\n\tdef", 3, 2, 1)
	f.Fuzz(func(t *testing.T, lang, text string, off, pb, sb int) {
		l, ok := ByName(lang)
		if !ok {
			l, _ = ByName("go")
		}
		src := []byte(text)
		if off < 0 || off > len(src) || pb < 0 || sb < 0 {
			return
		}
		tree, err := l.Parse(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		defer tree.Close()
		w := NewWindow(tree.RootNode(), src, off, pb, sb)
		if !strings.HasSuffix(text[:off], w.Prefix) || !strings.HasPrefix(text[off:], w.Suffix) {
			t.Fatalf("windows %q|%q are not slices around the cursor", w.Prefix, w.Suffix)
		}
		if n := utf8.RuneCountInString(w.Text()); n > pb && utf8.RuneCount(src[:off]) > pb {
			t.Fatalf("prefix window %d characters over budget %d", n, pb)
		}
		if n := utf8.RuneCountInString(w.Suffix); n > sb {
			t.Fatalf("suffix window %d characters over budget %d", n, sb)
		}
		_ = IdentifiersNear(tree.RootNode(), src, off, 3)
	})
}

// TestEditTreeShiftsRows checks the edited (not yet reparsed) tree: nodes
// after an edit that inserts a line move one row down. go-tree-sitter's own
// Tree.Edit gets this wrong (it passes the old end point as the new one).
func TestEditTreeShiftsRows(t *testing.T) {
	l, _ := ByName("go")
	text := []byte("package p\n\nfunc A() {}\n\nfunc B() {}\n")
	tree, err := l.Parse(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	e, _ := editFor(text, 10, 10, "\n\n")
	editTree(tree, e)
	root := tree.RootNode()
	last := root.NamedChild(int(root.NamedChildCount()) - 1)
	if got := last.StartPoint(); got.Row != 6 || last.StartByte() != 26 {
		t.Errorf("func B after the edit starts at %v (byte %d), want row 6 (byte 26)", got, last.StartByte())
	}
}
