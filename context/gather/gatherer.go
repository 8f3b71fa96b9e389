package gather

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/servalhq/serval/context/ignore"
	"github.com/servalhq/serval/context/index"
	"github.com/servalhq/serval/context/recent"
)

// ErrExcluded is returned by Gather for a document whose path matches an
// exclusion glob (.env, keys, secrets): nothing of it may reach a model.
var ErrExcluded = errors.New("document matches an exclusion glob")

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
	// treeBytes is the text size of the documents holding a tree (see
	// Config.MaxTreeBytes).
	treeBytes atomic.Int64
	uses      atomic.Int64

	mu         sync.RWMutex
	docs       map[string]*document // by URI
	byPath     map[string]*document
	workspaces []*workspace
	closed     bool
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
