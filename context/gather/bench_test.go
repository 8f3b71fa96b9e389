package gather

import (
	"context"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	sitter "github.com/smacker/go-tree-sitter"

	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/syntax"
)

// The benchmarks run on real corpora: the Go standard library under
// $(go env GOROOT)/src, a TypeScript corpus (the sources rxjs ships in its
// npm package) whose folder SERVAL_TS_CORPUS names, and a Python one (gyp,
// shipped in the node-gyp npm package) named by SERVAL_PY_CORPUS; `make
// bench-context` fetches both. They report their figures as custom metrics.

func gorootSrc(b *testing.B) string {
	src := filepath.Join(build.Default.GOROOT, "src")
	if _, err := os.Stat(filepath.Join(src, "net", "http", "server.go")); err != nil {
		b.Skipf("no Go standard library sources under %s", src)
	}
	return src
}

func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkIndexGoroot measures the initial index of the standard library
// (wall time with the default number of workers, GOMAXPROCS) and the heap
// the index keeps.
func BenchmarkIndexGoroot(b *testing.B) {
	src := gorootSrc(b)
	for range b.N {
		before := heapMB()
		ix := index.New()
		cpuBefore := cpuTime()
		start := time.Now()
		ws, err := index.Open(context.Background(), src, ix, index.Options{})
		if err != nil {
			b.Fatal(err)
		}
		<-ws.Ready()
		took := time.Since(start)
		cpu := cpuTime() - cpuBefore
		if err := ws.Err(); err != nil {
			b.Fatal(err)
		}
		files, symbols := ix.Stats()
		after := heapMB()
		b.ReportMetric(took.Seconds(), "index-s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(float64(files), "files")
		b.ReportMetric(float64(symbols), "symbols")
		b.ReportMetric(after-before, "index-MB")
		runtime.KeepAlive(ix)
		if err := ws.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the user+system CPU time of the process so far: on a shared
// machine it tells the indexing cost apart from time spent waiting for a
// core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// indexedGatherer returns a Gatherer with root indexed.
func indexedGatherer(b *testing.B, root string) *Gatherer {
	b.Helper()
	g := newGatherer(b, root, Config{DisableGitDiff: true})
	return g
}

// BenchmarkGatherGoroot measures context collection per completion once
// the standard library is indexed: cursors spread over a few large open
// files, p50 and p99 reported.
func BenchmarkGatherGoroot(b *testing.B) {
	src := gorootSrc(b)
	g := indexedGatherer(b, src)
	type site struct {
		uri string
		off int
	}
	var sites []site
	for _, name := range []string{"net/http/server.go", "go/types/expr.go", "encoding/json/decode.go", "runtime/proc.go"} {
		path := filepath.Join(src, filepath.FromSlash(name))
		text, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		uri := "file://" + path
		g.DidOpen(uri, path, "go", text)
		for off := 1000; off < len(text); off += 997 {
			sites = append(sites, site{uri, off})
		}
	}
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	cpuBefore := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		s := sites[i%len(sites)]
		start := time.Now()
		if _, err := g.Gather(ctx, Request{URI: s.uri, Offset: s.off}); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpuBefore).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	pct := func(p float64) float64 {
		return float64(durations[min(len(durations)-1, int(p*float64(len(durations))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkIndexUpdate measures, with the standard library indexed, the
// time from the fsnotify event of a changed file to the index holding its
// new declarations. The file, a copy of a typical (net/http/cookie.go,
// ~500 lines) or a very large (net/http/server.go, ~4000 lines) one, lives
// in a second folder sharing the same index.
func BenchmarkIndexUpdate(b *testing.B) {
	for _, name := range []string{"net/http/cookie.go", "net/http/server.go"} {
		b.Run(filepath.Base(name), func(b *testing.B) { benchmarkIndexUpdate(b, name) })
	}
}

func benchmarkIndexUpdate(b *testing.B, name string) {
	src := gorootSrc(b)
	ix := index.New()
	ws, err := index.Open(context.Background(), src, ix, index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	<-ws.Ready()
	text, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(name)))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	path := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(path, text, 0o644); err != nil {
		b.Fatal(err)
	}
	changes := make(chan time.Duration, 16)
	tmp, err := index.Open(context.Background(), dir, ix, index.Options{OnChange: func(p string, took time.Duration) {
		if p == path {
			changes <- took
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer tmp.Close()
	<-tmp.Ready()
	var durations []time.Duration
	b.ResetTimer()
	for i := range b.N {
		marker := fmt.Sprintf("\nfunc benchMarker%d() {}\n", i)
		if err := os.WriteFile(path, append(append([]byte{}, text...), marker...), 0o644); err != nil {
			b.Fatal(err)
		}
		// One write can deliver several events; wait for the index to
		// hold the new function, boundedly.
		deadline := time.After(10 * time.Second)
		name := fmt.Sprintf("benchMarker%d", i)
		var took time.Duration
		for len(ix.Lookup(name)) == 0 {
			select {
			case took = <-changes:
			case <-deadline:
				b.Fatalf("%s not indexed after 10s", name)
			}
		}
		durations = append(durations, took)
	drain:
		for {
			select {
			case <-changes:
			default:
				break drain
			}
		}
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-update-ms")
	b.ReportMetric(float64(durations[len(durations)-1].Microseconds())/1000, "max-update-ms")
}

// callSite is a call whose callee is declared in another file of the
// corpus; the cursor goes just before the arguments.
type callSite struct {
	path   string
	offset int // just before the arguments
	start  int // where the callee's name starts
	callee string
	// defFiles are the files (relative to the corpus root) that declare the
	// callee; a declaration from any of them counts as a hit.
	defFiles map[string]bool
}

// callSites samples up to perFile call sites per file, in a stable order,
// whose callee (a plain identifier or the field of a selector) is
// declared in another file: in the same directory when sameDir is set.
func callSites(b *testing.B, root string, langName string, ext string, sameDir bool, perFile, limit int) []callSite {
	lang, _ := syntax.ByName(langName)
	// Declarations per name, from every file of the corpus.
	defs := map[string]map[string]bool{} // name -> set of files (rel)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ext) || strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, ".d.ts") {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	sort.Strings(files)
	parser := lang.NewParser()
	defer parser.Close()
	// First pass: where each function is declared. Trees are not kept
	// (the corpus is re-parsed below) so that the helper stays small.
	for _, p := range files {
		text, err := os.ReadFile(p)
		if err != nil || len(text) > 1<<20 {
			continue
		}
		tree, err := parser.ParseCtx(context.Background(), nil, text)
		if err != nil {
			b.Fatal(err)
		}
		decls, err := lang.Declarations(tree.RootNode(), text)
		tree.Close()
		if err != nil {
			b.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		for _, d := range decls {
			if d.Kind == syntax.KindFunction || d.Kind == syntax.KindMethod {
				if defs[d.Name] == nil {
					defs[d.Name] = map[string]bool{}
				}
				defs[d.Name][filepath.ToSlash(rel)] = true
			}
		}
	}
	callQuery := map[string]string{
		"go":         `(call_expression function: [(identifier) @callee (selector_expression field: (field_identifier) @callee)] arguments: (_) @args)`,
		"typescript": `(call_expression function: [(identifier) @callee (member_expression property: (property_identifier) @callee)] arguments: (_) @args)`,
		"python":     `(call function: [(identifier) @callee (attribute attribute: (identifier) @callee)] arguments: (argument_list) @args)`,
	}
	q, err := sitter.NewQuery([]byte(callQuery[langName]), lang.Sitter)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	var sites []callSite
	for _, p := range files {
		text, err := os.ReadFile(p)
		if err != nil || len(text) > 1<<20 {
			continue
		}
		tree, err := parser.ParseCtx(context.Background(), nil, text)
		if err != nil {
			b.Fatal(err)
		}
		pt := struct {
			tree *sitter.Tree
			text []byte
		}{tree, text}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		dir := filepath.ToSlash(filepath.Dir(rel))
		qc := sitter.NewQueryCursor()
		qc.Exec(q, pt.tree.RootNode())
		n := 0
		for n < perFile {
			m, ok := qc.NextMatch()
			if !ok {
				break
			}
			var callee, args *sitter.Node
			for _, c := range m.Captures {
				if q.CaptureNameForId(c.Index) == "callee" {
					callee = c.Node
				} else {
					args = c.Node
				}
			}
			name := callee.Content(pt.text)
			where := map[string]bool{}
			for f := range defs[name] {
				if f == rel {
					where = nil // declared in the same file: not a cross-file site
					break
				}
				if !sameDir || filepath.ToSlash(filepath.Dir(f)) == dir {
					where[f] = true
				}
			}
			if len(where) == 0 {
				continue
			}
			sites = append(sites, callSite{path: p, offset: int(args.StartByte()), start: int(callee.StartByte()), callee: name, defFiles: where})
			n++
		}
		qc.Close()
		tree.Close()
		if len(sites) >= limit {
			break
		}
	}
	return sites
}

// recallAt5 opens each site's file, gathers at the cursor and counts the
// sites whose callee definition is among the declarations sent. With
// partial set, the callee's name is cut to its first half (at least three
// characters) with the cursor after it, as while the user is typing it.
func recallAt5(b *testing.B, g *Gatherer, languageID string, sites []callSite, partial bool) (float64, time.Duration) {
	ctx := context.Background()
	hits, counted := 0, 0
	var total time.Duration
	open := ""
	var text []byte
	for _, s := range sites {
		uri := "file://" + s.path
		if s.path != open {
			// Sites come grouped by file: an editor with one file open.
			if open != "" {
				g.DidClose("file://" + open)
			}
			var err error
			if text, err = os.ReadFile(s.path); err != nil {
				b.Fatal(err)
			}
			g.DidOpen(uri, s.path, languageID, text)
			open = s.path
		}
		offset := s.offset
		if partial {
			keep := max(3, (len(s.callee)+1)/2)
			if keep >= len(s.callee) {
				continue
			}
			cut := append(append([]byte{}, text[:s.start+keep]...), text[s.start+len(s.callee):]...)
			g.DidChange(uri, nil, cut)
			offset = s.start + keep
		}
		counted++
		start := time.Now()
		res, err := g.Gather(ctx, Request{URI: uri, Offset: offset})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range res.Declarations {
			if s.defFiles[d.Filepath] && strings.Contains(d.Body, s.callee) {
				hits++
				break
			}
		}
		if partial {
			g.DidChange(uri, nil, text)
		}
	}
	return float64(hits) / float64(counted), total / time.Duration(counted)
}

func reportRecall(b *testing.B, g *Gatherer, languageID string, sites []callSite) {
	recall, avg := recallAt5(b, g, languageID, sites, false)
	b.ReportMetric(recall*100, "recall@5-%")
	b.ReportMetric(float64(len(sites)), "sites")
	b.ReportMetric(float64(avg.Microseconds())/1000, "avg-gather-ms")
	recall, _ = recallAt5(b, g, languageID, sites, true)
	b.ReportMetric(recall*100, "half-typed-recall@5-%")
}

// BenchmarkRecallGoroot: call sites in the standard library whose callee
// is defined in another file of the same package.
func BenchmarkRecallGoroot(b *testing.B) {
	src := gorootSrc(b)
	sites := callSites(b, src, "go", ".go", true, 2, 600)
	if len(sites) < 500 {
		b.Fatalf("only %d call sites found", len(sites))
	}
	g := indexedGatherer(b, src)
	b.ResetTimer()
	for range b.N {
		reportRecall(b, g, "go", sites)
	}
}

// BenchmarkRecallTypeScript: call sites in the rxjs sources whose callee
// is defined in another file of the corpus (usually imported from another
// directory).
func BenchmarkRecallTypeScript(b *testing.B) {
	root := os.Getenv("SERVAL_TS_CORPUS")
	if root == "" {
		b.Skip("SERVAL_TS_CORPUS is not set (make bench-context fetches rxjs's sources)")
	}
	sites := callSites(b, root, "typescript", ".ts", false, 3, 600)
	if len(sites) < 200 {
		b.Fatalf("only %d call sites found", len(sites))
	}
	g := indexedGatherer(b, root)
	b.ResetTimer()
	for range b.N {
		reportRecall(b, g, "typescript", sites)
	}
}

// BenchmarkDidChangeKeystroke measures one keystroke in a large open file
// (net/http/server.go): the tree edit plus incremental reparse DidChange
// does on the LSP reader's goroutine.
func BenchmarkDidChangeKeystroke(b *testing.B) {
	src := gorootSrc(b)
	text, err := os.ReadFile(filepath.Join(src, "net", "http", "server.go"))
	if err != nil {
		b.Fatal(err)
	}
	g := newGatherer(b, "", Config{})
	uri := "file:///bench/server.go"
	g.DidOpen(uri, "/bench/server.go", "go", text)
	// Type inside a function body in the middle of the file, alternating
	// an insertion and its deletion so the text stays valid.
	pos := strings.Index(string(text), "\tc.r = &connReader{")
	if pos < 0 {
		b.Fatal("anchor not found")
	}
	row := uint32(strings.Count(string(text[:pos]), "\n"))
	col := uint32(pos - strings.LastIndex(string(text[:pos]), "\n") - 1)
	inserted := append(append(append([]byte{}, text[:pos]...), 'x'), text[pos:]...)
	at := Point{Row: row, Column: col}
	after := Point{Row: row, Column: col + 1}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			g.DidChange(uri, []Edit{{StartByte: uint32(pos), OldEndByte: uint32(pos), NewEndByte: uint32(pos + 1),
				StartPoint: at, OldEndPoint: at, NewEndPoint: after}}, inserted)
		} else {
			g.DidChange(uri, []Edit{{StartByte: uint32(pos), OldEndByte: uint32(pos + 1), NewEndByte: uint32(pos),
				StartPoint: at, OldEndPoint: after, NewEndPoint: at}}, text)
		}
	}
}

// BenchmarkRecallPython: call sites in gyp's Python sources (shipped in the
// node-gyp npm package) whose callee is defined in another file.
func BenchmarkRecallPython(b *testing.B) {
	root := os.Getenv("SERVAL_PY_CORPUS")
	if root == "" {
		b.Skip("SERVAL_PY_CORPUS is not set (make bench-context fetches node-gyp's gyp sources)")
	}
	sites := callSites(b, root, "python", ".py", false, 15, 600)
	if len(sites) < 200 {
		b.Fatalf("only %d call sites found", len(sites))
	}
	g := indexedGatherer(b, root)
	b.ResetTimer()
	for range b.N {
		reportRecall(b, g, "python", sites)
	}
}
