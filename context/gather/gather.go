package gather

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/recent"
	"github.com/servalhq/serval/context/syntax"
	"github.com/servalhq/serval/server/api"
)

// minSnippetScore is the least Jaccard similarity a snippet needs: below
// it, chunks share little more than boilerplate with the cursor's code.
const minSnippetScore = 0.1

// Lines around the cursor that identifiers (for declarations) and query
// tokens (for snippets) are taken from.
const (
	identLookback = 3
	queryBytes    = 800
	viewedRadius  = 15
)

// snapshot is what Gather copies out of a document under its lock, so that
// the sources run without holding it.
type snapshot struct {
	path      string
	offset    int
	lang      *syntax.Language
	row       int
	idents    []syntax.Ident
	queryText string
	// completions are the names in the document that the half-typed
	// identifier at the cursor is a prefix of (imports, earlier uses).
	completions []string
}

// Gather returns the context for a completion at req.Offset: the windows
// from the document's syntax tree, declarations of the identifiers near
// the cursor, and snippets of recent work. It reads only memory. The
// sources run concurrently; one that has not answered when ctx or the
// configured SourceTimeout expires is left out of the result. An unknown
// document gives an empty Result.
func (g *Gatherer) Gather(ctx context.Context, req Request) (Result, error) {
	g.mu.RLock()
	d := g.docs[req.URI]
	g.mu.RUnlock()
	if d == nil {
		return Result{}, nil
	}
	pb, sb, cb := req.PrefixBudget, req.SuffixBudget, req.ContextBudget
	if pb <= 0 {
		pb = g.cfg.PrefixBudget
	}
	if sb <= 0 {
		sb = g.cfg.SuffixBudget
	}
	if cb <= 0 {
		cb = g.cfg.ContextBudget
	}

	var res Result
	var snap snapshot
	g.touch(d)
	d.mu.Lock()
	if d.excluded {
		d.mu.Unlock()
		return Result{}, ErrExcluded
	}
	// A document whose tree was dropped (see Config.MaxTrees) is parsed
	// again; if ctx ends first, it gets plain windows this time.
	built := g.ensureTree(ctx, d)
	off := max(0, min(req.Offset, len(d.text)))
	if d.doc != nil {
		root := d.doc.Root()
		w := syntax.NewWindow(root, d.text, off, pb, sb)
		res.Prefix, res.Suffix = w.Text(), w.Suffix
		snap.lang = d.doc.Language()
		snap.idents = syntax.IdentifiersNear(root, d.text, off, identLookback)
		if len(snap.idents) > 0 {
			if id := snap.idents[0]; int(id.StartByte)+len(id.Name) == off && len(id.Name) >= 3 {
				snap.completions = namesWithPrefix(d.text, id.Name, int(id.StartByte), 8)
			}
		}
	} else {
		res.Prefix, res.Suffix = plainWindow(d.text, off, pb, sb)
	}
	snap.path = d.path
	allowed := d.allowed
	snap.offset = off
	snap.row = bytes.Count(d.text[:off], []byte("\n"))
	snap.queryText = string(d.text[max(0, off-queryBytes):off])
	d.mu.Unlock()
	if built {
		g.trimTrees(d)
	}

	if snap.path != "" && allowed {
		g.tracker.Viewed(snap.path, max(0, snap.row-viewedRadius), snap.row+viewedRadius)
	}

	// The sources run at the same time, so each gets a fixed share of the
	// context budget: half for declarations, a quarter for each snippet
	// kind.
	type answer struct {
		kind     int
		decls    []api.Declaration
		snippets []api.Snippet
	}
	const (
		kindDecls = iota
		kindChanged
		kindOpened
	)
	sctx, cancel := context.WithTimeout(ctx, g.cfg.SourceTimeout)
	defer cancel()
	answers := make(chan answer, 3)
	query := recent.Tokens(snap.queryText)
	sources := map[string]func() answer{
		"declarations": func() answer { return answer{kind: kindDecls, decls: g.declarations(snap, cb/2)} },
		"changed": func() answer {
			return answer{kind: kindChanged, snippets: g.snippets(sctx, query, g.changedChunks(snap.path), cb/4, g.cfg.MaxChanged)}
		},
		"opened": func() answer {
			return answer{kind: kindOpened, snippets: g.snippets(sctx, query, g.openedChunks(snap.path), cb/4, g.cfg.MaxOpened)}
		},
	}
	started := 0
	for name, src := range sources {
		run := func() {
			if g.beforeSource != nil {
				g.beforeSource(name)
			}
			answers <- src() // buffered: a late answer never blocks
		}
		if g.spawn(run) {
			started++
		}
	}
	for range started {
		select {
		case a := <-answers:
			switch a.kind {
			case kindDecls:
				res.Declarations = a.decls
			case kindChanged:
				res.ChangedSnippets = a.snippets
			case kindOpened:
				res.OpenedSnippets = a.snippets
			}
		case <-sctx.Done():
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, nil // late sources are dropped
		}
	}
	return res, nil
}

// plainWindow cuts windows at line boundaries for a document without a
// grammar.
func plainWindow(text []byte, off, pb, sb int) (string, string) {
	start := max(0, off-pb)
	if start > 0 {
		if nl := bytes.IndexByte(text[start:off], '\n'); nl >= 0 {
			start += nl + 1
		}
	}
	end := min(len(text), off+sb)
	if end < len(text) {
		if nl := bytes.LastIndexByte(text[off:end], '\n'); nl >= 0 {
			end = off + nl + 1
		}
	}
	return string(text[start:off]), string(text[off:end])
}

// family groups grammars whose files call each other's declarations.
func family(lang string) string {
	switch lang {
	case "javascript", "typescript", "tsx":
		return "js"
	case "c", "cpp":
		return "c"
	}
	return lang
}

// usable reports whether sym can be what an identifier at the cursor
// refers to: a declaration of the same language family, not the one the
// cursor is in, and for Go not from a _test.go file unless the cursor is in
// one (non-test code cannot see test files).
func usable(s snapshot, sym *index.Symbol, fam string) bool {
	if family(sym.Language) != fam {
		return false
	}
	if sym.Path == s.path && int(sym.StartRow) <= s.row && s.row <= int(sym.EndRow) {
		return false
	}
	if sym.Language == "go" && strings.HasSuffix(sym.Path, "_test.go") && !strings.HasSuffix(s.path, "_test.go") {
		return false
	}
	return true
}

// roleWeight says how much a definition of an identifier used this way
// helps the model.
var roleWeight = map[syntax.Role]float64{
	syntax.RoleCall:     1.0,
	syntax.RoleType:     0.9,
	syntax.RoleSelector: 0.7,
	syntax.RoleOther:    0.5,
}

type candidate struct {
	sym   *index.Symbol
	score float64
	// rank orders the definitions of one name: locality, and membership
	// of the enclosing method's own type.
	rank float64
}

// declarations resolves the identifiers near the cursor against the index
// and returns the best definitions within budget: same file first, then
// the same directory (package), then elsewhere, identifiers nearer the
// cursor and calls before other uses, a name defined in many places
// weighing less.
func (g *Gatherer) declarations(s snapshot, budget int) []api.Declaration {
	if s.lang == nil || len(s.idents) == 0 {
		return nil
	}
	fam := family(s.lang.Name)
	dir := filepath.Dir(s.path)
	// Inside a method, a name that several types define most likely means
	// the member of the method's own type (s.flush(), this.render()).
	container := ""
	for _, sym := range g.ix.FileSymbols(s.path) {
		if sym.Container != "" && (sym.Kind == syntax.KindFunction || sym.Kind == syntax.KindMethod) &&
			int(sym.StartRow) <= s.row && s.row <= int(sym.EndRow) {
			container = sym.Container
		}
	}
	var cands []candidate
	const maxIdents = 16
	for i, id := range s.idents {
		if i == maxIdents {
			break
		}
		syms := g.ix.Lookup(id.Name)
		var kept []candidate
		for _, sym := range syms {
			if !usable(s, sym, fam) {
				continue
			}
			if id.Role == syntax.RoleOther && sym.Kind == syntax.KindVariable && sym.Path != s.path {
				continue // most likely a local of the same name
			}
			locality := 1.0
			switch {
			case sym.Path == s.path:
				locality = 4
			case sym.Dir == dir:
				locality = 3
			case s.path != "" && strings.HasPrefix(sym.Dir, filepath.Dir(dir)):
				locality = 1.5
			}
			rank := locality
			if container != "" && sym.Container == container {
				rank *= 1.5 // s.Close() in a Server method: Server's Close
			}
			kept = append(kept, candidate{sym: sym, score: locality, rank: rank})
		}
		if len(kept) == 0 {
			continue
		}
		// Order the name's definitions; a name defined in many places is
		// less likely to mean any one of them.
		sort.SliceStable(kept, func(a, b int) bool { return kept[a].rank > kept[b].rank })
		ambiguity := 1 / math.Sqrt(float64(len(kept)))
		for _, c := range kept {
			if c.score >= 3 {
				ambiguity = 1 // a definition in this package is the likely one
			}
		}
		nearness := 1 / (1 + 0.15*float64(i))
		for j, c := range kept {
			if j == 2 {
				break
			}
			c.score = c.score * roleWeight[id.Role] * nearness * ambiguity / float64(j+1)
			cands = append(cands, c)
		}
	}
	// The identifier the cursor touches may be half typed: offer the
	// definitions of this package that it is a prefix of, and those of the
	// names in this file it is a prefix of (an imported function). It is
	// what the user is writing, so its candidates weigh like a call at the
	// cursor, shared among them.
	if id := s.idents[0]; int(id.StartByte)+len(id.Name) == s.offset && len(id.Name) >= 3 {
		for i, sym := range g.ix.LookupPrefix(dir, id.Name, 3) {
			if usable(s, sym, fam) {
				cands = append(cands, candidate{sym: sym, score: 3 / float64(i+1)})
			}
		}
		for i, name := range s.completions {
			syms := g.ix.Lookup(name)
			for _, sym := range syms {
				if !usable(s, sym, fam) {
					continue
				}
				locality := 1.5
				if sym.Dir == dir {
					locality = 3
				}
				cands = append(cands, candidate{sym: sym, score: locality / float64(i+1) / math.Sqrt(float64(len(syms)))})
			}
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
	var out []api.Declaration
	used := 0
	seen := map[*index.Symbol]bool{}
	for _, c := range cands {
		if len(out) == g.cfg.MaxDeclarations {
			break
		}
		if seen[c.sym] || !g.allowedPath(c.sym.Path) {
			continue
		}
		if used+len(c.sym.Head) > budget {
			continue
		}
		seen[c.sym] = true
		used += len(c.sym.Head)
		out = append(out, api.Declaration{Filepath: g.displayPath(c.sym.Path), Body: c.sym.Head})
	}
	return out
}

// allowedPath re-checks a path against the ignore rules at use time (a
// .gitignore may have changed since it was indexed).
func (g *Gatherer) allowedPath(path string) bool {
	g.mu.RLock()
	d := g.byPath[path]
	g.mu.RUnlock()
	if d != nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.allowed
	}
	allowed, _ := g.rules(path, false)
	return allowed
}

// displayPath is path relative to the innermost workspace folder holding
// it (slash-separated), or the path itself.
func (g *Gatherer) displayPath(path string) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	best := ""
	for _, w := range g.workspaces {
		if rel, ok := w.ws.Rel(path); ok && (best == "" || len(rel) < len(best)) {
			best = rel
		}
	}
	if best == "" {
		return filepath.ToSlash(path)
	}
	return best
}

// changedChunks are the pieces of recent edits in other open documents and
// of the folders' git diffs (other files).
func (g *Gatherer) changedChunks(current string) []recent.Chunk {
	var chunks []recent.Chunk
	for _, sp := range g.tracker.EditedSpans() {
		if sp.Path == current {
			continue
		}
		if c, ok := g.chunkOf(sp.Path, sp.StartRow-3, sp.EndRow+3); ok {
			chunks = append(chunks, c...)
		}
	}
	g.mu.RLock()
	ws := append([]*workspace(nil), g.workspaces...)
	g.mu.RUnlock()
	for _, w := range ws {
		w.mu.RLock()
		for _, c := range w.diffs {
			if c.Path != current && !g.isOpen(c.Path) {
				chunks = append(chunks, c)
			}
		}
		w.mu.RUnlock()
	}
	return chunks
}

// openedChunks are the pieces of other open documents around the rows the
// user viewed most recently.
func (g *Gatherer) openedChunks(current string) []recent.Chunk {
	var chunks []recent.Chunk
	for _, sp := range g.tracker.ViewedSpans() {
		if sp.Path == current {
			continue
		}
		if c, ok := g.chunkOf(sp.Path, sp.StartRow, sp.EndRow); ok {
			chunks = append(chunks, c...)
		}
	}
	return chunks
}

// chunkOf cuts rows from..to of an open, allowed document into chunks of
// maxChunkLines lines, caching each chunk's tokens until the document
// changes.
func (g *Gatherer) chunkOf(path string, from, to int) ([]recent.Chunk, bool) {
	g.mu.RLock()
	d := g.byPath[path]
	g.mu.RUnlock()
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.allowed {
		return nil, false
	}
	if d.lines == nil {
		d.lines = append(d.lines, 0)
		for i, b := range d.text {
			if b == '\n' {
				d.lines = append(d.lines, i+1)
			}
		}
	}
	from = max(0, from)
	to = min(len(d.lines)-1, to)
	var out []recent.Chunk
	for s := from; s <= to; s += maxChunkLines {
		e := min(to, s+maxChunkLines-1)
		key := [2]int{s, e}
		c, ok := d.chunks[key]
		if !ok {
			end := len(d.text)
			if e+1 < len(d.lines) {
				end = d.lines[e+1]
			}
			text := string(d.text[d.lines[s]:end])
			c = recent.Chunk{Path: path, StartRow: s, Text: text, Tokens: recent.Tokens(text)}
			d.chunks[key] = c
		}
		out = append(out, c)
	}
	return out, true
}

// snippets ranks chunks against the query and converts the best to the
// wire type.
func (g *Gatherer) snippets(ctx context.Context, query recent.TokenSet, chunks []recent.Chunk, budget, maxN int) []api.Snippet {
	if len(query) == 0 || len(chunks) == 0 || ctx.Err() != nil {
		return nil
	}
	ranked := recent.Rank(query, chunks, budget, minSnippetScore)
	out := make([]api.Snippet, 0, min(len(ranked), maxN))
	for _, s := range ranked {
		if len(out) == maxN {
			break
		}
		out = append(out, api.Snippet{Filepath: g.displayPath(s.Path), Body: s.Text, Score: s.Score})
	}
	return out
}

// Where namesWithPrefix looks: the top of the file (imports) and the code
// around the cursor, so that its cost does not grow with the file.
const (
	namesHead   = 16 << 10
	namesBefore = 32 << 10
	namesAfter  = 16 << 10
)

// namesWithPrefix returns up to limit distinct identifiers of text, other
// than the one at skip, that start with prefix and are longer than it,
// nearest to skip first. It reads the top of the text and the region
// around skip.
func namesWithPrefix(text []byte, prefix string, skip, limit int) []string {
	var hits []nameHit
	seen := map[string]int{} // name -> index in hits
	p := []byte(prefix)
	regions := [][2]int{{0, min(len(text), namesHead)}}
	if from := max(namesHead, skip-namesBefore); from < len(text) {
		regions = append(regions, [2]int{from, min(len(text), skip+namesAfter)})
	}
	for _, r := range regions {
		hits = scanNames(text, r[0], r[1], p, skip, hits, seen)
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].dist < hits[b].dist })
	out := make([]string, 0, min(limit, len(hits)))
	for _, h := range hits {
		if len(out) == limit {
			break
		}
		out = append(out, h.name)
	}
	return out
}

// nameHit is a name found by namesWithPrefix and its nearest distance
// from the cursor.
type nameHit struct {
	name string
	dist int
}

// scanNames appends the identifiers starting with p in text[from:to].
func scanNames(text []byte, from, to int, p []byte, skip int, hits []nameHit, seen map[string]int) []nameHit {
	for i := from; i < to; {
		j := bytes.Index(text[i:to], p)
		if j < 0 {
			break
		}
		start := i + j
		i = start + len(p)
		if start == skip || start > 0 && isIdentByte(text[start-1]) {
			continue
		}
		end := i
		for end < len(text) && isIdentByte(text[end]) {
			end++
		}
		if end == i {
			continue // the prefix itself, not a longer name
		}
		name := string(text[start:end])
		dist := start - skip
		if dist < 0 {
			dist = -dist
		}
		if k, ok := seen[name]; ok {
			hits[k].dist = min(hits[k].dist, dist)
			continue
		}
		seen[name] = len(hits)
		hits = append(hits, nameHit{name, dist})
	}
	return hits
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
