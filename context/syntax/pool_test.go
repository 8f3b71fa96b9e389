package syntax

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// freshDump parses src with a parser of its own, outside the pool.
func freshDump(t *testing.T, l *Language, src []byte) string {
	t.Helper()
	p := l.NewParser()
	defer p.Close()
	tree, err := p.ParseCtx(context.Background(), nil, src)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	return dump(tree.RootNode())
}

// TestParserPoolConcurrent parses from several goroutines at once (run
// with -race): every tree equals one from a parser of its own, and no more
// than maxIdleParsers stay in the pool afterwards.
func TestParserPoolConcurrent(t *testing.T) {
	l, _ := ByName("go")
	srcs := [][]byte{
		[]byte("package p\n\nfunc f() int { return 1 }\n"),
		[]byte("package q\n\ntype T struct{ x, y int }\n\nfunc (t T) Sum() int { return t.x + t.y }\n"),
		[]byte("package r\n\nvar v = []string{\"a\", \"b\"}\n"),
	}
	want := make([]string, len(srcs))
	for i, src := range srcs {
		want[i] = freshDump(t, l, src)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 6*50)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := (w + i) % len(srcs)
				doc, err := NewDocument(context.Background(), l, srcs[k])
				if err != nil {
					errs <- err.Error()
					return
				}
				if got := dump(doc.Root()); got != want[k] {
					errs <- "pooled parse differs from a fresh one:\n" + got + "\nwant:\n" + want[k]
				}
				doc.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := l.idleParsers(); n < 1 || n > maxIdleParsers {
		t.Errorf("%d idle parsers after the parses, want 1..%d", n, maxIdleParsers)
	}
}

// TestCancelledParseLeavesPoolClean cancels parses of a large file: a
// cancelled tree-sitter parser resumes its half-done parse on its next
// call, so it must not go back to the pool, where the next document's
// parse would get a tree of the wrong text.
func TestCancelledParseLeavesPoolClean(t *testing.T) {
	l, _ := ByName("go")
	big := []byte("package big\n" + strings.Repeat("func f(a, b int) int {\n\treturn a*b + a - b\n}\n", 40000))
	small := []byte("package small\n\nfunc g() string { return \"ok\" }\n")
	want := freshDump(t, l, small)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cancelled := 0
	for range 10 {
		if _, err := l.Parse(ctx, big); err != nil {
			cancelled++
		}
	}
	if cancelled == 0 {
		t.Fatal("no parse of a 2 MB file noticed its cancelled context")
	}
	// Take every idle parser (and one more) in turn.
	for range maxIdleParsers + 1 {
		doc, err := NewDocument(context.Background(), l, small)
		if err != nil {
			t.Fatal(err)
		}
		if got := dump(doc.Root()); got != want {
			t.Fatalf("after cancelled parses, a pooled parse differs from a fresh one:\n got:\n%s\nwant:\n%s", got, want)
		}
		doc.Close()
	}
}
