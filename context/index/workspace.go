package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	sitter "github.com/smacker/go-tree-sitter"

	"github.com/servalhq/serval/context/ignore"
	"github.com/servalhq/serval/context/syntax"
)

// Options tune a Workspace.
type Options struct {
	// MaxFileSize skips larger files; zero means 1 MiB.
	MaxFileSize int64
	// Workers parse files in parallel; zero means GOMAXPROCS.
	Workers int
	// Excludes are the exclusion globs (nil means ignore.DefaultExcludes).
	Excludes []string
	// IsOpen reports whether the editor has path open; the index then keeps
	// the editor's declarations and ignores the disk. May be nil.
	IsOpen func(path string) bool
	// OnChange, if set, is called (on the watcher goroutine) after a disk
	// change has been applied to the index, with the time it took from the
	// fsnotify event. A Gatherer uses it to refresh the git diff.
	OnChange func(path string, took time.Duration)
	// Logf reports problems that do not stop the workspace (an unreadable
	// file). May be nil.
	Logf func(format string, args ...any)
}

// Workspace indexes one workspace folder in the background and keeps the
// index fresh from fsnotify events until Close.
type Workspace struct {
	root    string
	ix      *Index
	opts    Options
	matcher *ignore.Matcher
	watcher *fsnotify.Watcher

	ready  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	indexed int // files indexed by the initial walk
	err     error
}

// buildManifests mark a folder whose build-output children (dist, build,
// target, out, bin, obj) are skipped.
var buildManifests = []string{"package.json", "Cargo.toml", "pom.xml", "build.gradle", "build.gradle.kts", "CMakeLists.txt", "setup.py", "pyproject.toml"}

var buildOutputDirs = map[string]bool{"dist": true, "build": true, "target": true, "out": true, "bin": true, "obj": true}

// Open starts indexing root into ix in the background and watching it.
// root's symlinks are resolved once; no symlink inside it is followed.
func Open(ctx context.Context, root string, ix *Index, opts Options) (*Workspace, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", root, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("workspace %s: %w", root, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("workspace %s is not a directory", root)
	}
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = 1 << 20
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	matcher, err := ignore.NewMatcher(abs, opts.Excludes)
	if err != nil {
		return nil, err
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", abs, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Workspace{root: abs, ix: ix, opts: opts, matcher: matcher, watcher: watcher, ready: make(chan struct{}), cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.run(ctx)
	}()
	return w, nil
}

// Root is the workspace folder (absolute, symlinks resolved).
func (w *Workspace) Root() string { return w.root }

// Matcher answers ignore and exclusion questions for this folder.
func (w *Workspace) Matcher() *ignore.Matcher { return w.matcher }

// Ready is closed when the initial index is complete.
func (w *Workspace) Ready() <-chan struct{} { return w.ready }

// Err is the error that stopped the initial walk, if any.
func (w *Workspace) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close stops watching and waits for the background goroutines.
func (w *Workspace) Close() error {
	w.cancel()
	err := w.watcher.Close()
	w.wg.Wait()
	if err != nil {
		return fmt.Errorf("close watcher: %w", err)
	}
	return nil
}

// Rel returns path relative to the root, slash-separated, and whether path
// is inside the root.
func (w *Workspace) Rel(path string) (string, bool) {
	rel, err := filepath.Rel(w.root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// Allowed reports whether a file inside the workspace may feed context.
func (w *Workspace) Allowed(path string) bool {
	rel, ok := w.Rel(path)
	return ok && w.matcher.Allowed(rel)
}

func (w *Workspace) logf(format string, args ...any) {
	if w.opts.Logf != nil {
		w.opts.Logf(format, args...)
	}
}

func (w *Workspace) run(ctx context.Context) {
	err := w.indexTree(ctx, w.root)
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	close(w.ready)
	w.watch(ctx)
}

// indexTree walks dir, watching each directory it enters and indexing
// every allowed source file with a pool of parsers.
func (w *Workspace) indexTree(ctx context.Context, dir string) error {
	paths := make(chan string, 256)
	var workers sync.WaitGroup
	for range w.opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			p := newParsers()
			defer p.close()
			for path := range paths {
				if ctx.Err() != nil {
					continue // drain
				}
				w.indexFile(ctx, p, path)
			}
		}()
	}
	count := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil // an unreadable entry is skipped
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // never followed
		}
		rel, ok := w.Rel(path)
		if !ok {
			return nil
		}
		if d.IsDir() {
			if path != w.root && w.skipDir(rel, path) {
				return filepath.SkipDir
			}
			if err := w.matcher.LoadDir(relOrEmpty(rel)); err != nil {
				w.logf("index: %v", err)
			}
			if err := w.watcher.Add(path); err != nil {
				w.logf("index: watch %s: %v", path, err)
			}
			return nil
		}
		if !d.Type().IsRegular() || !w.wanted(rel) {
			return nil
		}
		count++
		paths <- path
		return nil
	})
	close(paths)
	workers.Wait()
	w.mu.Lock()
	w.indexed += count
	w.mu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("index %s: %w", dir, err)
	}
	return nil
}

func relOrEmpty(rel string) string {
	if rel == "." {
		return ""
	}
	return rel
}

// skipDir reports whether the walk stays out of a directory.
func (w *Workspace) skipDir(rel, path string) bool {
	name := filepath.Base(path)
	if ignore.SkippedDir(name) || w.matcher.Ignored(rel, true) || w.matcher.Excluded(rel) {
		return true
	}
	if buildOutputDirs[name] {
		parent := filepath.Dir(path)
		for _, m := range buildManifests {
			if _, err := os.Stat(filepath.Join(parent, m)); err == nil {
				return true
			}
		}
	}
	return false
}

// wanted reports whether a file is a source file the index takes.
func (w *Workspace) wanted(rel string) bool {
	if _, ok := syntax.LanguageFor("", rel); !ok {
		return false
	}
	return w.matcher.Allowed(rel)
}

// parsers holds one parser per language for one goroutine.
type parsers map[string]*sitter.Parser

func newParsers() parsers { return make(parsers) }

func (p parsers) get(l *syntax.Language) *sitter.Parser {
	if ps, ok := p[l.Name]; ok {
		return ps
	}
	ps := l.NewParser()
	p[l.Name] = ps
	return ps
}

func (p parsers) close() {
	for _, ps := range p {
		ps.Close()
	}
}

// indexFile reads, parses and indexes one file, or drops it from the
// index when it is gone, too large or binary.
func (w *Workspace) indexFile(ctx context.Context, p parsers, path string) {
	if w.opts.IsOpen != nil && w.opts.IsOpen(path) {
		return // the editor's text is authoritative
	}
	lang, ok := syntax.LanguageFor("", path)
	if !ok {
		return
	}
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > w.opts.MaxFileSize {
		w.ix.RemoveFile(path)
		return
	}
	src, err := os.ReadFile(path)
	if err != nil {
		w.ix.RemoveFile(path)
		return
	}
	if bytes.IndexByte(src[:min(len(src), 8000)], 0) >= 0 {
		w.ix.RemoveFile(path) // binary
		return
	}
	tree, err := p.get(lang).ParseCtx(ctx, nil, src)
	if err != nil {
		return
	}
	decls, err := lang.Declarations(tree.RootNode(), src)
	tree.Close()
	if err != nil {
		w.logf("index %s: %v", path, err)
		return
	}
	w.ix.SetFile(path, lang.Name, decls)
}

// IndexDir indexes the allowed source files directly inside dir (not
// below it) that the index does not hold yet: the folder of a document just
// opened, ahead of the background walk, so that its package's declarations
// are there for the first completions.
func (w *Workspace) IndexDir(ctx context.Context, dir string) {
	rel, ok := w.Rel(dir)
	if !ok {
		return
	}
	rel = relOrEmpty(rel)
	if err := w.matcher.LoadParents(rel); err != nil {
		w.logf("index: %v", err)
		return
	}
	if rel != "" && (w.matcher.Ignored(rel, true) || w.matcher.Excluded(rel)) {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	p := newParsers()
	defer p.close()
	for _, e := range entries {
		if ctx.Err() != nil {
			return
		}
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if r, ok := w.Rel(path); !ok || !w.wanted(r) || w.ix.HasFile(path) {
			continue
		}
		w.indexFile(ctx, p, path)
	}
}

// Reindex re-reads one file from disk (after the editor closed it).
func (w *Workspace) Reindex(ctx context.Context, path string) {
	rel, ok := w.Rel(path)
	if !ok || !w.wanted(rel) {
		return
	}
	p := newParsers()
	defer p.close()
	w.indexFile(ctx, p, path)
}

// watch applies fsnotify events to the index until ctx is done. Bursts
// (a git checkout) are drained together so that each path is handled once.
func (w *Workspace) watch(ctx context.Context) {
	p := newParsers()
	defer p.close()
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.watcher.Errors:
			if !ok {
				return
			}
			w.logf("index: watcher: %v", err)
		case ev, ok := <-w.watcher.Events:
			if !ok {
				return
			}
			start := time.Now()
			batch := map[string]fsnotify.Op{ev.Name: ev.Op}
			order := []string{ev.Name}
		drain:
			for len(batch) < 4096 {
				select {
				case ev, ok := <-w.watcher.Events:
					if !ok {
						break drain
					}
					if _, seen := batch[ev.Name]; !seen {
						order = append(order, ev.Name)
					}
					batch[ev.Name] |= ev.Op
				default:
					break drain
				}
			}
			for _, path := range order {
				w.apply(ctx, p, path, batch[path])
				if w.opts.OnChange != nil {
					w.opts.OnChange(path, time.Since(start))
				}
			}
		}
	}
}

// apply brings the index in line with the disk state of path.
func (w *Workspace) apply(ctx context.Context, p parsers, path string, op fsnotify.Op) {
	rel, ok := w.Rel(path)
	if !ok || rel == "." {
		return
	}
	st, err := os.Lstat(path)
	if err != nil {
		// Removed or renamed away: drop it, and everything below it if it
		// was a directory.
		w.ix.RemoveFile(path)
		w.ix.RemoveTree(path)
		return
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return
	case st.IsDir():
		if op.Has(fsnotify.Create) && !w.skipDir(rel, path) {
			if err := w.indexTree(ctx, path); err != nil {
				w.logf("index: %v", err)
			}
		}
	case filepath.Base(path) == ".gitignore":
		w.reloadIgnore(ctx, filepath.Dir(path))
	case w.wanted(rel):
		w.indexFile(ctx, p, path)
	default:
		w.ix.RemoveFile(path) // now ignored or excluded
	}
}

// reloadIgnore re-reads a changed .gitignore and re-indexes its directory
// so that newly ignored files leave the index and re-included ones return.
func (w *Workspace) reloadIgnore(ctx context.Context, dir string) {
	rel, ok := w.Rel(dir)
	if !ok {
		return
	}
	if err := w.matcher.LoadDir(relOrEmpty(rel)); err != nil {
		w.logf("index: %v", err)
	}
	w.ix.RemoveTree(dir)
	if err := w.indexTree(ctx, dir); err != nil {
		w.logf("index: %v", err)
	}
}
