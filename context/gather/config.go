package gather

import (
	"time"

	"github.com/servalhq/serval/context/ignore"
)

// Config tunes a Gatherer. Zero values mean the defaults noted.
type Config struct {
	PrefixBudget  int // characters of prefix window, header included; 3000
	SuffixBudget  int // characters of suffix window; 1200
	ContextBudget int // characters of declarations and snippets together; 4000

	MaxDeclarations int // 5, as Tabby sends
	MaxChanged      int // snippets from changed files; 3
	MaxOpened       int // snippets from recently viewed files; 5

	// Excludes replaces ignore.DefaultExcludes when non-nil.
	Excludes []string
	// ExtraExcludes are added to Excludes (the user's own globs).
	ExtraExcludes []string
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
	// MaxTreeBytes bounds the syntax trees kept by the size of their
	// documents' text, in bytes; 64 KiB. A tree holds about 30 times its
	// text in C memory (a 7 KB Go file about 220 KB, a 14 KB JavaScript
	// file about 400 KB), so this keeps the trees near 2 MB. When over it,
	// or over MaxTrees, the least recently used documents (opened, edited
	// or completed in) drop their trees, and their next edit or completion
	// parses them again from scratch; the document just used always keeps
	// its own.
	MaxTreeBytes int
	// MaxTrees bounds how many open documents keep a syntax tree; 64.
	MaxTrees int
	// Logf reports background problems; may be nil.
	Logf func(format string, args ...any)
}

func (c *Config) setDefaults() {
	if c.Excludes == nil {
		c.Excludes = ignore.DefaultExcludes
	}
	c.Excludes = append(append([]string(nil), c.Excludes...), c.ExtraExcludes...)
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
	def(&c.MaxTrees, 64)
	def(&c.MaxTreeBytes, 64<<10)
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
