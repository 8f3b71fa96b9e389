package gather

import (
	"bytes"
	"context"

	"github.com/servalhq/serval/context/recent"
	"github.com/servalhq/serval/context/syntax"
)

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
	// enclosing are the declarations the cursor is in, from the current
	// tree.
	enclosing []syntax.Enclosing
}

// Gather returns the context for a completion at req.Offset: its Windows
// and its Related context.
func (g *Gatherer) Gather(ctx context.Context, req Request) (Result, error) {
	w, err := g.Windows(ctx, req)
	if err != nil {
		return Result{}, err
	}
	rel, err := g.Related(ctx, req)
	return Result{Windows: w, Related: rel}, err
}

// Windows cuts the prefix and suffix windows at req.Offset: at statement
// boundaries from the document's syntax tree, with the headers of the
// enclosing functions, or at line boundaries where there is no tree (no
// grammar, a large document, or req.Text is not the text the Gatherer
// holds). It reads only memory. An unknown document has empty windows (or
// plain ones from req.Text); an excluded one gives ErrExcluded.
func (g *Gatherer) Windows(ctx context.Context, req Request) (Windows, error) {
	pb, sb := req.PrefixBudget, req.SuffixBudget
	if pb <= 0 {
		pb = g.cfg.PrefixBudget
	}
	if sb <= 0 {
		sb = g.cfg.SuffixBudget
	}
	g.mu.RLock()
	d := g.docs[req.URI]
	g.mu.RUnlock()
	if d == nil {
		return plainWindows(req.Text, req.Offset, pb, sb), nil
	}
	g.touch(d)
	d.mu.Lock()
	if d.excluded {
		d.mu.Unlock()
		return Windows{}, ErrExcluded
	}
	if req.Text != nil && !sameText(req.Text, d.text) {
		d.mu.Unlock()
		return plainWindows(req.Text, req.Offset, pb, sb), nil
	}
	// A document whose tree was dropped (see Config.MaxTrees) is parsed
	// again; if ctx ends first, it gets plain windows this time.
	built := g.ensureTree(ctx, d)
	var w Windows
	if d.doc != nil {
		sw := syntax.NewWindow(d.doc.Root(), d.text, req.Offset, pb, sb)
		w = Windows{Prefix: sw.Text(), Suffix: sw.Suffix}
	} else {
		w = plainWindows(d.text, req.Offset, pb, sb)
	}
	d.mu.Unlock()
	if built {
		g.trimTrees(d)
	}
	return w, nil
}

func plainWindows(text []byte, offset, pb, sb int) Windows {
	w := syntax.PlainWindow(text, offset, pb, sb)
	return Windows{Prefix: w.Prefix, Suffix: w.Suffix}
}

// sameText reports whether a and b are the same text; snapshots are
// shared, so usually the same memory.
func sameText(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b))
}

// Related returns the context beyond the windows for a completion at
// req.Offset: declarations of the identifiers near the cursor and snippets
// of recent work. It reads only memory. The sources run concurrently; one
// that has not answered when ctx or the configured SourceTimeout expires is
// left out. An unknown document has none.
func (g *Gatherer) Related(ctx context.Context, req Request) (Related, error) {
	g.mu.RLock()
	d := g.docs[req.URI]
	g.mu.RUnlock()
	if d == nil {
		return Related{}, nil
	}
	cb := req.ContextBudget
	if cb <= 0 {
		cb = g.cfg.ContextBudget
	}

	var res Related
	var snap snapshot
	g.touch(d)
	d.mu.Lock()
	if d.excluded {
		d.mu.Unlock()
		return Related{}, ErrExcluded
	}
	if req.Text != nil && !sameText(req.Text, d.text) {
		d.mu.Unlock()
		return Related{}, nil // the offset is in a text this document no longer has
	}
	built := g.ensureTree(ctx, d)
	off := max(0, min(req.Offset, len(d.text)))
	if d.doc != nil {
		root := d.doc.Root()
		snap.lang = d.doc.Language()
		snap.idents = syntax.IdentifiersNear(root, d.text, off, identLookback)
		snap.enclosing = snap.lang.EnclosingDecls(root, d.text, off)
		if len(snap.idents) > 0 {
			if id := snap.idents[0]; int(id.StartByte)+len(id.Name) == off && len(id.Name) >= 3 {
				snap.completions = namesWithPrefix(d.text, id.Name, int(id.StartByte), 8)
			}
		}
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
		decls    []Declaration
		snippets []Snippet
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
		"declarations": func() answer { return answer{kind: kindDecls, decls: redactDeclarations(g.declarations(snap, cb/2))} },
		"changed": func() answer {
			return answer{kind: kindChanged, snippets: redactSnippets(g.snippets(sctx, query, g.changedChunks(snap.path), cb/4, g.cfg.MaxChanged))}
		},
		"opened": func() answer {
			return answer{kind: kindOpened, snippets: redactSnippets(g.snippets(sctx, query, g.openedChunks(snap.path), cb/4, g.cfg.MaxOpened))}
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
