package agent

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// docState is the agent's per-document state, guarded by Agent.mu.
type docState struct {
	language string
	version  int32       // the editor's version of the text the agent has
	flight   *flight     // the request in flight, if any
	last     *suggestion // the last non-empty result, for typed-ahead
	shown    *shown      // the suggestion the editor reported showing
}

type flight struct {
	seq    uint64
	cancel context.CancelCauseFunc
}

type shown struct {
	id       string
	choice   int
	at       time.Time
	accepted bool
}

// AddWorkspaceFolder records a workspace root (file paths in requests are
// relative to it) and tells the context source.
func (a *Agent) AddWorkspaceFolder(ctx context.Context, path string) error {
	a.mu.Lock()
	if !slices.Contains(a.folders, path) {
		a.folders = append(a.folders, path)
	}
	a.mu.Unlock()
	return a.ctxSrc.AddWorkspaceFolder(ctx, path)
}

// RemoveWorkspaceFolder forgets a workspace root.
func (a *Agent) RemoveWorkspaceFolder(path string) {
	a.mu.Lock()
	a.folders = slices.DeleteFunc(a.folders, func(f string) bool { return f == path })
	a.mu.Unlock()
}

// DidOpen starts tracking a document.
func (a *Agent) DidOpen(doc Document) {
	a.mu.Lock()
	a.docs[doc.URI] = &docState{language: doc.LanguageID, version: doc.Version}
	a.mu.Unlock()
	path := FilePath(doc.URI)
	if path != "" {
		a.repos.lookup(filepath.Dir(path)) // warm the cache off the hot path
	}
	a.ctxSrc.DidOpen(doc.URI, path, doc.LanguageID, doc.Text)
}

// DidChange records edits: the request in flight for the document is
// cancelled (its position is stale) and small edits feed the typing rhythm.
func (a *Agent) DidChange(doc Document, edits []Edit) {
	a.mu.Lock()
	if st := a.docs[doc.URI]; st != nil {
		st.version = doc.Version
		if st.flight != nil {
			st.flight.cancel(errEdited)
			st.flight = nil
		}
	}
	a.mu.Unlock()
	a.stopWarm(doc.URI, errEdited)
	if len(edits) == 1 && edits[0].NewEndByte-edits[0].StartByte <= 2 && edits[0].OldEndByte-edits[0].StartByte <= 2 {
		a.debounce.keystroke(time.Now())
	}
	a.ctxSrc.DidChange(doc.URI, contextEdits(edits), doc.Text)
}

// DidClose stops tracking a document; a suggestion still shown is dismissed.
func (a *Agent) DidClose(uri string) {
	a.mu.Lock()
	if st := a.docs[uri]; st != nil {
		if st.flight != nil {
			st.flight.cancel(errEdited)
		}
		a.dismissLocked(st)
		delete(a.docs, uri)
	}
	a.mu.Unlock()
	a.stopWarm(uri, errEdited)
	a.ctxSrc.DidClose(uri)
}

// relativePath is path relative to the innermost workspace folder holding
// it, else to its repository, else its base name.
func (a *Agent) relativePath(path, repoRoot string) string {
	a.mu.Lock()
	best := ""
	for _, f := range a.folders {
		if len(f) > len(best) && isWithin(path, f) {
			best = f
		}
	}
	a.mu.Unlock()
	if best == "" && repoRoot != "" && isWithin(path, repoRoot) {
		best = repoRoot
	}
	if best != "" {
		if rel, err := filepath.Rel(best, path); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.Base(path)
}

func isWithin(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// FilePath returns the file system path of a file: URI, or "" for any
// other URI (untitled:, a malformed one). A Windows drive's path loses the
// slash in front of its letter ("file:///C:/a" is C:\a). It is the one
// URI-to-path conversion of the editor side.
func FilePath(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return ""
	}
	p := u.Path
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' && ('a' <= p[1]|0x20 && p[1]|0x20 <= 'z') {
		p = p[1:]
	}
	return filepath.FromSlash(p)
}
