package agent

import (
	"context"
	"sync"
	"unicode/utf8"

	"github.com/servalhq/serval/context/gather"
)

// ContextSource gathers the code context of a completion. It is fed every
// document event in order (from the LSP reader) and asked for a Result per
// completion. gather.Gatherer (tree-sitter windows, declarations, snippets)
// implements it; WindowSource is the simple default.
type ContextSource interface {
	DidOpen(uri, path, languageID string, text []byte)
	DidChange(uri string, edits []gather.Edit, text []byte)
	DidClose(uri string)
	AddWorkspaceFolder(ctx context.Context, path string) error
	Gather(ctx context.Context, req gather.Request) (gather.Result, error)
	Close() error
}

// WindowSource is the default ContextSource: prefix and suffix windows cut
// from the document text by a budget in characters, starting and ending on
// line boundaries where the budget allows. It keeps the latest text of each
// document (the snapshots it is given are immutable, so this costs nothing).
type WindowSource struct {
	mu sync.RWMutex
	// PrefixChars and SuffixChars are the default budgets (guarded by mu
	// once the source is in use).
	PrefixChars, SuffixChars int
	docs                     map[string][]byte
}

// NewWindowSource returns a WindowSource with the given default budgets.
func NewWindowSource(prefixChars, suffixChars int) *WindowSource {
	return &WindowSource{PrefixChars: prefixChars, SuffixChars: suffixChars, docs: make(map[string][]byte)}
}

func (w *WindowSource) DidOpen(uri, path, languageID string, text []byte) {
	w.mu.Lock()
	w.docs[uri] = text
	w.mu.Unlock()
}

func (w *WindowSource) DidChange(uri string, edits []gather.Edit, text []byte) {
	w.mu.Lock()
	w.docs[uri] = text
	w.mu.Unlock()
}

func (w *WindowSource) DidClose(uri string) {
	w.mu.Lock()
	delete(w.docs, uri)
	w.mu.Unlock()
}

func (w *WindowSource) AddWorkspaceFolder(ctx context.Context, path string) error { return nil }

func (w *WindowSource) Close() error { return nil }

// Gather cuts the windows around req.Offset (clamped to the text).
func (w *WindowSource) Gather(ctx context.Context, req gather.Request) (gather.Result, error) {
	w.mu.RLock()
	text, ok := w.docs[req.URI]
	pb, sb := req.PrefixBudget, req.SuffixBudget
	if pb <= 0 {
		pb = w.PrefixChars
	}
	if sb <= 0 {
		sb = w.SuffixChars
	}
	w.mu.RUnlock()
	if !ok {
		return gather.Result{}, nil
	}
	p, s := windows(text, req.Offset, pb, sb)
	return gather.Result{Prefix: p, Suffix: s}, nil
}

// windows returns up to prefixChars characters before offset and up to
// suffixChars after it. A window cut by its budget starts (prefix) or ends
// (suffix) on a line boundary when the budget holds at least one full line.
func windows(text []byte, offset, prefixChars, suffixChars int) (prefix, suffix string) {
	offset = min(max(offset, 0), len(text))
	for offset > 0 && offset < len(text) && !utf8.RuneStart(text[offset]) {
		offset--
	}
	start := backChars(text, offset, prefixChars)
	if start > 0 {
		for i := start; i < offset; i++ {
			if text[i] == '\n' {
				start = i + 1
				break
			}
		}
	}
	end := forwardChars(text, offset, suffixChars)
	if end < len(text) {
		for i := end - 1; i > offset; i-- {
			if text[i] == '\n' {
				end = i + 1
				break
			}
		}
	}
	return string(text[start:offset]), string(text[offset:end])
}

// backChars walks n characters back from offset.
func backChars(text []byte, offset, n int) int {
	i := offset
	for ; n > 0 && i > 0; n-- {
		if text[i-1] < utf8.RuneSelf {
			i--
			continue
		}
		_, size := utf8.DecodeLastRune(text[:i])
		i -= size
	}
	return i
}

// forwardChars walks n characters forward from offset.
func forwardChars(text []byte, offset, n int) int {
	i := offset
	for ; n > 0 && i < len(text); n-- {
		if text[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRune(text[i:])
		i += size
	}
	return i
}
