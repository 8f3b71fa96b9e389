package gather

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	sitter "github.com/smacker/go-tree-sitter"

	"github.com/servalhq/serval/context/ignore"
	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/recent"
	"github.com/servalhq/serval/context/syntax"
)

// ErrExcluded is returned by Gather for a document whose path matches an
// exclusion glob (.env, keys, secrets): nothing of it may reach a model.
var ErrExcluded = errors.New("document matches an exclusion glob")

// Config tunes a Gatherer. Zero values mean the defaults noted.
type Config struct {
	PrefixBudget  int // bytes of prefix window, header included; 3000
	SuffixBudget  int // bytes of suffix window; 1200
	ContextBudget int // bytes of declarations and snippets together; 4000

	MaxDeclarations int // 5, as Tabby sends
	MaxChanged      int // snippets from changed files; 3
	MaxOpened       int // snippets from recently viewed files; 5

	// Excludes replaces ignore.DefaultExcludes when non-nil.
	Excludes []string
	// MaxFileSize skips larger workspace files; 1 MiB.
	MaxFileSize int64
	// SourceTimeout bounds each context source inside Gather; a source
	// still running then is dropped. 50ms (Gather's own ctx may be shorter).
	SourceTimeout time.Duration
	// DisableGitDiff turns off reading `git diff HEAD` in workspace folders.
	DisableGitDiff bool
	// GitDiffDelay is the quiet period after a disk change before the diff
	// is re-read; 500ms.
	GitDiffDelay time.Duration
	// OverlayDelay is the quiet period after an edit before the edited
	// document's declarations replace its index entry; 300ms.
	OverlayDelay time.Duration
	// MaxTrees is how many open documents keep a syntax tree; 16. The
	// least recently used ones (opened, edited or completed in) drop
	// theirs, and their next edit or completion parses them again from
	// scratch. A tree of a 7 KB Go file holds about 220 KB of C memory.
	MaxTrees int
	// Logf reports background problems; may be nil.
	Logf func(format string, args ...any)
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.PrefixBudget, 3000)
	def(&c.SuffixBudget, 1200)
	def(&c.ContextBudget, 4000)
	def(&c.MaxDeclarations, 5)
	def(&c.MaxChanged, 3)
	def(&c.MaxOpened, 5)
	def(&c.MaxTrees, 16)
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = 1 << 20
	}
	if c.SourceTimeout <= 0 {
		c.SourceTimeout = 50 * time.Millisecond
	}
	if c.GitDiffDelay <= 0 {
		c.GitDiffDelay = 500 * time.Millisecond
	}
	if c.OverlayDelay <= 0 {
		c.OverlayDelay = 300 * time.Millisecond
	}
}

// Gatherer assembles completion context from open documents, the workspace
// declaration index and recent work. Document events and Gather may come
// from different goroutines.
type Gatherer struct {
	cfg     Config
	ix      *index.Index
	tracker *recent.Tracker

	ctx    context.Context // cancelled by Close; parent of every background task
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines and in-flight sources

	overlayKick chan struct{}
	releaseKick chan struct{} // trees were dropped: give their memory back
	// released counts the calls of syntax.ReleaseMemory (for tests).
	released atomic.Int64
	// beforeSource, when set (by tests), runs at the start of each context
	// source with its name.
	beforeSource func(name string)

	// trees counts the documents holding a syntax tree; uses is the clock
	// that stamps each use of a document, to find the least recent.
	trees atomic.Int64
	uses  atomic.Int64

	mu         sync.RWMutex
	docs       map[string]*document // by URI
	byPath     map[string]*document
	workspaces []*workspace
	closed     bool
}

// workspace is one folder: its index walker/watcher and its git diff.
type workspace struct {
	ws       *index.Workspace
	diffKick chan struct{}

	mu    sync.RWMutex
	diffs []recent.Chunk // chunks of `git diff HEAD`, allowed files only
}

// document is one open document.
type document struct {
	uri, path string
	lang      *syntax.Language // nil without a grammar

	// lastUse is the g.uses stamp of the latest DidOpen, DidChange or
	// Gather; hasTree mirrors doc != nil. Both are read without mu to pick
	// the documents whose trees to drop.
	lastUse atomic.Int64
	hasTree atomic.Bool

	mu       sync.Mutex
	doc      *syntax.Document // nil without a grammar, for excluded or very large documents, or dropped (see MaxTrees)
	text     []byte
	lines    []int // line start offsets of text, built lazily
	allowed  bool  // may feed the context of other documents
	excluded bool
	closed   bool                    // closed or replaced: never gets a tree again
	dirty    bool                    // declarations not yet in the index overlay; only with a tree
	chunks   map[[2]int]recent.Chunk // by first and last row, until the text changes
}

// New returns a Gatherer. Close stops its background work.
func New(cfg Config) (*Gatherer, error) {
	cfg.setDefaults()
	if err := ignore.CheckGlobs(cfg.Excludes); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gatherer{
		cfg:         cfg,
		ix:          index.New(),
		tracker:     recent.NewTracker(),
		ctx:         ctx,
		cancel:      cancel,
		overlayKick: make(chan struct{}, 1),
		releaseKick: make(chan struct{}, 1),
		docs:        make(map[string]*document),
		byPath:      make(map[string]*document),
	}
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		g.runOverlays()
	}()
	go func() {
		defer g.wg.Done()
		g.runReleases()
	}()
	return g, nil
}

// Index is the workspace declaration index (for inspection and benchmarks).
func (g *Gatherer) Index() *index.Index { return g.ix }

// Close stops the watchers and background goroutines and waits for them.
func (g *Gatherer) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	workspaces := g.workspaces
	docs := g.docs
	g.docs, g.byPath = map[string]*document{}, map[string]*document{}
	g.mu.Unlock()
	g.cancel()
	var errs []error
	for _, w := range workspaces {
		errs = append(errs, w.ws.Close())
	}
	g.wg.Wait()
	for _, d := range docs {
		g.closeDocument(d)
	}
	return errors.Join(errs...)
}

// spawn runs f on a goroutine that Close waits for, unless the Gatherer
// is closed; it reports whether f was started. Checking closed under g.mu
// orders every wg.Add before Close's wg.Wait.
func (g *Gatherer) spawn(f func()) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

func (g *Gatherer) logf(format string, args ...any) {
	if g.cfg.Logf != nil {
		g.cfg.Logf(format, args...)
	}
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

// maxTreeBytes is the largest document that gets a syntax tree.
const maxTreeBytes = 2 << 20

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
		g.indexAhead(path)
	}
	g.kickOverlays()
}

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
	select {
	case g.releaseKick <- struct{}{}:
	default:
	}
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

// closeDocument releases d's tree for good: a call that found d before it
// was closed or replaced does not parse it again.
func (g *Gatherer) closeDocument(d *document) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	g.dropTree(d)
}

// trimTrees drops the trees of the least recently used documents until at
// most MaxTrees documents hold one; keep, the document just used, keeps its
// own. The documents are picked under g.mu by their lastUse stamps, then
// locked one at a time (never two document locks at once): a document used
// since it was picked is spared, and the next pass picks again.
func (g *Gatherer) trimTrees(keep *document) {
	type candidate struct {
		d   *document
		use int64
	}
	over := func() bool { return g.trees.Load() > int64(g.cfg.MaxTrees) }
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

// indexAhead indexes the folder of a document just opened when the
// background walk of its workspace folder is still running, so that the
// declarations of its package are there for the first completions.
func (g *Gatherer) indexAhead(path string) {
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
		return
	}
	select {
	case <-ws.Ready():
		return
	default:
	}
	g.spawn(func() { ws.IndexDir(g.ctx, filepath.Dir(path)) })
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
