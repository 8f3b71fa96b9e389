package gather

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func writeFile(t testing.TB, root, name, content string) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// newGatherer starts a Gatherer on root and waits (boundedly) for the
// initial index.
func newGatherer(t testing.TB, root string, cfg Config) *Gatherer {
	t.Helper()
	if cfg.SourceTimeout == 0 {
		// The default (50 ms) is the editor's budget; on a loaded machine
		// under -race a source can miss it, and a test asserting what
		// that source finds would fail at random. Tests of the timeout
		// itself set their own.
		cfg.SourceTimeout = time.Minute
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	if root != "" {
		if err := g.AddWorkspaceFolder(context.Background(), root); err != nil {
			t.Fatal(err)
		}
		select {
		case <-g.Ready():
		case <-time.After(60 * time.Second):
			t.Fatal("index not ready after 60s")
		}
	}
	return g
}

// openAt opens a document whose text carries a <|> cursor marker and
// returns its URI and the cursor offset.
func openAt(t testing.TB, g *Gatherer, path, lang, marked string) (string, int) {
	t.Helper()
	off := strings.Index(marked, "<|>")
	if off < 0 {
		t.Fatal("no <|> marker")
	}
	text := marked[:off] + marked[off+3:]
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := "file://" + path
	g.DidOpen(uri, path, lang, []byte(text))
	return uri, off
}

func gather(t testing.TB, g *Gatherer, uri string, off int) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := g.Gather(ctx, Request{URI: uri, Offset: off})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hasDecl(decls []Declaration, substr string) bool {
	for _, d := range decls {
		if strings.Contains(d.Body, substr) {
			return true
		}
	}
	return false
}

func hasSnippet(snips []Snippet, substr string) bool {
	for _, s := range snips {
		if strings.Contains(s.Body, substr) {
			return true
		}
	}
	return false
}

// eventually polls cond for up to 60 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 6000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after 60s: %s", what)
}

func TestDeclarationFromAnotherFile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "go.mod", "module example.com/shop\n")
	writeFile(t, root, "cart/total.go", `package cart

// computeTotal sums the prices of items after the discount.
func computeTotal(items []Item, discount float64) float64 {
	sum := 0.0
	for _, it := range items {
		sum += it.Price
	}
	return sum * (1 - discount)
}

type Item struct {
	Name  string
	Price float64
}
`)
	writeFile(t, root, "other/total.go", "package other\n\nfunc computeTotal() int { return 0 }\n")
	g := newGatherer(t, root, Config{})
	uri, off := openAt(t, g, filepath.Join(root, "cart", "checkout.go"), "go", `package cart

func checkout(items []Item) float64 {
	total := computeTotal<|>(items, 0.1)
	return total
}
`)
	res := gather(t, g, uri, off)
	if !strings.HasSuffix(res.Prefix, "total := computeTotal") || !strings.HasPrefix(res.Suffix, "(items, 0.1)") {
		t.Errorf("windows = %q | %q", res.Prefix, res.Suffix)
	}
	if len(res.Declarations) == 0 || !strings.HasPrefix(res.Declarations[0].Body, "func computeTotal(items []Item, discount float64) float64 {") {
		t.Fatalf("first declaration is not computeTotal of the same package: %+v", res.Declarations)
	}
	if res.Declarations[0].Filepath != "cart/total.go" {
		t.Errorf("filepath = %q, want cart/total.go", res.Declarations[0].Filepath)
	}
	if !hasDecl(res.Declarations, "type Item struct") {
		t.Errorf("the Item type is missing: %+v", res.Declarations)
	}
	if hasDecl(res.Declarations, "func checkout") {
		t.Error("the function the cursor is in was sent as a declaration")
	}

	// A name still being typed finds the definitions it starts.
	partial, off2 := openAt(t, g, filepath.Join(root, "cart", "partial.go"), "go", `package cart

func refund(items []Item) float64 {
	return compute<|>
}
`)
	res = gather(t, g, partial, off2)
	if !hasDecl(res.Declarations, "func computeTotal(items []Item, discount float64)") {
		t.Errorf("the half-typed computeTotal was not resolved: %+v", res.Declarations)
	}
}

func TestIgnoredAndSecretFilesNeverReachContext(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, ".gitignore", "private/\n")
	writeFile(t, root, "private/keys.go", "package app\n\nfunc leakPrivate() string { return \"PRIVATE-TOKEN\" }\n")
	writeFile(t, root, "app_secret.go", "package app\n\nfunc leakSecret() string { return \"SECRET-VALUE\" }\n")
	writeFile(t, root, "public.go", "package app\n\nfunc publicHelper() {}\n")
	g := newGatherer(t, root, Config{})

	// The ignored and the secret file are open and edited in the editor too.
	for _, name := range []string{"private/keys.go", "app_secret.go"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		uri := "file://" + p
		g.DidOpen(uri, p, "go", text)
		text = append(text, []byte("\nfunc leakPrivate2() { leakSecret() }\n")...)
		g.DidChange(uri, nil, text)
	}
	envPath := writeFile(t, root, ".env", "TOKEN=ENV-SECRET\n")
	g.DidOpen("file://"+envPath, envPath, "dotenv", []byte("TOKEN=ENV-SECRET\n"))
	if _, err := g.Gather(context.Background(), Request{URI: "file://" + envPath, Offset: 3}); !errors.Is(err, ErrExcluded) {
		t.Errorf("Gather in .env: err = %v, want ErrExcluded", err)
	}
	time.Sleep(2 * g.cfg.OverlayDelay) // let the overlays of the open files settle

	uri, off := openAt(t, g, filepath.Join(root, "main.go"), "go", `package app

func main() {
	publicHelper()
	leakPrivate()
	leakSecret()
	leakPrivate2(<|>)
}
`)
	res := gather(t, g, uri, off)
	all := res.Prefix + res.Suffix
	for _, d := range res.Declarations {
		all += d.Filepath + d.Body
	}
	for _, s := range append(res.ChangedSnippets, res.OpenedSnippets...) {
		all += s.Filepath + s.Body
	}
	for _, leak := range []string{"PRIVATE-TOKEN", "SECRET-VALUE", "ENV-SECRET", "func leakPrivate", "func leakSecret"} {
		if strings.Contains(all, leak) {
			t.Errorf("context contains %q from an ignored or secret file:\n%s", leak, all)
		}
	}
	if !hasDecl(res.Declarations, "func publicHelper") {
		t.Errorf("the allowed declaration is missing: %+v", res.Declarations)
	}
}

func TestFileEditedOnDiskIsReflected(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a.py", "def first():\n    pass\n")
	g := newGatherer(t, root, Config{})
	uri, off := openAt(t, g, filepath.Join(root, "main.py"), "python", "import a\n\ngenerated_helper(<|>)\n")
	if res := gather(t, g, uri, off); hasDecl(res.Declarations, "generated_helper") {
		t.Fatal("declaration present before the file exists")
	}
	// A code generator writes a new file; no editor event.
	writeFile(t, root, "gen/b.py", "def generated_helper(x, y):\n    return x + y\n")
	eventually(t, "the new file's declaration reaches the context", func() bool {
		return hasDecl(gather(t, g, uri, off).Declarations, "def generated_helper(x, y):")
	})
	writeFile(t, root, "gen/b.py", "def generated_helper(x, y, z):\n    return x + y + z\n")
	eventually(t, "the changed signature reaches the context", func() bool {
		return hasDecl(gather(t, g, uri, off).Declarations, "def generated_helper(x, y, z):")
	})
	if err := os.Remove(filepath.Join(root, "gen", "b.py")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted declaration leaves the context", func() bool {
		return !hasDecl(gather(t, g, uri, off).Declarations, "generated_helper")
	})
}

func TestOpenDocumentUsesEditorText(t *testing.T) {
	root := t.TempDir()
	lib := writeFile(t, root, "lib.ts", "export function onDisk(): number { return 1; }\n")
	g := newGatherer(t, root, Config{OverlayDelay: 10 * time.Millisecond})
	g.DidOpen("file://"+lib, lib, "typescript", []byte("export function inEditor(a: string): number { return 2; }\n"))
	uri, off := openAt(t, g, filepath.Join(root, "main.ts"), "typescript", "const x = onDisk() + inEditor(<|>);\n")
	eventually(t, "the editor's declaration is used", func() bool {
		res := gather(t, g, uri, off)
		return hasDecl(res.Declarations, "function inEditor(a: string)") && !hasDecl(res.Declarations, "onDisk")
	})
	g.DidClose("file://" + lib)
	eventually(t, "the disk version returns after close", func() bool {
		return hasDecl(gather(t, g, uri, off).Declarations, "function onDisk()")
	})
}

func TestSnippetsFromRecentWork(t *testing.T) {
	root := t.TempDir()
	g := newGatherer(t, root, Config{DisableGitDiff: true})
	other := writeFile(t, root, "inventory.go", "package shop\n\nfunc restock() {}\n")
	g.DidOpen("file://"+other, other, "go", []byte("package shop\n\nfunc restock() {}\n"))
	text := "package shop\n\nfunc restock() {\n\twarehouse.reserveQuantity(sku, quantity)\n}\n"
	g.DidChange("file://"+other, []Edit{{
		StartByte: 30, OldEndByte: 31, NewEndByte: 71,
		StartPoint: Point{2, 16}, OldEndPoint: Point{2, 17}, NewEndPoint: Point{4, 1},
	}}, []byte(text))
	viewed := writeFile(t, root, "pricing.go", "")
	viewedText := "package shop\n\nfunc priceFor(sku string) float64 { return catalogue.lookupPrice(sku) }\n"
	g.DidOpen("file://"+viewed, viewed, "go", []byte(viewedText))

	uri, off := openAt(t, g, filepath.Join(root, "order.go"), "go", `package shop

func order(sku string, quantity int) {
	price := catalogue.lookupPrice(sku)
	warehouse.reserveQuantity(sku, <|>)
}
`)
	res := gather(t, g, uri, off)
	if !hasSnippet(res.ChangedSnippets, "warehouse.reserveQuantity(sku, quantity)") {
		t.Errorf("changed snippets lack the edit in inventory.go: %+v", res.ChangedSnippets)
	}
	if !hasSnippet(res.OpenedSnippets, "catalogue.lookupPrice(sku)") {
		t.Errorf("opened snippets lack pricing.go: %+v", res.OpenedSnippets)
	}
	for _, s := range append(res.ChangedSnippets, res.OpenedSnippets...) {
		if s.Filepath == "order.go" {
			t.Errorf("a snippet of the current file was sent: %+v", s)
		}
		if s.Score <= 0 || s.Score > 1 {
			t.Errorf("snippet score %v out of (0, 1]", s.Score)
		}
	}
}

func TestGitDiffIsRecentWork(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	writeFile(t, root, "billing.go", "package shop\n\nfunc invoice() {}\n")
	writeFile(t, root, ".gitignore", "ignored.go\n")
	writeFile(t, root, "ignored.go", "package shop\n")
	git("add", ".")
	git("commit", "-q", "-m", "init")
	g := newGatherer(t, root, Config{GitDiffDelay: 20 * time.Millisecond})
	// Changed outside the editor, as a git checkout or another tool would.
	writeFile(t, root, "billing.go", "package shop\n\nfunc invoice() {\n\tledger.appendInvoiceLine(customer, amount)\n}\n")
	writeFile(t, root, "ignored.go", "package shop\n// ledger.appendInvoiceLine(customer, amount) IGNORED\n")
	uri, off := openAt(t, g, filepath.Join(root, "pay.go"), "go", "package shop\n\nfunc pay(customer string, amount int) {\n\tledger.appendInvoiceLine(<|>)\n}\n")
	eventually(t, "the git diff hunk becomes a changed-file snippet", func() bool {
		return hasSnippet(gather(t, g, uri, off).ChangedSnippets, "ledger.appendInvoiceLine(customer, amount)")
	})
	if hasSnippet(gather(t, g, uri, off).ChangedSnippets, "IGNORED") {
		t.Error("a snippet from an ignored file was sent")
	}
	// Committing the change empties the diff; no working-tree file changes.
	git("commit", "-q", "-am", "invoice lines")
	eventually(t, "the committed hunk leaves the changed-file snippets", func() bool {
		return !hasSnippet(gather(t, g, uri, off).ChangedSnippets, "ledger.appendInvoiceLine(customer, amount)")
	})
}

func TestIncrementalChangeKeepsTreeCurrent(t *testing.T) {
	g := newGatherer(t, "", Config{})
	uri := "file:///virtual/a.go"
	text := "package p\n\nfunc f() {\n}\n"
	g.DidOpen(uri, "/virtual/a.go", "go", []byte(text))
	// Type a statement into the body, one character at a time.
	typed := "\tx := compute(1)\n"
	pos := strings.Index(text, "{\n") + 2
	row := uint32(3)
	for i := range len(typed) {
		ch := typed[i : i+1]
		next := text[:pos] + ch + text[pos:]
		col := uint32(strings.LastIndex(text[:pos], "\n"))
		start := Point{Row: row, Column: uint32(pos) - col - 1}
		end := start
		if ch == "\n" {
			end = Point{Row: row + 1, Column: 0}
		} else {
			end.Column++
		}
		g.DidChange(uri, []Edit{{StartByte: uint32(pos), OldEndByte: uint32(pos), NewEndByte: uint32(pos + 1),
			StartPoint: start, OldEndPoint: start, NewEndPoint: end}}, []byte(next))
		text = next
		pos++
		if ch == "\n" {
			row++
		}
	}
	d := g.docs[uri]
	d.mu.Lock()
	got := d.doc.Root().String()
	lang := d.doc.Language()
	d.mu.Unlock()
	fresh, err := lang.Parse(context.Background(), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if want := fresh.RootNode().String(); got != want {
		t.Errorf("tree after typing differs from a fresh parse:\n got %s\nwant %s", got, want)
	}
	res := gather(t, g, uri, strings.Index(text, "(1)"))
	if !strings.HasSuffix(res.Prefix, "x := compute") {
		t.Errorf("prefix = %q", res.Prefix)
	}
}

func TestGatherUnknownDocumentAndBadInput(t *testing.T) {
	g := newGatherer(t, "", Config{})
	if res, err := g.Gather(context.Background(), Request{URI: "file:///nope"}); err != nil || res.Prefix != "" {
		t.Errorf("unknown document: %+v, %v", res, err)
	}
	g.DidOpen("u", "", "plaintext", []byte("line one\nline two\n"))
	res, err := g.Gather(context.Background(), Request{URI: "u", Offset: 1 << 30})
	if err != nil || res.Prefix != "line one\nline two\n" {
		t.Errorf("offset past the end: %+v, %v", res, err)
	}
	// A huge document gets plain windows, no tree.
	huge := "package p\n" + strings.Repeat("var x = 1\n", maxTreeBytes/10+1)
	g.DidOpen("h", "/h.go", "go", []byte(huge))
	if g.docs["h"].doc != nil {
		t.Error("a document over maxTreeBytes was parsed")
	}
	if res := gather(t, g, "h", 15); res.Prefix != "package p\nvar x" {
		t.Errorf("huge document prefix = %q", res.Prefix)
	}
	// An edit that does not fit the text is survived by a full reparse.
	g.DidOpen("v", "/v.go", "go", []byte("package p\n"))
	g.DidChange("v", []Edit{{StartByte: 50, OldEndByte: 10, NewEndByte: 1}}, []byte("package q\n"))
	if res := gather(t, g, "v", 9); res.Prefix != "package q" {
		t.Errorf("after a bad edit, prefix = %q", res.Prefix)
	}
	if _, err := New(Config{Excludes: []string{"["}}); err == nil {
		t.Error("New accepted a malformed exclusion glob")
	}
	if err := g.AddWorkspaceFolder(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("AddWorkspaceFolder accepted a missing folder")
	}
	dir := t.TempDir()
	for range 2 {
		if err := g.AddWorkspaceFolder(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(g.workspaces); n != 1 {
		t.Errorf("adding the same folder twice made %d workspaces", n)
	}
}

func FuzzGather(f *testing.F) {
	f.Add("go", "package p\nfunc f() { g(1) }\n", 20, 5, 40)
	f.Add("python", "def f():\n  return g(", 19, 0, 0)
	f.Add("rust", "\x00\xff", 1, 1, 1)
	g, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer g.Close()
	f.Fuzz(func(t *testing.T, lang, text string, off, pb, sb int) {
		g.DidOpen("f", "/f."+lang, lang, []byte(text))
		res, err := g.Gather(context.Background(), Request{URI: "f", Offset: off, PrefixBudget: pb, SuffixBudget: sb})
		if err != nil {
			return
		}
		if !strings.Contains(text, res.Suffix) {
			t.Fatalf("suffix %q not from the text", res.Suffix)
		}
		g.DidClose("f")
	})
}

func TestHalfTypedImportedName(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "lib/operators/mergeAll.ts", "export function mergeAll<T>(concurrent: number): T[] {\n  return [];\n}\n")
	writeFile(t, root, "lib/operators/mergeMap.ts", "export function mergeMap<T>(project: (x: T) => T): T[] {\n  return [];\n}\n")
	writeFile(t, root, "app/main.ts", "")
	g := newGatherer(t, root, Config{})
	uri, off := openAt(t, g, filepath.Join(root, "app", "main.ts"), "typescript", `import { mergeAll } from '../lib/operators/mergeAll';

export function run(): void {
  const out = merg<|>
}
`)
	res := gather(t, g, uri, off)
	if !hasDecl(res.Declarations, "function mergeAll<T>(concurrent: number)") {
		t.Errorf("the imported name the user is typing was not resolved: %+v", res.Declarations)
	}
}

func TestNamesWithPrefix(t *testing.T) {
	text := []byte("import { mergeAll, mergeMap } from 'x';\nconst a = xmergeZ + merge + mergeAll;\nmerg")
	got := namesWithPrefix(text, "merg", len(text)-4, 8)
	want := []string{"mergeAll", "merge", "mergeMap"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("namesWithPrefix = %v, want %v (nearest first, no substrings of longer names)", got, want)
	}
}

// TestConcurrentUseAndClose edits and gathers from several goroutines while
// the Gatherer closes; run with -race it checks the locking, and nothing may
// panic or hang.
func TestConcurrentUseAndClose(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "lib.go", "package p\n\nfunc helper(x int) int { return x }\n")
	g, err := New(Config{OverlayDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.AddWorkspaceFolder(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	base := "package p\n\nfunc f() {\n\thelper(1)\n}\n" // row 3 starts at byte 22
	var wg sync.WaitGroup
	closed := make(chan error, 1)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uri := fmt.Sprintf("file:///virtual/%d.go", w)
			g.DidOpen(uri, fmt.Sprintf("/virtual/%d.go", w), "go", []byte(base))
			text := base
			for i := range 200 {
				pos := strings.Index(text, "(1)")
				next := text[:pos] + "x" + text[pos:]
				g.DidChange(uri, []Edit{{StartByte: uint32(pos), OldEndByte: uint32(pos), NewEndByte: uint32(pos + 1),
					StartPoint: Point{3, uint32(pos - 22)}, OldEndPoint: Point{3, uint32(pos - 22)}, NewEndPoint: Point{3, uint32(pos - 21)}}}, []byte(next))
				text = next
				g.Gather(context.Background(), Request{URI: uri, Offset: pos + 1})
				if i == 100 && w == 0 {
					go func() { closed <- g.Close() }()
				}
			}
			g.DidClose(uri)
		}()
	}
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := g.Gather(context.Background(), Request{URI: "file:///virtual/0.go"}); err != nil {
		t.Errorf("Gather after Close: %v", err)
	}
}

func TestDeclarationsRespectBudget(t *testing.T) {
	root := t.TempDir()
	var lib strings.Builder
	lib.WriteString("package p\n\n")
	for i := range 8 {
		fmt.Fprintf(&lib, "func helper%d(a, b, c int) int {\n\treturn a + b + c + %d\n}\n\n", i, i)
	}
	writeFile(t, root, "lib.go", lib.String())
	g := newGatherer(t, root, Config{MaxDeclarations: 3})
	var call strings.Builder
	call.WriteString("package p\n\nfunc f() {\n")
	for i := range 4 {
		fmt.Fprintf(&call, "\thelper%d(1, 2, 3)\n", i)
	}
	call.WriteString("\thelper4(<|>)\n}\n")
	uri, off := openAt(t, g, filepath.Join(root, "main.go"), "go", call.String())
	res := gather(t, g, uri, off)
	// Four callees are in reach (the cursor's line and the three before);
	// MaxDeclarations keeps three.
	if len(res.Declarations) != 3 {
		t.Errorf("%d declarations with a generous budget, want MaxDeclarations = 3", len(res.Declarations))
	}
	if !strings.HasPrefix(res.Declarations[0].Body, "func helper4(") {
		t.Errorf("the callee at the cursor is not first: %q", res.Declarations[0].Body)
	}
	// Each head is about 50 bytes; half of 130 leaves room for one.
	ctx := context.Background()
	small, err := g.Gather(ctx, Request{URI: uri, Offset: off, ContextBudget: 130})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range small.Declarations {
		total += len(d.Body)
	}
	if len(small.Declarations) != 1 || total > 65 {
		t.Errorf("with a 130-byte context budget: %d declarations, %d bytes; want 1 within 65", len(small.Declarations), total)
	}
}

// TestDeclarationBudgetInCharacters: the context budget counts characters,
// like the windows, so heads with comments in a multi-byte script are not
// cut to a third.
func TestDeclarationBudgetInCharacters(t *testing.T) {
	root := t.TempDir()
	var lib strings.Builder
	lib.WriteString("package p\n\n")
	comment := strings.Repeat("合計", 20) // 40 characters, 120 bytes
	for i := range 3 {
		fmt.Fprintf(&lib, "func helper%d(a int) int {\n\t// %s\n\treturn a\n}\n\n", i, comment)
	}
	writeFile(t, root, "lib.go", lib.String())
	g := newGatherer(t, root, Config{MaxDeclarations: 5})
	uri, off := openAt(t, g, filepath.Join(root, "main.go"), "go",
		"package p\n\nfunc f() {\n\thelper0(1)\n\thelper1(<|>)\n}\n")
	// Each head is 83 characters (203 bytes); half of 400 holds two.
	res, err := g.Gather(context.Background(), Request{URI: uri, Offset: off, ContextBudget: 400})
	if err != nil {
		t.Fatal(err)
	}
	chars := 0
	for _, d := range res.Declarations {
		chars += utf8.RuneCountInString(d.Body)
	}
	if len(res.Declarations) != 2 || chars > 200 {
		t.Errorf("with a 400-character context budget: %d declarations, %d characters; want 2 within 200", len(res.Declarations), chars)
	}
}

// TestNestedIgnoreBeforeWalk opens a document that a nested .gitignore
// ignores while the background walk is still busy with other folders: its
// rules must be read at open, and its edits never become snippets.
func TestNestedIgnoreBeforeWalk(t *testing.T) {
	root := t.TempDir()
	for i := range 300 {
		writeFile(t, root, fmt.Sprintf("a%03d/f.go", i), fmt.Sprintf("package a%03d\n\nfunc F%d() {}\n", i, i))
	}
	writeFile(t, root, "zz/deep/.gitignore", "scratch.go\n")
	scratch := writeFile(t, root, "zz/deep/scratch.go", "package deep\n")
	g, err := New(Config{DisableGitDiff: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.AddWorkspaceFolder(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	g.DidOpen("file://"+scratch, scratch, "go", []byte("package deep\n"))
	g.DidChange("file://"+scratch, nil, []byte("package deep\n\nfunc scratchWork() { ledgerPrivateScratch(customer) }\n"))
	select {
	case <-g.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("index not ready after 60s")
	}
	main := writeFile(t, root, "zz/deep/main.go", "")
	uri, off := openAt(t, g, main, "go", "package deep\n\nfunc main() { ledgerPrivateScratch(customer<|>) }\n")
	res := gather(t, g, uri, off)
	for _, s := range append(res.ChangedSnippets, res.OpenedSnippets...) {
		if strings.Contains(s.Body, "ledgerPrivateScratch") {
			t.Errorf("a snippet from a file ignored by a nested .gitignore was sent: %+v", s)
		}
	}
	if hasDecl(res.Declarations, "scratchWork") {
		t.Error("a declaration from an ignored file was sent")
	}
}

// FuzzDidChange sends arbitrary (also inconsistent) edits and texts: the
// Gatherer must not crash, and its windows must come from the new text.
func FuzzDidChange(f *testing.F) {
	f.Add("package p\nfunc f() {}\n", "package p\nfunc g() {}\n", uint32(15), uint32(16), uint32(16), uint32(1), uint32(5))
	f.Add("x", "", uint32(0), uint32(1), uint32(0), uint32(0), uint32(1))
	f.Add("", "\x00\xff{", uint32(1<<31), uint32(1<<31), uint32(1<<32-1), uint32(7), uint32(3))
	g, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer g.Close()
	f.Fuzz(func(t *testing.T, before, after string, start, oldEnd, newEnd, row, col uint32) {
		g.DidOpen("f", "/f.go", "go", []byte(before))
		g.DidChange("f", []Edit{{StartByte: start, OldEndByte: oldEnd, NewEndByte: newEnd,
			StartPoint: Point{row, col}, OldEndPoint: Point{row, col + 1}, NewEndPoint: Point{row + 1, col}}}, []byte(after))
		res, err := g.Gather(context.Background(), Request{URI: "f", Offset: len(after) / 2})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(after[len(after)/2:], res.Suffix) {
			t.Fatalf("suffix %q is not the new text after the cursor", res.Suffix)
		}
		g.DidClose("f")
	})
}

// TestLateSourceIsDropped holds the declarations source back: Gather
// answers at its source deadline with the windows and the other sources,
// without the late one.
func TestLateSourceIsDropped(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "lib.go", "package p\n\nfunc helper() {}\n")
	g := newGatherer(t, root, Config{SourceTimeout: 30 * time.Millisecond})
	release := make(chan struct{})
	g.beforeSource = func(name string) {
		if name == "declarations" {
			<-release
		}
	}
	defer close(release)
	uri, off := openAt(t, g, filepath.Join(root, "main.go"), "go", "package p\n\nfunc f() {\n\thelper(<|>)\n}\n")
	res, err := g.Gather(context.Background(), Request{URI: uri, Offset: off})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Declarations) != 0 {
		t.Errorf("the held-back source answered: %+v", res.Declarations)
	}
	if !strings.HasSuffix(res.Prefix, "helper(") {
		t.Errorf("windows missing when a source is late: %q", res.Prefix)
	}
	// A caller whose own context is cancelled gets its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Gather(ctx, Request{URI: uri, Offset: off}); !errors.Is(err, context.Canceled) {
		t.Errorf("Gather with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestGoVisibilityRules: non-test Go code does not see _test.go files, and
// a plain variable use does not pull in a package variable of another file
// (it is most likely a local).
func TestGoVisibilityRules(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "helpers_test.go", "package p\n\nfunc newFixture() int { return 1 }\n\nvar buf []byte\n")
	writeFile(t, root, "lib.go", "package p\n\nfunc newFixtureReal() int { return 2 }\n")
	g := newGatherer(t, root, Config{})
	uri, off := openAt(t, g, filepath.Join(root, "main.go"), "go", "package p\n\nfunc f() {\n\tbuf := 1\n\t_ = buf\n\tnewFixture(<|>)\n}\n")
	res := gather(t, g, uri, off)
	if hasDecl(res.Declarations, "func newFixture()") || hasDecl(res.Declarations, "var buf") {
		t.Errorf("non-test code got test-file or variable declarations: %+v", res.Declarations)
	}
	test, toff := openAt(t, g, filepath.Join(root, "main_test.go"), "go", "package p\n\nfunc TestF() {\n\tnewFixture(<|>)\n}\n")
	if res := gather(t, g, test, toff); !hasDecl(res.Declarations, "func newFixture()") {
		t.Errorf("a test file did not get its package's test helper: %+v", res.Declarations)
	}
}

// TestSameTypeMembersFirst: inside a method of Server, s.Close( means
// Server's Close (in another file) rather than Client's (in this file).
func TestSameTypeMembersFirst(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "server_close.go", "package p\n\nfunc (s *Server) Close() error { return s.ln.Close() }\n")
	writeFile(t, root, "server.go", "")
	g := newGatherer(t, root, Config{OverlayDelay: time.Millisecond})
	uri, off := openAt(t, g, filepath.Join(root, "server.go"), "go", `package p

type Server struct{ ln Listener }

type Client struct{}

func (c *Client) Close() error { return nil }

func (s *Server) shutdown() {
	s.Close(<|>)
}
`)
	eventually(t, "Server's Close comes first", func() bool {
		res := gather(t, g, uri, off)
		return len(res.Declarations) > 0 && strings.HasPrefix(res.Declarations[0].Body, "func (s *Server) Close() error")
	})
}
