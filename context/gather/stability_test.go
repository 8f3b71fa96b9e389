package gather

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// typeInto replaces the text of an open document as an editor with full
// sync would, and returns the offset of the <|> marker in marked.
func typeInto(t *testing.T, g *Gatherer, uri, marked string) int {
	t.Helper()
	off := strings.Index(marked, "<|>")
	if off < 0 {
		t.Fatal("no <|> marker")
	}
	g.DidChange(uri, nil, []byte(marked[:off]+marked[off+3:]))
	return off
}

// settleOverlay puts the document's declarations in the index, as the
// overlay loop does when the user's edits pause.
func settleOverlay(g *Gatherer, uri string) {
	g.mu.RLock()
	d := g.docs[uri]
	g.mu.RUnlock()
	g.refreshOverlay(d)
}

// The function being typed is never its own context. The index takes an
// open document's declarations only when its edits pause, so while a body
// grows the index's version of the function ends before the cursor; it was
// offered as a declaration of itself (its half-typed body, different at
// every pause), which repeats what the prefix shows and, changing, made the
// server evaluate the prompt again from there (serval-bench at the 0.5B
// shape: 315 tokens evaluated for a request whose declarations changed, 3.5
// for one whose did not). Go, and Python with a decorator (whose
// declaration starts at the decorator).
func TestTypedFunctionIsNotItsOwnDeclaration(t *testing.T) {
	for _, tc := range []struct {
		name, file, lang, paused, typing, self string
		other                                  string
	}{
		{
			name: "go", file: "dirent.go", lang: "go",
			paused: "package p\n\nfunc readIntBE(b []byte, size uintptr) uint64 {\n\treturn 0\n}\n\n" +
				"func readInt(b []byte, off, size uintptr) (u uint64, ok bool) {\n\tif len(b<|>}\n",
			typing: "package p\n\nfunc readIntBE(b []byte, size uintptr) uint64 {\n\treturn 0\n}\n\n" +
				"func readInt(b []byte, off, size uintptr) (u uint64, ok bool) {\n\tif len(b) < int(off+size) {\n\t\treturn 0, false\n\t}\n" +
				"\tif readIntBE(b, size) > 0 {\n\t\treturn readInt(b[1:], off, size)\n\t}\n\treturn readI<|>}\n",
			self: "func readInt(b []byte, off", other: "func readIntBE(",
		},
		{
			name: "python", file: "zipapp.py", lang: "python",
			paused: "import contextlib\n\ndef _copy_archive(archive, new_archive):\n    pass\n\n" +
				"@contextlib.contextmanager\ndef _maybe_open(archive, mode):\n    if isinstance(archive, (str, os.PathLike)):\n        wit<|>\n",
			typing: "import contextlib\n\ndef _copy_archive(archive, new_archive):\n    pass\n\n" +
				"@contextlib.contextmanager\ndef _maybe_open(archive, mode):\n    if isinstance(archive, (str, os.PathLike)):\n" +
				"        with open(archive, mode) as f:\n            yield f\n    else:\n" +
				"        _maybe_open(archive, mode)\n        _copy_archive(archive, None)\n        _maybe_o<|>\n",
			self: "def _maybe_open(archive, mode)", other: "def _copy_archive(",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			g := newGatherer(t, root, Config{OverlayDelay: time.Hour, DisableGitDiff: true})
			uri, _ := openAt(t, g, filepath.Join(root, tc.file), tc.lang, tc.paused)
			settleOverlay(g, uri) // a pause early in the body
			off := typeInto(t, g, uri, tc.typing)
			res := gather(t, g, uri, off)
			if hasDecl(res.Declarations, tc.self) {
				t.Errorf("the function being typed is offered as its own declaration: %+v", res.Declarations)
			}
			if !hasDecl(res.Declarations, tc.other) {
				t.Errorf("the function it calls is missing: %+v", res.Declarations)
			}
		})
	}
}

// Equal input gives equal context, in the same order, however the index
// came to hold its symbols: the names a half-typed identifier may become
// were taken, and weighed (3, 1.5, 1 by position), in the index's insertion
// order, which each overlay refresh changes, so which declarations went to
// the server under its budget, and so its prompt, could change between two
// keystrokes that changed nothing else.
func TestDeclarationOrderDoesNotFollowTheIndex(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "le.go", "package p\n\nfunc readIntLE(b []byte) uint64 {\n\treturn 0\n}\n")
	writeFile(t, root, "be.go", "package p\n\nfunc readIntBE(b []byte) uint64 {\n\treturn 1\n}\n")
	g := newGatherer(t, root, Config{OverlayDelay: time.Hour, DisableGitDiff: true})
	uri, off := openAt(t, g, filepath.Join(root, "main.go"), "go", "package p\n\nfunc f(b []byte) uint64 {\n\treturn readI<|>\n}\n")
	first := gather(t, g, uri, off).Declarations
	if len(first) < 2 {
		t.Fatalf("want both candidates, got %+v", first)
	}
	// Re-enter the files in the other order, as overlays of edited
	// documents do.
	for _, name := range []string{"le.go", "be.go"} {
		path := filepath.Join(root, name)
		u, _ := openAt(t, g, path, "go", strings.Replace(readFile(t, path), "\n}\n", "\n}<|>\n", 1))
		g.DidChange(u, nil, []byte(readFile(t, path)+"\n"))
		settleOverlay(g, u)
	}
	for range 3 {
		again := gather(t, g, uri, off).Declarations
		if len(again) != len(first) {
			t.Fatalf("declarations %+v, then %+v", first, again)
		}
		for i := range first {
			if first[i].Body != again[i].Body {
				t.Fatalf("declarations changed order:\n%+v\nthen\n%+v", first, again)
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
