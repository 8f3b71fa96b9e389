package gather

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/servalhq/serval/context/recent"
)

// runGitDiff re-reads `git diff HEAD` of a folder whenever the folder
// changes on disk, or git's index or HEAD changes (a commit, a checkout),
// after a quiet period, until Close.
func (g *Gatherer) runGitDiff(w *workspace) {
	var gitEvents <-chan fsnotify.Event
	if gw, err := fsnotify.NewWatcher(); err == nil {
		defer gw.Close()
		if err := gw.Add(filepath.Join(w.ws.Root(), ".git")); err == nil {
			gitEvents = gw.Events
		}
	}
	gitChanged := func(ev fsnotify.Event) bool {
		name := filepath.Base(ev.Name)
		return name == "index" || name == "HEAD"
	}
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-w.diffKick:
		case ev := <-gitEvents:
			if !gitChanged(ev) {
				continue
			}
		}
		timer := time.NewTimer(g.cfg.GitDiffDelay)
	quiet:
		for {
			select {
			case <-g.ctx.Done():
				timer.Stop()
				return
			case <-w.diffKick:
				timer.Reset(g.cfg.GitDiffDelay)
			case ev := <-gitEvents:
				if gitChanged(ev) {
					timer.Reset(g.cfg.GitDiffDelay)
				}
			case <-timer.C:
				break quiet
			}
		}
		ctx, cancel := context.WithTimeout(g.ctx, 30*time.Second)
		chunks, err := g.readGitDiff(ctx, w)
		cancel()
		if err != nil {
			g.logf("gather: %v", err)
			continue
		}
		w.mu.Lock()
		w.diffs = chunks
		w.mu.Unlock()
	}
}

// maxChunkLines is the size of the pieces hunks and edited ranges are cut
// into, about Tabby's 500-character chunks.
const maxChunkLines = 15

func (g *Gatherer) readGitDiff(ctx context.Context, w *workspace) ([]recent.Chunk, error) {
	out, err := recent.GitDiff(ctx, w.ws.Root())
	if errors.Is(err, recent.ErrNotRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	hunks, err := recent.ParseDiff(w.ws.Root(), out)
	if err != nil {
		return nil, err
	}
	var chunks []recent.Chunk
	for _, h := range hunks {
		if !w.ws.Allowed(h.Path) {
			continue
		}
		lines := bytes.SplitAfter([]byte(h.Text), []byte("\n"))
		for i := 0; i < len(lines); i += maxChunkLines {
			text := string(bytes.Join(lines[i:min(len(lines), i+maxChunkLines)], nil))
			chunks = append(chunks, recent.Chunk{Path: h.Path, StartRow: h.StartRow + i, Text: text, Tokens: recent.Tokens(text)})
		}
	}
	return chunks, nil
}
