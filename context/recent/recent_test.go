package recent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func keys(s TokenSet) []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestTokens(t *testing.T) {
	got := keys(Tokens("func (s *Server) handle(req2 *http.Request) error { return s.x_y + 42 }"))
	want := []string{"Request", "Server", "error", "handle", "http", "req2", "x_y"}
	if !slices.Equal(got, want) {
		t.Errorf("Tokens = %v, want %v", got, want)
	}
}

func TestJaccard(t *testing.T) {
	a, b := Tokens("alpha beta gamma"), Tokens("beta gamma delta")
	if got := Jaccard(a, b); got != 0.5 {
		t.Errorf("Jaccard = %v, want 0.5", got)
	}
	if Jaccard(TokenSet{}, TokenSet{}) != 0 {
		t.Error("Jaccard of empty sets is not 0")
	}
}

func TestRank(t *testing.T) {
	query := Tokens("total price items discount")
	chunks := []Chunk{
		{Path: "a", StartRow: 0, Text: "total price\nitems\ndiscount"},
		{Path: "a", StartRow: 2, Text: "total price items"}, // overlaps the first
		{Path: "b", StartRow: 0, Text: "price of items"},
		{Path: "c", StartRow: 0, Text: "unrelated words here"},
		{Path: "d", StartRow: 0, Text: strings.Repeat("total ", 100)},
	}
	for i := range chunks {
		chunks[i].Tokens = Tokens(chunks[i].Text)
	}
	got := Rank(query, chunks, 60, 0.1)
	var paths []string
	for _, s := range got {
		paths = append(paths, s.Path)
	}
	if want := []string{"a", "b"}; !slices.Equal(paths, want) {
		t.Errorf("ranked paths = %v, want %v (over-budget, overlapping and unrelated chunks left out)", paths, want)
	}
	if got[0].Score != 1 || got[1].Score >= got[0].Score {
		t.Errorf("scores = %v, %v", got[0].Score, got[1].Score)
	}
}

func TestTracker(t *testing.T) {
	tr := NewTracker()
	clock := time.Unix(0, 0)
	tr.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	tr.Edited("a.go", 10, 10)
	tr.Edited("a.go", 12, 13) // merges: within mergeGap
	tr.Edited("a.go", 50, 50)
	tr.Edited("b.go", 1, 1)
	spans := tr.EditedSpans()
	if len(spans) != 3 {
		t.Fatalf("spans = %+v, want 3", spans)
	}
	if spans[0].Path != "b.go" || spans[1].StartRow != 50 || spans[2].StartRow != 10 || spans[2].EndRow != 13 {
		t.Errorf("spans = %+v", spans)
	}
	for i := range maxFiles + 5 {
		tr.Viewed(filepath.Join("f", string(rune('a'+i))), 0, 1)
	}
	if n := len(tr.ViewedSpans()); n != maxFiles {
		t.Errorf("tracking %d viewed files, want the limit %d", n, maxFiles)
	}
	tr.Forget("a.go")
	if n := len(tr.EditedSpans()); n != 1 {
		t.Errorf("after Forget, %d edited spans, want 1", n)
	}
}

const sampleDiff = `diff --git a/pkg/a.go b/pkg/a.go
index 1111111..2222222 100644
--- a/pkg/a.go
+++ b/pkg/a.go
@@ -3,4 +3,5 @@ package pkg
 func A() {
-	old()
+	newCall()
+	another()
 }
diff --git a/gone.go b/gone.go
deleted file mode 100644
index 3333333..0000000
--- a/gone.go
+++ /dev/null
@@ -1,2 +0,0 @@
-package gone
-func G() {}
`

func TestParseDiff(t *testing.T) {
	hunks, err := ParseDiff("/w", []byte(sampleDiff))
	if err != nil {
		t.Fatal(err)
	}
	if len(hunks) != 1 {
		t.Fatalf("hunks = %+v, want 1", hunks)
	}
	h := hunks[0]
	if h.Path != filepath.FromSlash("/w/pkg/a.go") || h.StartRow != 2 || h.Text != "func A() {\n\tnewCall()\n\tanother()\n}\n" {
		t.Errorf("hunk = %+v", h)
	}
	if _, err := ParseDiff("/w", []byte("--- a/x\n+++ b/x\n@@ -a,1 +b,1 @@\n x\n")); err == nil {
		t.Error("a malformed diff parsed without error")
	}
}

func TestGitDiff(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	if _, err := GitDiff(context.Background(), root); !errors.Is(err, ErrNotRepository) {
		t.Fatalf("GitDiff outside a repository: %v, want ErrNotRepository", err)
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n\nfunc A() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "a.go")
	git("commit", "-q", "-m", "init")
	if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n\nfunc A() { changedOutsideEditor() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := GitDiff(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	hunks, err := ParseDiff(root, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(hunks) != 1 || !strings.Contains(hunks[0].Text, "changedOutsideEditor") || hunks[0].Path != filepath.Join(root, "a.go") {
		t.Errorf("hunks = %+v", hunks)
	}
}

func FuzzParseDiff(f *testing.F) {
	f.Add(sampleDiff)
	f.Add("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n")
	f.Add("diff --git a/../../etc/passwd b/../../etc/passwd\n--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-x\n+y\n")
	f.Fuzz(func(t *testing.T, data string) {
		hunks, err := ParseDiff("/w", []byte(data))
		if err != nil {
			return
		}
		for _, h := range hunks {
			if !strings.HasPrefix(h.Path, filepath.FromSlash("/w/")) {
				t.Fatalf("hunk path %q leaves the workspace", h.Path)
			}
		}
	})
}

// TestRankBudgetInCharacters: the budget counts characters, like the
// prompt windows, so text in a multi-byte script is not cut to a third.
func TestRankBudgetInCharacters(t *testing.T) {
	line := strings.Repeat("合計", 14) + " total" // 34 characters, 90 bytes
	query := Tokens(line)
	chunks := []Chunk{{Path: "a", Text: line}, {Path: "b", Text: line}, {Path: "c", Text: line}}
	for i := range chunks {
		chunks[i].Tokens = Tokens(chunks[i].Text)
	}
	if got := Rank(query, chunks, 70, 0.1); len(got) != 2 {
		t.Errorf("%d chunks of 34 characters within 70 characters, want 2", len(got))
	}
}
