package gather

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// liveTrees counts the open documents holding a syntax tree, locking one
// document at a time, and checks the count against g.trees.
func liveTrees(t *testing.T, g *Gatherer) int {
	t.Helper()
	g.mu.RLock()
	docs := make([]*document, 0, len(g.docs))
	for _, d := range g.docs {
		docs = append(docs, d)
	}
	g.mu.RUnlock()
	n := 0
	var bytes int64
	for _, d := range docs {
		d.mu.Lock()
		if d.doc != nil {
			n++
			if d.treeBytes != int64(len(d.text)) {
				t.Errorf("%s: tree counted as %d bytes, text is %d", d.uri, d.treeBytes, len(d.text))
			}
		} else if d.treeBytes != 0 {
			t.Errorf("%s: no tree, but %d bytes counted", d.uri, d.treeBytes)
		}
		bytes += d.treeBytes
		if (d.doc != nil) != d.hasTree.Load() {
			t.Errorf("%s: hasTree is %v with doc %v", d.uri, d.hasTree.Load(), d.doc != nil)
		}
		d.mu.Unlock()
	}
	if c := g.trees.Load(); c != int64(n) {
		t.Errorf("g.trees = %d, but %d documents hold a tree", c, n)
	}
	if c := g.treeBytes.Load(); c != bytes {
		t.Errorf("g.treeBytes = %d, but the documents holding a tree have %d", c, bytes)
	}
	return n
}

// TestTreeBytesBound: the trees kept are bounded by their documents' size,
// whatever their count; the document just used keeps its own tree even when
// it alone is over the bound, and edits keep the count in step.
func TestTreeBytesBound(t *testing.T) {
	doc := func(i int) string {
		return fmt.Sprintf("package p\n\nfunc f%d() int {\n\treturn %d\n}\n", i, i) + strings.Repeat("// padding line\n", 60)
	}
	size := len(doc(0))
	g := newGatherer(t, "", Config{MaxTreeBytes: 3*size + size/2, DisableGitDiff: true})
	uri := func(i int) string { return fmt.Sprintf("file:///virtual/f%02d.go", i) }
	for i := range 10 {
		g.DidOpen(uri(i), fmt.Sprintf("/virtual/f%02d.go", i), "go", []byte(doc(i)))
		if n := liveTrees(t, g); n > 3 {
			t.Fatalf("after opening %d documents of %d bytes, %d hold a tree; the bound is 3.5 documents", i+1, size, n)
		}
	}
	// Completing in every document in turn parses it again and stays in bounds.
	for i := range 10 {
		gather(t, g, uri(i), 12)
		if !hasTree(g, uri(i)) {
			t.Fatalf("document %d, just used, has no tree", i)
		}
		if n := liveTrees(t, g); n > 3 {
			t.Fatalf("%d documents hold a tree", n)
		}
	}
	// Typing grows the document; the count follows its size.
	text := doc(9)
	for range 5 {
		next := text + "// more\n"
		e, _ := insertEdit(text, len(text), "// more\n")
		g.DidChange(uri(9), []Edit{e}, []byte(next))
		text = next
		liveTrees(t, g)
	}
	// One document larger than the whole bound keeps its tree while used.
	big := "package p\n\n" + strings.Repeat("var x = 1\n", 2*size)
	g.DidOpen(uri(20), "/virtual/f20.go", "go", []byte(big))
	gather(t, g, uri(20), 12)
	if !hasTree(g, uri(20)) || liveTrees(t, g) != 1 {
		t.Fatalf("a document over the bound: tree %v, %d trees", hasTree(g, uri(20)), liveTrees(t, g))
	}
}

// hasTree reports whether the open document uri holds a syntax tree.
func hasTree(g *Gatherer, uri string) bool {
	g.mu.RLock()
	d := g.docs[uri]
	g.mu.RUnlock()
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.doc != nil
}

// treeMatchesFreshParse reports a difference between uri's tree and a
// fresh parse of its text ("" when they agree).
func treeMatchesFreshParse(t *testing.T, g *Gatherer, uri string) string {
	t.Helper()
	g.mu.RLock()
	d := g.docs[uri]
	g.mu.RUnlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doc == nil {
		return uri + " has no tree"
	}
	fresh, err := d.lang.Parse(context.Background(), d.text)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got, want := d.doc.Root().String(), fresh.RootNode().String(); got != want {
		return fmt.Sprintf("%s: tree differs from a fresh parse of %q:\n got %s\nwant %s", uri, d.text, got, want)
	}
	if !bytes.Equal(d.doc.Text(), d.text) {
		return uri + ": tree text differs from the document text"
	}
	return ""
}

// insertEdit inserts ins at byte pos of text.
func insertEdit(text string, pos int, ins string) (Edit, string) {
	point := func(s string, off int) Point {
		row := strings.Count(s[:off], "\n")
		return Point{Row: uint32(row), Column: uint32(off - (strings.LastIndex(s[:off], "\n") + 1))}
	}
	next := text[:pos] + ins + text[pos:]
	start := point(text, pos)
	return Edit{StartByte: uint32(pos), OldEndByte: uint32(pos), NewEndByte: uint32(pos + len(ins)),
		StartPoint: start, OldEndPoint: start, NewEndPoint: point(next, pos+len(ins))}, next
}

// TestEvictedTreeGathersTheSame drops a document's tree by using more
// documents than MaxTrees: Gather then parses it again and answers exactly
// as before (windows and declarations), and no more than MaxTrees
// documents hold a tree.
func TestEvictedTreeGathersTheSame(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "go.mod", "module example.com/shop\n")
	writeFile(t, root, "shop/lib.go", `package shop

// computeTotal sums the prices of items.
func computeTotal(items []Item) float64 {
	sum := 0.0
	for _, it := range items {
		sum += it.Price
	}
	return sum
}

// applyTax adds the tax rate to an amount.
func applyTax(amount, rate float64) float64 { return amount * (1 + rate) }

type Item struct {
	Name  string
	Price float64
}
`)
	const maxTrees = 2
	g := newGatherer(t, root, Config{MaxTrees: maxTrees, OverlayDelay: time.Millisecond, DisableGitDiff: true})
	main := `package shop

import "fmt"

type Receipt struct {
	Lines []string
	Total float64
}

func checkout(items []Item, rate float64) Receipt {
	var r Receipt
	total := computeTotal(items)
	r.Total = applyTax(total, rate)
	for _, it := range items {
		r.Lines = append(r.Lines, fmt.Sprintf("%s %.2f", it.Name, it.Price))
	}
	return r
}
`
	mainPath := writeFile(t, root, "shop/main.go", main)
	uri := "file://" + mainPath
	g.DidOpen(uri, mainPath, "go", []byte(main))
	offsets := []int{
		strings.Index(main, "(items)"),
		strings.Index(main, "(total, rate)"),
		strings.Index(main, "\t\tr.Lines"),
		strings.Index(main, "Receipt {\n\tvar") + len("Receipt {\n"),
		0,
		len(main),
	}
	type view struct {
		Prefix, Suffix string
		Decls          []Declaration
	}
	gatherAll := func() []view {
		var out []view
		for _, off := range offsets {
			res := gather(t, g, uri, off)
			out = append(out, view{res.Prefix, res.Suffix, res.Declarations})
		}
		return out
	}
	eventually(t, "main.go's declarations reach the index overlay", func() bool {
		g.mu.RLock()
		d := g.docs[uri]
		g.mu.RUnlock()
		d.mu.Lock()
		defer d.mu.Unlock()
		return !d.dirty
	})
	before := gatherAll()
	if !hasDecl(before[0].Decls, "func computeTotal(items []Item) float64") || !hasDecl(before[1].Decls, "func applyTax") {
		t.Fatalf("the declarations the comparison relies on are missing: %+v / %+v", before[0].Decls, before[1].Decls)
	}
	if !hasTree(g, uri) {
		t.Fatal("main.go has no tree after Gather")
	}

	// Use three other documents: main.go is then the least recently used.
	for i := range 3 {
		p := filepath.Join(root, "misc", fmt.Sprintf("o%d.go", i))
		text := fmt.Sprintf("package misc\n\nfunc other%d() int {\n\treturn %d\n}\n", i, i)
		writeFile(t, root, fmt.Sprintf("misc/o%d.go", i), text)
		g.DidOpen("file://"+p, p, "go", []byte(text))
		gather(t, g, "file://"+p, len(text)/2)
		if n := liveTrees(t, g); n > maxTrees {
			t.Fatalf("%d documents hold a tree, MaxTrees is %d", n, maxTrees)
		}
	}
	if hasTree(g, uri) {
		t.Fatal("main.go kept its tree though it is the least recently used")
	}

	after := gatherAll()
	if !hasTree(g, uri) {
		t.Error("Gather did not parse main.go again")
	}
	if n := liveTrees(t, g); n > maxTrees {
		t.Errorf("%d documents hold a tree, MaxTrees is %d", n, maxTrees)
	}
	for i := range offsets {
		if !reflect.DeepEqual(before[i], after[i]) {
			t.Errorf("offset %d: after the tree was dropped and parsed again Gather answers\n%+v\nnot\n%+v", offsets[i], after[i], before[i])
		}
	}
	if msg := treeMatchesFreshParse(t, g, uri); msg != "" {
		t.Error(msg)
	}
}

// TestEditsAfterRebuildStayIncremental types into a document whose tree was
// dropped: the first edit parses it from scratch, the next ones update that
// tree incrementally (the same syntax.Document), and the tree always equals
// a fresh parse of the text.
func TestEditsAfterRebuildStayIncremental(t *testing.T) {
	g := newGatherer(t, "", Config{MaxTrees: 1, DisableGitDiff: true})
	a, b := "file:///virtual/a.go", "file:///virtual/b.go"
	text := "package p\n\nfunc f() {\n}\n"
	g.DidOpen(a, "/virtual/a.go", "go", []byte(text))
	g.DidOpen(b, "/virtual/b.go", "go", []byte("package p\n\nfunc g() {}\n"))
	if hasTree(g, a) || !hasTree(g, b) {
		t.Fatalf("with MaxTrees 1, a has a tree: %v, b: %v", hasTree(g, a), hasTree(g, b))
	}
	typed := "\tx := compute(1)\n\tif x > 2 {\n\t\treturn\n\t}\n"
	pos := strings.Index(text, "{\n") + 2
	for round := range 2 {
		var first any
		for i := range len(typed) {
			e, next := insertEdit(text, pos, typed[i:i+1])
			g.DidChange(a, []Edit{e}, []byte(next))
			text = next
			pos++
			g.mu.RLock()
			d := g.docs[a]
			g.mu.RUnlock()
			d.mu.Lock()
			doc := d.doc
			d.mu.Unlock()
			if i == 0 {
				first = doc
			} else if any(doc) != first {
				t.Fatalf("round %d, keystroke %d: the tree was parsed again instead of updated", round, i)
			}
			if msg := treeMatchesFreshParse(t, g, a); msg != "" {
				t.Fatalf("round %d, keystroke %d: %s", round, i, msg)
			}
			if n := liveTrees(t, g); n != 1 {
				t.Fatalf("%d documents hold a tree, MaxTrees is 1", n)
			}
		}
		if hasTree(g, b) {
			t.Fatal("b kept its tree while a was edited")
		}
		res := gather(t, g, a, pos-1)
		if !strings.HasSuffix(res.Prefix, "\t}") {
			t.Errorf("round %d: prefix = %q", round, res.Prefix)
		}
		// Gather in b takes the one tree back from a.
		gather(t, g, b, 5)
		if hasTree(g, a) || !hasTree(g, b) {
			t.Fatalf("after Gather in b, a has a tree: %v, b: %v", hasTree(g, a), hasTree(g, b))
		}
	}
}

// TestTreeCapHolds runs a random sequence of opens, edits, full
// replacements, gathers and closes over more documents than MaxTrees: after
// every call at most MaxTrees documents hold a tree, the document just used
// holds one, and excluded and oversized documents never do.
func TestTreeCapHolds(t *testing.T) {
	const maxTrees = 3
	g, err := New(Config{MaxTrees: maxTrees, OverlayDelay: time.Millisecond, DisableGitDiff: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 7))
	texts := map[string]string{}
	uriOf := func(i int) string { return fmt.Sprintf("file:///virtual/d%d.go", i) }
	open := func(i int) {
		texts[uriOf(i)] = fmt.Sprintf("package p\n\nfunc f%d() int {\n\treturn %d\n}\n", i, i)
		g.DidOpen(uriOf(i), fmt.Sprintf("/virtual/d%d.go", i), "go", []byte(texts[uriOf(i)]))
	}
	secret := "file:///virtual/.env.go"
	g.DidOpen(secret, "/virtual/.env.go", "go", []byte("package p\n\nconst key = \"s3cr3t\"\n"))
	huge := "file:///virtual/huge.go"
	g.DidOpen(huge, "/virtual/huge.go", "go", []byte("package p\n"+strings.Repeat("var x = 1\n", maxTreeBytes/10+1)))
	for i := range 12 {
		open(i)
	}
	for step := range 400 {
		i := rng.IntN(12)
		uri := uriOf(i)
		if _, ok := texts[uri]; !ok {
			open(i)
			continue
		}
		switch k := rng.IntN(10); {
		case k < 4:
			text := texts[uri]
			pos := strings.Index(text, "return ") + len("return ")
			e, next := insertEdit(text, pos, "1+")
			texts[uri] = next
			g.DidChange(uri, []Edit{e}, []byte(next))
		case k < 5:
			texts[uri] += "\nvar v = 1\n"
			g.DidChange(uri, nil, []byte(texts[uri]))
		case k < 9:
			res := gather(t, g, uri, len(texts[uri])/2)
			if res.Prefix+res.Suffix == "" {
				t.Fatalf("step %d: empty windows", step)
			}
		default:
			g.DidClose(uri)
			delete(texts, uri)
			continue
		}
		if !hasTree(g, uri) {
			t.Fatalf("step %d: %s was just used and holds no tree", step, uri)
		}
		if msg := treeMatchesFreshParse(t, g, uri); msg != "" {
			t.Fatalf("step %d: %s", step, msg)
		}
		if n := liveTrees(t, g); n > maxTrees {
			t.Fatalf("step %d: %d documents hold a tree, MaxTrees is %d", step, n, maxTrees)
		}
		if step%50 == 0 {
			if _, err := g.Gather(context.Background(), Request{URI: secret}); err != ErrExcluded {
				t.Fatalf("excluded document: %v", err)
			}
			gather(t, g, huge, 100)
			if hasTree(g, secret) || hasTree(g, huge) {
				t.Fatal("an excluded or oversized document got a tree")
			}
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if n := g.trees.Load(); n != 0 {
		t.Errorf("%d trees left after Close", n)
	}
}

// TestConcurrentEviction edits and gathers many documents from several
// goroutines with room for two trees, while another goroutine closes and
// reopens documents and gathers in others' (run with -race: the locking of
// eviction, which must never hold two document locks at once). Afterwards
// every remaining tree equals a fresh parse and Close leaves no tree.
func TestConcurrentEviction(t *testing.T) {
	g, err := New(Config{MaxTrees: 2, OverlayDelay: time.Millisecond, DisableGitDiff: true})
	if err != nil {
		t.Fatal(err)
	}
	base := "package p\n\nfunc f() int {\n\treturn 1\n}\n"
	const workers = 5
	uriOf := func(w int) string { return fmt.Sprintf("file:///virtual/w%d.go", w) }
	var wg sync.WaitGroup
	final := make([]string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uri := uriOf(w)
			g.DidOpen(uri, fmt.Sprintf("/virtual/w%d.go", w), "go", []byte(base))
			text := base
			for i := range 60 {
				pos := strings.Index(text, "return ") + len("return ")
				e, next := insertEdit(text, pos, "x+")
				g.DidChange(uri, []Edit{e}, []byte(next))
				text = next
				res, err := g.Gather(context.Background(), Request{URI: uri, Offset: pos + 2})
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.HasSuffix(res.Prefix, "return x+") || !strings.HasPrefix(res.Suffix, strings.Repeat("x+", i)+"1\n}") {
					t.Errorf("worker %d, edit %d: windows %q | %q", w, i, res.Prefix, res.Suffix)
					return
				}
			}
			final[w] = text
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 100 {
			uri := fmt.Sprintf("file:///virtual/extra%d.go", i%3)
			g.DidOpen(uri, "", "go", []byte(base))
			g.Gather(context.Background(), Request{URI: uriOf(i % workers), Offset: 20})
			if i%2 == 0 {
				g.DidClose(uri)
			}
		}
	}()
	wg.Wait()
	if t.Failed() {
		return
	}
	for w := range workers {
		if hasTree(g, uriOf(w)) {
			if msg := treeMatchesFreshParse(t, g, uriOf(w)); msg != "" {
				t.Error(msg)
			}
		}
		res := gather(t, g, uriOf(w), len(final[w]))
		if res.Prefix != final[w] {
			t.Errorf("worker %d: prefix %q, want the whole text %q", w, res.Prefix, final[w])
		}
	}
	if n := liveTrees(t, g); n > 2 {
		t.Errorf("%d documents hold a tree after the workers stopped, MaxTrees is 2", n)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if n := g.trees.Load(); n != 0 {
		t.Errorf("%d trees left after Close", n)
	}
}

// TestDroppedTreesAreReleased checks that dropping a tree (eviction or
// close) has the background goroutine give the C heap's free pages back.
func TestDroppedTreesAreReleased(t *testing.T) {
	g := newGatherer(t, "", Config{MaxTrees: 1, DisableGitDiff: true})
	g.DidOpen("file:///virtual/a.go", "/virtual/a.go", "go", []byte("package p\n\nfunc a() {}\n"))
	if n := g.released.Load(); n != 0 {
		t.Fatalf("%d releases before any tree was dropped", n)
	}
	g.DidOpen("file:///virtual/b.go", "/virtual/b.go", "go", []byte("package p\n\nfunc b() {}\n"))
	eventually(t, "a release after a's tree was dropped", func() bool { return g.released.Load() == 1 })
	g.DidClose("file:///virtual/b.go")
	eventually(t, "a release after b was closed", func() bool { return g.released.Load() == 2 })
}
