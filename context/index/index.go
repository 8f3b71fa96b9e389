// Package index keeps the workspace declaration index: every function,
// method, type, class, interface and constant of the workspace's source
// files, found with the tree-sitter queries of package syntax, looked up by
// name. A Workspace fills it in the background and keeps it fresh with
// fsnotify; documents open in the editor overlay their disk version.
package index

import (
	"cmp"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/servalhq/serval/context/syntax"
)

// Symbol is one declaration in the index.
type Symbol struct {
	Name string
	Kind syntax.Kind
	*Origin
	StartRow uint32 // zero-based
	EndRow   uint32
	Head     string // signature and body head (syntax.Decl.Head)
	// Container is the type the declaration belongs to (a method's
	// receiver or class), empty at top level.
	Container string
}

// Origin is the file a symbol is declared in, shared by the file's symbols
// (a workspace has tens of thousands of symbols in a few hundred files).
type Origin struct {
	Path     string // absolute file path
	Dir      string // its directory: the package for Go, the module folder elsewhere
	Language string
}

type file struct {
	symbols []*Symbol
	overlay bool // the symbols come from the editor's text, not the disk
}

// Index is the in-memory declaration index, safe for concurrent use.
type Index struct {
	mu     sync.RWMutex
	files  map[string]*file     // by absolute path
	byName map[string][]*Symbol // every symbol, by name
	byDir  map[string][]*Symbol // every symbol, by directory (for prefix lookups)
	gen    uint64               // incremented on every change
}

// New returns an empty index.
func New() *Index {
	return &Index{files: make(map[string]*file), byName: make(map[string][]*Symbol), byDir: make(map[string][]*Symbol)}
}

// symbolsFor converts a file's declarations to symbols.
func symbolsFor(path, lang string, decls []syntax.Decl) []*Symbol {
	origin := &Origin{Path: path, Dir: filepath.Dir(path), Language: lang}
	all := make([]Symbol, len(decls)) // one allocation for the file's symbols
	syms := make([]*Symbol, len(decls))
	for i, d := range decls {
		all[i] = Symbol{
			Name: d.Name, Kind: d.Kind, Origin: origin,
			StartRow: d.StartRow, EndRow: d.EndRow, Head: d.Head, Container: d.Container,
		}
		syms[i] = &all[i]
	}
	return syms
}

// SetFile replaces the declarations of the file at path with its disk
// version, unless the editor's version overlays it.
func (ix *Index) SetFile(path, lang string, decls []syntax.Decl) {
	syms := symbolsFor(path, lang, decls)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if f, ok := ix.files[path]; ok && f.overlay {
		return
	}
	ix.replaceLocked(path, &file{symbols: syms})
}

// SetOverlay replaces the declarations of path with those of the editor's
// text; disk updates to path are ignored until ClearOverlay.
func (ix *Index) SetOverlay(path, lang string, decls []syntax.Decl) {
	syms := symbolsFor(path, lang, decls)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.replaceLocked(path, &file{symbols: syms, overlay: true})
}

// ClearOverlay drops the editor's declarations of path; the caller
// re-reads the disk version.
func (ix *Index) ClearOverlay(path string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if f, ok := ix.files[path]; ok && f.overlay {
		ix.replaceLocked(path, nil)
	}
}

// RemoveFile drops the disk version of path (an overlay stays).
func (ix *Index) RemoveFile(path string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if f, ok := ix.files[path]; ok && !f.overlay {
		ix.replaceLocked(path, nil)
	}
}

// RemoveTree drops the disk version of every file under dir.
func (ix *Index) RemoveTree(dir string) {
	prefix := dir + string(filepath.Separator)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for p, f := range ix.files {
		if !f.overlay && (p == dir || len(p) > len(prefix) && p[:len(prefix)] == prefix) {
			ix.replaceLocked(p, nil)
		}
	}
}

func (ix *Index) replaceLocked(path string, next *file) {
	if old, ok := ix.files[path]; ok {
		for _, s := range old.symbols {
			removeSymbol(ix.byName, s.Name, s)
		}
		if len(old.symbols) > 0 {
			dir := old.symbols[0].Dir
			kept := ix.byDir[dir][:0]
			for _, o := range ix.byDir[dir] {
				if o.Path != path {
					kept = append(kept, o)
				}
			}
			clear(ix.byDir[dir][len(kept):])
			if len(kept) == 0 {
				delete(ix.byDir, dir)
			} else {
				ix.byDir[dir] = kept
			}
		}
		delete(ix.files, path)
	}
	if next != nil {
		ix.files[path] = next
		for _, s := range next.symbols {
			ix.byName[s.Name] = append(ix.byName[s.Name], s)
			ix.byDir[s.Dir] = append(ix.byDir[s.Dir], s)
		}
	}
	ix.gen++
}

// removeSymbol drops s from m[key], deleting the key when nothing is left.
func removeSymbol(m map[string][]*Symbol, key string, s *Symbol) {
	list := m[key]
	kept := list[:0]
	for _, o := range list {
		if o != s {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		delete(m, key)
		return
	}
	clear(list[len(kept):]) // let the removed symbols be collected
	m[key] = kept
}

// LookupPrefix returns up to limit symbols of directory dir whose names
// start with prefix (but are longer than it): the candidates for an
// identifier the user is still typing. They come in the order of their
// names (then paths and rows), not of the index's insertion, which changes
// whenever a file's declarations are replaced: the same prefix gives the
// same symbols in the same order, so the context built from them, and the
// server's cached prompt, stay put while the user types.
func (ix *Index) LookupPrefix(dir, prefix string, limit int) []*Symbol {
	ix.mu.RLock()
	var out []*Symbol
	for _, s := range ix.byDir[dir] {
		if len(s.Name) > len(prefix) && strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	ix.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Symbol) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Path, b.Path), cmp.Compare(a.StartRow, b.StartRow))
	})
	return out[:min(len(out), limit)]
}

// Lookup returns the symbols named name. The slice is the caller's; the
// symbols are shared and must not be modified.
func (ix *Index) Lookup(name string) []*Symbol {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return append([]*Symbol(nil), ix.byName[name]...)
}

// FileSymbols returns the symbols of one file.
func (ix *Index) FileSymbols(path string) []*Symbol {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if f, ok := ix.files[path]; ok {
		return append([]*Symbol(nil), f.symbols...)
	}
	return nil
}

// HasFile reports whether path has an entry (disk or overlay).
func (ix *Index) HasFile(path string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.files[path]
	return ok
}

// Stats counts the indexed files and symbols.
func (ix *Index) Stats() (files, symbols int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, f := range ix.files {
		symbols += len(f.symbols)
	}
	return len(ix.files), symbols
}

// Generation changes whenever the index does.
func (ix *Index) Generation() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.gen
}
