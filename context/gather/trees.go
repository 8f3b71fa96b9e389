package gather

import (
	"context"
	"sort"

	"github.com/servalhq/serval/context/syntax"
)

// maxTreeBytes is the largest document that gets a syntax tree.
const maxTreeBytes = 2 << 20

// touch stamps a use of d, which keeps its tree over those of documents
// used less recently.
func (g *Gatherer) touch(d *document) {
	d.lastUse.Store(g.uses.Add(1))
}

// ensureTree parses d's text from scratch when d may have a tree and has
// none (it was never parsed or its tree was dropped), and reports whether it
// made one. d.mu is held (or d is not shared yet). An excluded document, one
// without a grammar and a very large one (a bundle, generated data: parsing
// it would hold up the editor's messages) get no tree and plain windows.
func (g *Gatherer) ensureTree(ctx context.Context, d *document) bool {
	if d.doc != nil || d.lang == nil || d.closed || d.excluded || len(d.text) > maxTreeBytes {
		return false
	}
	doc, err := syntax.NewDocument(ctx, d.lang, d.text)
	if err != nil {
		if ctx.Err() == nil { // a caller that gave up is not a problem
			g.logf("gather: parse %s: %v", d.uri, err)
		}
		return false
	}
	d.doc = doc
	d.hasTree.Store(true)
	g.trees.Add(1)
	g.resizeTree(d)
	return true
}

// dropTree releases d's tree, if any. d.mu is held (or d is not shared).
func (g *Gatherer) dropTree(d *document) {
	if d.doc == nil {
		return
	}
	d.doc.Close()
	d.doc = nil
	d.hasTree.Store(false)
	g.trees.Add(-1)
	g.treeBytes.Add(-d.treeBytes)
	d.treeBytes = 0
	select {
	case g.releaseKick <- struct{}{}:
	default:
	}
}

// resizeTree counts d's current text size as the size of its tree. d.mu is
// held (or d is not shared), and d has a tree.
func (g *Gatherer) resizeTree(d *document) {
	n := int64(len(d.text))
	g.treeBytes.Add(n - d.treeBytes)
	d.treeBytes = n
}

// runReleases gives the C memory of dropped trees back to the system, off
// the callers' path; drops during one release are served by the next.
func (g *Gatherer) runReleases() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.releaseKick:
			syntax.ReleaseMemory()
			g.released.Add(1)
		}
	}
}

// trimTrees drops the trees of the least recently used documents until at
// most MaxTrees documents hold one and their text is within MaxTreeBytes;
// keep, the document just used, keeps its own. The documents are picked under g.mu by their lastUse stamps, then
// locked one at a time (never two document locks at once): a document used
// since it was picked is spared, and the next pass picks again.
func (g *Gatherer) trimTrees(keep *document) {
	type candidate struct {
		d   *document
		use int64
	}
	over := func() bool {
		return g.trees.Load() > int64(g.cfg.MaxTrees) || g.treeBytes.Load() > int64(g.cfg.MaxTreeBytes)
	}
	for pass := 0; pass < 3 && over(); pass++ {
		g.mu.RLock()
		var cands []candidate
		for _, d := range g.docs {
			if d != keep && d.hasTree.Load() {
				cands = append(cands, candidate{d, d.lastUse.Load()})
			}
		}
		g.mu.RUnlock()
		sort.Slice(cands, func(i, j int) bool { return cands[i].use < cands[j].use })
		for _, c := range cands {
			if !over() {
				return
			}
			g.evictTree(c.d, c.use)
		}
	}
}

// evictTree drops d's tree unless d was used after the stamp use. The
// declarations of an edited document go to the index overlay first, while
// its tree is there to give them.
func (g *Gatherer) evictTree(d *document, use int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doc == nil || d.lastUse.Load() != use {
		return
	}
	g.refreshOverlayLocked(d)
	g.dropTree(d)
}
