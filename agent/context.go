package agent

import (
	"context"

	"github.com/servalhq/serval/context/gather"
	"github.com/servalhq/serval/context/syntax"
)

// ContextSource gathers the code context of a completion. It is fed every
// document event in order (from the LSP reader). Per completion the agent
// asks it once for the windows (they are the request's prefix and suffix,
// the cache key and post-processing's input) and, on a cache miss, for the
// related context. gather.Gatherer (tree-sitter windows, declarations,
// snippets) implements it; WindowSource is the simple default.
type ContextSource interface {
	DidOpen(uri, path, languageID string, text []byte)
	DidChange(uri string, edits []gather.Edit, text []byte)
	DidClose(uri string)
	AddWorkspaceFolder(ctx context.Context, path string) error
	// Windows cuts the prefix and suffix windows at req.Offset of
	// req.Text, budgets in characters. gather.ErrExcluded means no part
	// of the document may reach the server.
	Windows(ctx context.Context, req gather.Request) (gather.Windows, error)
	// Related returns the context beyond the windows (declarations,
	// snippets); it may be empty.
	Related(ctx context.Context, req gather.Request) (gather.Related, error)
	// Settle brings what Related answers for the document up to date
	// now (work a completion would not wait for), so that a warm-up's
	// request is the one the first completion there will send.
	Settle(ctx context.Context, uri string) error
	Close() error
}

// WindowSource is the default ContextSource: plain prefix and suffix
// windows cut from the request's text at line boundaries
// (syntax.PlainWindow), and no related context. It keeps no state.
type WindowSource struct {
	// PrefixChars and SuffixChars are the budgets of a request that gives
	// none.
	PrefixChars, SuffixChars int
}

// NewWindowSource returns a WindowSource with the given default budgets.
func NewWindowSource(prefixChars, suffixChars int) *WindowSource {
	return &WindowSource{PrefixChars: prefixChars, SuffixChars: suffixChars}
}

func (w *WindowSource) DidOpen(uri, path, languageID string, text []byte)      {}
func (w *WindowSource) DidChange(uri string, edits []gather.Edit, text []byte) {}
func (w *WindowSource) DidClose(uri string)                                    {}
func (w *WindowSource) AddWorkspaceFolder(ctx context.Context, path string) error {
	return nil
}
func (w *WindowSource) Close() error                                 { return nil }
func (w *WindowSource) Settle(ctx context.Context, uri string) error { return nil }

// Windows cuts the windows around req.Offset (clamped to the text).
func (w *WindowSource) Windows(ctx context.Context, req gather.Request) (gather.Windows, error) {
	pb, sb := req.PrefixBudget, req.SuffixBudget
	if pb <= 0 {
		pb = w.PrefixChars
	}
	if sb <= 0 {
		sb = w.SuffixChars
	}
	win := syntax.PlainWindow(req.Text, req.Offset, pb, sb)
	return gather.Windows{Prefix: win.Prefix, Suffix: win.Suffix}, nil
}

// Related is empty: a WindowSource knows only the document at hand.
func (w *WindowSource) Related(ctx context.Context, req gather.Request) (gather.Related, error) {
	return gather.Related{}, nil
}
