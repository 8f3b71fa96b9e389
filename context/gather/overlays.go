package gather

import (
	"time"
)

func (g *Gatherer) kickOverlays() {
	select {
	case g.overlayKick <- struct{}{}:
	default:
	}
}

// runOverlays re-extracts the declarations of edited documents after a
// quiet period and puts them in the index in place of the disk version.
func (g *Gatherer) runOverlays() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.overlayKick:
		}
		timer := time.NewTimer(g.cfg.OverlayDelay)
	quiet:
		for {
			select {
			case <-g.ctx.Done():
				timer.Stop()
				return
			case <-g.overlayKick:
				timer.Reset(g.cfg.OverlayDelay)
			case <-timer.C:
				break quiet
			}
		}
		g.mu.RLock()
		docs := make([]*document, 0, len(g.docs))
		for _, d := range g.docs {
			docs = append(docs, d)
		}
		g.mu.RUnlock()
		for _, d := range docs {
			g.refreshOverlay(d)
		}
	}
}

func (g *Gatherer) refreshOverlay(d *document) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g.refreshOverlayLocked(d)
}

// refreshOverlayLocked puts the declarations of d's tree in the index
// overlay if d changed since they were last put there; d.mu is held.
func (g *Gatherer) refreshOverlayLocked(d *document) {
	if !d.dirty || d.doc == nil || d.path == "" || !d.allowed {
		return
	}
	d.dirty = false
	lang := d.doc.Language()
	decls, err := lang.Declarations(d.doc.Root(), d.text)
	if err != nil {
		g.logf("gather: declarations of %s: %v", d.uri, err)
		return
	}
	g.ix.SetOverlay(d.path, lang.Name, decls)
}
