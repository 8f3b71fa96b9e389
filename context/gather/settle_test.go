package gather

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// declared lists the bodies of the declarations Related answers at the
// end of text's line "\thelper(1)".
func declared(t *testing.T, g *Gatherer, uri, text string) []string {
	t.Helper()
	off := strings.Index(text, "helper(1)") + len("helper(1)")
	rel, err := g.Related(context.Background(), Request{URI: uri, Offset: off})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range rel.Declarations {
		out = append(out, d.Body)
	}
	return out
}

// TestSettleIndexesAnOpenedDocument: the declarations of a document just
// opened reach the index only after the overlay's quiet period, so a
// warm-up asking at once would build another prompt than the completion
// after it; Settle puts them there now.
func TestSettleIndexesAnOpenedDocument(t *testing.T) {
	g := newGatherer(t, "", Config{OverlayDelay: time.Hour, DisableGitDiff: true})
	path := filepath.Join(t.TempDir(), "main.go")
	uri := "file://" + path
	text := "package p\n\nfunc helper(x int) int { return x }\n\nfunc f() {\n\thelper(1)\n}\n"
	g.DidOpen(uri, path, "go", []byte(text))
	if got := declared(t, g, uri, text); len(got) != 0 {
		t.Fatalf("before Settle, within the overlay's quiet period: declarations %q; the test needs none", got)
	}
	if err := g.Settle(context.Background(), uri); err != nil {
		t.Fatal(err)
	}
	got := declared(t, g, uri, text)
	if len(got) != 1 || !strings.Contains(got[0], "func helper(x int) int") {
		t.Errorf("after Settle: declarations %q, want helper's", got)
	}
	if err := g.Settle(context.Background(), "file:///not/open.go"); err != nil {
		t.Errorf("Settle of a document not open: %v", err)
	}
}

// TestSettleWaitsForTheFolder: a document opened while its workspace is
// being indexed gets its folder indexed ahead of the walk; after Settle the
// declarations of its package are there.
func TestSettleWaitsForTheFolder(t *testing.T) {
	root := t.TempDir()
	for i := range 200 {
		writeFile(t, root, filepath.Join("other", string(rune('a'+i%26))+strings.Repeat("x", i/26)+".go"), "package other\n\nfunc other() {}\n")
	}
	writeFile(t, root, "pkg/lib.go", "package pkg\n\nfunc helper(x int) int { return x }\n")
	g := newGatherer(t, root, Config{OverlayDelay: time.Hour, DisableGitDiff: true})
	path := filepath.Join(root, "pkg", "main.go")
	uri := "file://" + path
	text := "package pkg\n\nfunc f() {\n\thelper(1)\n}\n"
	g.DidOpen(uri, path, "go", []byte(text))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.Settle(ctx, uri); err != nil {
		t.Fatal(err)
	}
	got := declared(t, g, uri, text)
	if len(got) != 1 || !strings.Contains(got[0], "func helper(x int) int") {
		t.Errorf("after Settle: declarations %q, want helper's from lib.go", got)
	}
}
