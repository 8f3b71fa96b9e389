package gather

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/servalhq/serval/context/ignore"
	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/recent"
)

// workspace is one folder: its index walker/watcher and its git diff.
type workspace struct {
	ws       *index.Workspace
	diffKick chan struct{}

	mu    sync.RWMutex
	diffs []recent.Chunk // chunks of `git diff HEAD`, allowed files only
}

// AddWorkspaceFolder starts indexing path in the background and watching
// it; completions are served meanwhile with what is indexed so far.
func (g *Gatherer) AddWorkspaceFolder(ctx context.Context, path string) error {
	root := resolvePath(path)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errors.New("gatherer is closed")
	}
	for _, w := range g.workspaces {
		if w.ws.Root() == root {
			g.mu.Unlock()
			return nil // already indexed and watched
		}
	}
	g.mu.Unlock()
	w := &workspace{diffKick: make(chan struct{}, 1)}
	ws, err := index.Open(g.ctx, path, g.ix, index.Options{
		MaxFileSize: g.cfg.MaxFileSize,
		Excludes:    g.cfg.Excludes,
		IsOpen:      g.isOpen,
		OnChange: func(string, time.Duration) {
			select {
			case w.diffKick <- struct{}{}:
			default:
			}
		},
		Logf: g.cfg.Logf,
	})
	if err != nil {
		return fmt.Errorf("add workspace folder: %w", err)
	}
	w.ws = ws
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errors.Join(errors.New("gatherer is closed"), ws.Close())
	}
	g.workspaces = append(g.workspaces, w)
	docs := make([]*document, 0, len(g.docs))
	for _, d := range g.docs {
		docs = append(docs, d)
	}
	g.mu.Unlock()
	// Documents opened before the folder was known get its ignore rules;
	// one now excluded loses its tree.
	for _, d := range docs {
		allowed, excluded := g.rules(d.path, true)
		d.mu.Lock()
		d.allowed, d.excluded = allowed, excluded
		if excluded {
			g.dropTree(d)
		}
		d.mu.Unlock()
	}
	if !g.cfg.DisableGitDiff {
		w.diffKick <- struct{}{}
		g.spawn(func() { g.runGitDiff(w) })
	}
	return nil
}

// Ready is closed when every workspace folder added so far is indexed.
func (g *Gatherer) Ready() <-chan struct{} {
	g.mu.RLock()
	ws := append([]*workspace(nil), g.workspaces...)
	g.mu.RUnlock()
	done := make(chan struct{})
	if !g.spawn(func() {
		defer close(done)
		for _, w := range ws {
			select {
			case <-w.ws.Ready():
			case <-g.ctx.Done():
				return
			}
		}
	}) {
		close(done)
	}
	return done
}

func (g *Gatherer) isOpen(path string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.byPath[path]
	return ok
}

// rules decides whether a file may feed context (allowed) and whether it
// matches an exclusion glob (excluded), by the innermost workspace folder
// that holds it; a file outside every folder is judged by the exclusion
// globs alone. With load set, the .gitignore files above path that the
// background walk has not read yet are read first (disk I/O: document
// events only, never Gather).
func (g *Gatherer) rules(file string, load bool) (allowed, excluded bool) {
	if file == "" {
		return false, false
	}
	g.mu.RLock()
	var best *index.Workspace
	for _, w := range g.workspaces {
		if _, ok := w.ws.Rel(file); ok && (best == nil || len(w.ws.Root()) > len(best.Root())) {
			best = w.ws
		}
	}
	g.mu.RUnlock()
	if best != nil {
		rel, _ := best.Rel(file)
		if load {
			if err := best.Matcher().LoadParents(path.Dir(rel)); err != nil {
				return false, false // unknown rules: keep the file out
			}
		}
		excluded = best.Matcher().Excluded(rel)
		return !excluded && !best.Matcher().Ignored(rel, false), excluded
	}
	excluded = ignore.MatchExcluded(g.cfg.Excludes, filepath.ToSlash(file))
	return !excluded, excluded
}

// resolvePath makes path absolute with its symlinks resolved, so that it
// compares with the index's paths.
func resolvePath(path string) string {
	if path == "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		return resolved
	}
	return path
}
