package gather

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	sitter "github.com/smacker/go-tree-sitter"

	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/recent"
	"github.com/servalhq/serval/context/syntax"
)

// document is one open document.
type document struct {
	uri, path string
	lang      *syntax.Language // nil without a grammar

	// lastUse is the g.uses stamp of the latest DidOpen, DidChange or
	// Gather; hasTree mirrors doc != nil. Both are read without mu to pick
	// the documents whose trees to drop.
	lastUse atomic.Int64
	hasTree atomic.Bool
	// treeBytes is the text size counted in Gatherer.treeBytes for this
	// document's tree (0 without one). Guarded by mu.
	treeBytes int64

	mu       sync.Mutex
	doc      *syntax.Document // nil without a grammar, for excluded or very large documents, or dropped (see MaxTrees)
	text     []byte
	lines    []uint32 // line start offsets of text, built lazily at their exact size (100 open files made 1 MB of slack with append)
	allowed  bool     // may feed the context of other documents
	excluded bool
	closed   bool                    // closed or replaced: never gets a tree again
	dirty    bool                    // declarations not yet in the index overlay; only with a tree
	chunks   map[[2]int]recent.Chunk // by first and last row, until the text changes
	// indexed is closed when the indexing of the document's folder that
	// its opening started (indexAhead) has finished; nil when none was.
	indexed <-chan struct{}
}

// DidOpen starts tracking a document with the editor's text.
func (g *Gatherer) DidOpen(uri, path, languageID string, text []byte) {
	path = resolvePath(path)
	d := &document{uri: uri, path: path, text: text, chunks: map[[2]int]recent.Chunk{}}
	d.allowed, d.excluded = g.rules(path, true)
	if lang, ok := syntax.LanguageFor(languageID, path); ok {
		d.lang = lang
	}
	g.touch(d)
	built := g.ensureTree(g.ctx, d) // d is not shared yet: no lock needed
	if built {
		d.dirty = true
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.closeDocument(d)
		return
	}
	old := g.docs[uri]
	g.docs[uri] = d
	if old != nil && g.byPath[old.path] == old {
		delete(g.byPath, old.path)
	}
	if path != "" {
		g.byPath[path] = d
	}
	g.mu.Unlock()
	if old != nil {
		g.closeDocument(old)
	}
	if built {
		g.trimTrees(d)
	}
	if d.allowed && path != "" {
		g.tracker.Viewed(path, 0, 30)
		if indexed := g.indexAhead(path); indexed != nil {
			d.mu.Lock()
			d.indexed = indexed
			d.mu.Unlock()
		}
	}
	g.kickOverlays()
}

// closeDocument releases d's tree for good: a call that found d before it
// was closed or replaced does not parse it again.
func (g *Gatherer) closeDocument(d *document) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	g.dropTree(d)
}

// indexAhead indexes the folder of a document just opened when the
// background walk of its workspace folder is still running, so that the
// declarations of its package are there for the first completions. The
// channel it returns is closed when that is done; nil when nothing was
// started.
func (g *Gatherer) indexAhead(path string) <-chan struct{} {
	g.mu.RLock()
	var ws *index.Workspace
	for _, w := range g.workspaces {
		if _, ok := w.ws.Rel(path); ok {
			ws = w.ws
			break
		}
	}
	g.mu.RUnlock()
	if ws == nil {
		return nil
	}
	select {
	case <-ws.Ready():
		return nil
	default:
	}
	done := make(chan struct{})
	if !g.spawn(func() {
		defer close(done)
		ws.IndexDir(g.ctx, filepath.Dir(path))
	}) {
		return nil
	}
	return done
}

// Settle brings what Related will answer for the document at uri up to
// date now, for a caller asking ahead of the user (the agent's warm-up):
// the declarations of its current text go into the index at once instead
// of after the overlay's quiet period, and the indexing of its folder that
// opening it started is waited for, until ctx ends. Without it a warm-up
// sent just after a document was opened would lack the declarations that
// the first completion there, a moment later, includes: the prompts would
// differ near their start and the warmed one would not be reused.
func (g *Gatherer) Settle(ctx context.Context, uri string) error {
	g.mu.RLock()
	d := g.docs[uri]
	g.mu.RUnlock()
	if d == nil {
		return nil
	}
	d.mu.Lock()
	built := g.ensureTree(ctx, d)
	if built {
		d.dirty = true
	}
	g.refreshOverlayLocked(d)
	indexed := d.indexed
	d.mu.Unlock()
	if built {
		g.trimTrees(d)
	}
	if indexed == nil {
		return nil
	}
	select {
	case <-indexed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("settle %s: folder still being indexed: %w", uri, context.Cause(ctx))
	}
}

// DidChange applies the editor's edits to the document's tree (an
// incremental reparse) and records the edited rows as recent work. text is
// the full text after the edits; no edits means a full replacement.
func (g *Gatherer) DidChange(uri string, edits []Edit, text []byte) {
	g.mu.RLock()
	d := g.docs[uri]
	g.mu.RUnlock()
	if d == nil {
		return
	}
	g.touch(d)
	d.mu.Lock()
	d.text = text
	d.lines = nil
	clear(d.chunks)
	// A document whose tree was dropped is parsed again from the new
	// text; the edits would have to apply to the dropped tree.
	built := g.ensureTree(g.ctx, d)
	if built {
		d.dirty = true
	} else if d.doc != nil {
		var err error
		if len(edits) == 0 {
			if err = d.doc.Replace(g.ctx, text); err != nil {
				g.dropTree(d) // out of step with the text
			}
		} else {
			in := make([]sitter.EditInput, len(edits))
			for i, e := range edits {
				in[i] = sitter.EditInput{
					StartIndex: e.StartByte, OldEndIndex: e.OldEndByte, NewEndIndex: e.NewEndByte,
					StartPoint:  sitter.Point{Row: e.StartPoint.Row, Column: e.StartPoint.Column},
					OldEndPoint: sitter.Point{Row: e.OldEndPoint.Row, Column: e.OldEndPoint.Column},
					NewEndPoint: sitter.Point{Row: e.NewEndPoint.Row, Column: e.NewEndPoint.Column},
				}
			}
			if err = d.doc.Update(g.ctx, in, text); err != nil {
				// A bad edit must not leave a tree out of step with the text.
				if rerr := d.doc.Replace(g.ctx, text); rerr != nil {
					err = errors.Join(err, rerr)
					g.dropTree(d)
				}
			}
		}
		if err != nil {
			g.logf("gather: change %s: %v", uri, err)
		}
		if d.doc != nil {
			g.resizeTree(d)
		}
		d.dirty = true
	}
	allowed, path := d.allowed, d.path
	d.mu.Unlock()
	if built {
		g.trimTrees(d)
	}
	if allowed && path != "" {
		for _, e := range edits {
			g.tracker.Edited(path, int(e.StartPoint.Row), int(e.NewEndPoint.Row))
		}
		if len(edits) == 0 {
			g.tracker.Edited(path, 0, 0)
		}
	}
	g.kickOverlays()
}

// DidClose stops tracking a document; the index goes back to its disk
// version.
func (g *Gatherer) DidClose(uri string) {
	g.mu.Lock()
	d := g.docs[uri]
	delete(g.docs, uri)
	if d != nil && g.byPath[d.path] == d {
		delete(g.byPath, d.path)
	}
	workspaces := append([]*workspace(nil), g.workspaces...)
	g.mu.Unlock()
	if d == nil {
		return
	}
	g.closeDocument(d)
	if d.path == "" {
		return
	}
	g.ix.ClearOverlay(d.path)
	for _, w := range workspaces {
		if _, ok := w.ws.Rel(d.path); ok {
			g.spawn(func() { w.ws.Reindex(g.ctx, d.path) })
			break
		}
	}
}
