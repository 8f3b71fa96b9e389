package recent

import (
	"sort"
	"sync"
	"time"
)

// Span is a range of rows (zero-based, inclusive) the user touched in a
// file, with when it last happened.
type Span struct {
	Path     string
	StartRow int
	EndRow   int
	At       time.Time
}

// Limits that keep the tracker small: the most recent spans win.
const (
	maxSpansPerFile = 8
	maxFiles        = 20
	// mergeGap joins a new span to an existing one this many rows away.
	mergeGap = 3
)

// Tracker remembers the spans edited and viewed per file, most recent
// first. It is safe for concurrent use.
type Tracker struct {
	now func() time.Time

	mu     sync.Mutex
	edited map[string][]Span
	viewed map[string][]Span
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{now: time.Now, edited: map[string][]Span{}, viewed: map[string][]Span{}}
}

// Edited records an edit of rows startRow..endRow of path.
func (t *Tracker) Edited(path string, startRow, endRow int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	record(t.edited, Span{Path: path, StartRow: startRow, EndRow: max(startRow, endRow), At: t.now()})
}

// Viewed records that rows startRow..endRow of path were on screen (the
// agent knows the cursor, not the viewport, so it reports the rows around
// each completion and the top of each opened file).
func (t *Tracker) Viewed(path string, startRow, endRow int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	record(t.viewed, Span{Path: path, StartRow: startRow, EndRow: max(startRow, endRow), At: t.now()})
}

// Forget drops everything recorded for path.
func (t *Tracker) Forget(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.edited, path)
	delete(t.viewed, path)
}

// EditedSpans returns the edited spans of every file, most recent first.
func (t *Tracker) EditedSpans() []Span { return t.spans(t.edited) }

// ViewedSpans returns the viewed spans of every file, most recent first.
func (t *Tracker) ViewedSpans() []Span { return t.spans(t.viewed) }

func (t *Tracker) spans(m map[string][]Span) []Span {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Span
	for _, list := range m {
		out = append(out, list...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

// record merges s into the file's spans (joining a span within mergeGap
// rows), keeps the newest maxSpansPerFile, and evicts the file touched
// least recently when more than maxFiles are tracked.
func record(m map[string][]Span, s Span) {
	list := m[s.Path]
	for i, o := range list {
		if s.StartRow <= o.EndRow+mergeGap && o.StartRow <= s.EndRow+mergeGap {
			s.StartRow, s.EndRow = min(s.StartRow, o.StartRow), max(s.EndRow, o.EndRow)
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	list = append([]Span{s}, list...)
	if len(list) > maxSpansPerFile {
		list = list[:maxSpansPerFile]
	}
	m[s.Path] = list
	if len(m) > maxFiles {
		oldest, at := "", s.At
		for p, l := range m {
			if len(l) > 0 && !l[0].At.After(at) && p != s.Path {
				oldest, at = p, l[0].At
			}
		}
		delete(m, oldest)
	}
}
