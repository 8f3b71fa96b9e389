package gather

import (
	"math"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/syntax"
)

// languageFamily groups grammars whose files call each other's declarations.
func languageFamily(lang string) string {
	switch lang {
	case "javascript", "typescript", "tsx":
		return "js"
	case "c", "cpp":
		return "c"
	}
	return lang
}

// couldBeReferent reports whether sym can be what an identifier at the cursor
// refers to: a declaration of the same language family, not the one the
// cursor is in, and for Go not from a _test.go file unless the cursor is in
// one (non-test code cannot see test files).
func couldBeReferent(s snapshot, sym *index.Symbol, fam string) bool {
	if languageFamily(sym.Language) != fam {
		return false
	}
	if sym.Path == s.path && (int(sym.StartRow) <= s.row && s.row <= int(sym.EndRow) || s.isEnclosing(sym)) {
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

// isEnclosing reports whether sym is a declaration the cursor is in, as the
// index knew it: the index takes a document's declarations only when its
// edits pause, so while a body is typed the index's version of it ends
// before the cursor, and its head (the body as it was) changes at every
// pause. Offered as context it would repeat what the prefix already shows
// and, changing, make the server evaluate the prompt again from it on.
func (s snapshot) isEnclosing(sym *index.Symbol) bool {
	for _, e := range s.enclosing {
		if e.Name == sym.Name && e.StartRow == sym.StartRow {
			return true
		}
	}
	return false
}

// symbolBefore orders candidates of equal weight by where they are, not
// by the index's insertion order, which changes whenever a file's
// declarations are replaced: the same input then picks the same context
// under the budget, and the server's cached prompt still matches.
func symbolBefore(a, b *index.Symbol) bool {
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	if a.StartRow != b.StartRow {
		return a.StartRow < b.StartRow
	}
	return a.Name < b.Name
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
func (g *Gatherer) declarations(s snapshot, budget int) []Declaration {
	if s.lang == nil || len(s.idents) == 0 {
		return nil
	}
	fam := languageFamily(s.lang.Name)
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
			if !couldBeReferent(s, sym, fam) {
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
		sort.Slice(kept, func(a, b int) bool {
			if kept[a].rank != kept[b].rank {
				return kept[a].rank > kept[b].rank
			}
			return symbolBefore(kept[a].sym, kept[b].sym)
		})
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
			if couldBeReferent(s, sym, fam) {
				cands = append(cands, candidate{sym: sym, score: 3 / float64(i+1)})
			}
		}
		for i, name := range s.completions {
			syms := g.ix.Lookup(name)
			for _, sym := range syms {
				if !couldBeReferent(s, sym, fam) {
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
	sort.Slice(cands, func(a, b int) bool {
		if cands[a].score != cands[b].score {
			return cands[a].score > cands[b].score
		}
		return symbolBefore(cands[a].sym, cands[b].sym)
	})
	var out []Declaration
	used := 0
	seen := map[*index.Symbol]bool{}
	for _, c := range cands {
		if len(out) == g.cfg.MaxDeclarations {
			break
		}
		if seen[c.sym] || !g.allowedPath(c.sym.Path) {
			continue
		}
		n := utf8.RuneCountInString(c.sym.Head)
		if used+n > budget {
			continue
		}
		seen[c.sym] = true
		used += n
		out = append(out, Declaration{Filepath: g.displayPath(c.sym.Path), Body: c.sym.Head})
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
