package index

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func writeFile(t *testing.T, root, name, content string) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openWorkspace(t *testing.T, root string, opts Options) (*Workspace, *Index) {
	t.Helper()
	ix := New()
	w, err := Open(context.Background(), root, ix, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-w.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("initial index did not finish in 30s")
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	return w, ix
}

// names lists the indexed names in sorted order.
func names(ix *Index) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	for n := range ix.byName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// eventually polls cond for up to 10 seconds: fsnotify delivery is
// asynchronous, so the test waits for the index to catch up, boundedly.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("after 10s: %s", what)
}

func TestInitialIndexRespectsIgnoreRules(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	writeFile(t, outside, "leak.go", "package leak\nfunc OutsideSecret() {}\n")
	writeFile(t, root, ".gitignore", "gen/\n*.tmp.go\n")
	writeFile(t, root, "main.go", "package main\nfunc Main() {}\n")
	writeFile(t, root, "pkg/util.py", "def util_helper():\n    pass\n")
	writeFile(t, root, "gen/gen.go", "package gen\nfunc Generated() {}\n")
	writeFile(t, root, "x.tmp.go", "package main\nfunc Temporary() {}\n")
	writeFile(t, root, "node_modules/lib/index.js", "function fromNodeModules() {}\n")
	writeFile(t, root, "vendor/v/v.go", "package v\nfunc Vendored() {}\n")
	writeFile(t, root, "web/package.json", "{}")
	writeFile(t, root, "web/dist/bundle.js", "function bundled() {}\n")
	writeFile(t, root, "web/src/app.ts", "export function appMain(): void {}\n")
	writeFile(t, root, "config/my_secret.go", "package config\nfunc SecretLooking() {}\n")
	writeFile(t, root, ".env.go", "package main\nfunc EnvLooking() {}\n")
	writeFile(t, root, "big.go", "package main\nfunc Big() {}\n//"+string(make([]byte, 2000))+"\n")
	writeFile(t, root, "bin.c", "int binary_thing(void);\x00\x01")
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "leak.go"), filepath.Join(root, "leak.go")); err != nil {
		t.Fatal(err)
	}
	_, ix := openWorkspace(t, root, Options{MaxFileSize: 1000})
	got := names(ix)
	want := []string{"Main", "appMain", "util_helper"}
	if !slices.Equal(got, want) {
		t.Errorf("indexed names = %v, want %v", got, want)
	}
	syms := ix.Lookup("Main")
	if len(syms) != 1 || syms[0].Kind != "function" || syms[0].StartRow != 1 || syms[0].Head != "func Main() {}" {
		t.Errorf("Main = %+v", syms)
	}
}

func TestWatchUpdatesIndex(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a.go", "package p\nfunc Alpha() {}\n")
	var changes []time.Duration
	changed := make(chan time.Duration, 100)
	_, ix := openWorkspace(t, root, Options{OnChange: func(_ string, took time.Duration) {
		select {
		case changed <- took:
		default:
		}
	}})
	has := func(name string) func() bool {
		return func() bool { return len(ix.Lookup(name)) > 0 }
	}

	// A file created outside the editor.
	writeFile(t, root, "b.go", "package p\nfunc Beta() {}\n")
	eventually(t, "created file indexed", has("Beta"))
	// Changed.
	writeFile(t, root, "b.go", "package p\nfunc Gamma() {}\n")
	eventually(t, "changed file re-indexed", func() bool { return has("Gamma")() && !has("Beta")() })
	// Renamed.
	if err := os.Rename(filepath.Join(root, "b.go"), filepath.Join(root, "c.go")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "renamed file moved", func() bool {
		s := ix.Lookup("Gamma")
		return len(s) == 1 && filepath.Base(s[0].Path) == "c.go"
	})
	// Deleted.
	if err := os.Remove(filepath.Join(root, "c.go")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted file dropped", func() bool { return !has("Gamma")() })
	// A new directory with a file in it (a code generator).
	writeFile(t, root, "sub/deep/d.go", "package deep\nfunc Delta() {}\n")
	eventually(t, "file in new directory indexed", has("Delta"))
	// A directory removed as a whole.
	if err := os.RemoveAll(filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "removed directory dropped", func() bool { return !has("Delta")() })
	// A .gitignore that starts ignoring a file removes it.
	writeFile(t, root, ".gitignore", "a.go\n")
	eventually(t, "newly ignored file dropped", func() bool { return !has("Alpha")() })
	// A secret-looking file is never indexed.
	writeFile(t, root, "secret_keys.go", "package p\nfunc Leaked() {}\n")
	writeFile(t, root, "e.go", "package p\nfunc Epsilon() {}\n")
	eventually(t, "later file indexed", has("Epsilon"))
	if has("Leaked")() {
		t.Error("a secret-looking file was indexed")
	}
	for len(changed) > 0 {
		changes = append(changes, <-changed)
	}
	if len(changes) == 0 {
		t.Error("OnChange was never called")
	}
}

func TestOverlayWinsOverDisk(t *testing.T) {
	root := t.TempDir()
	path := writeFile(t, root, "a.go", "package p\nfunc Disk() {}\n")
	open := map[string]bool{path: true}
	w, ix := openWorkspace(t, root, Options{IsOpen: func(p string) bool { return open[p] }})
	if len(ix.Lookup("Disk")) != 0 {
		t.Fatal("an open document was indexed from disk")
	}
	ix.SetOverlay(path, "go", nil)
	writeFile(t, root, "a.go", "package p\nfunc Disk2() {}\n")
	writeFile(t, root, "z.go", "package p\nfunc Marker() {}\n")
	eventually(t, "marker indexed", func() bool { return len(ix.Lookup("Marker")) > 0 })
	if len(ix.Lookup("Disk2")) != 0 {
		t.Error("a disk change overwrote the editor's version")
	}
	delete(open, path)
	ix.ClearOverlay(path)
	w.Reindex(context.Background(), path)
	if len(ix.Lookup("Disk2")) != 1 {
		t.Error("closing the document did not bring back the disk version")
	}
}

// TestIndexDirAheadOfWalk indexes one folder of a workspace whose walk has
// not run (its context is cancelled at once), honouring a nested
// .gitignore the walk would have loaded.
func TestIndexDirAheadOfWalk(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "pkg/.gitignore", "local.go\n")
	writeFile(t, root, "pkg/a.go", "package pkg\nfunc Wanted() {}\n")
	writeFile(t, root, "pkg/local.go", "package pkg\nfunc IgnoredByNested() {}\n")
	writeFile(t, root, "pkg/sub/b.go", "package sub\nfunc Below() {}\n")
	writeFile(t, root, "other/c.go", "package other\nfunc Elsewhere() {}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ix := New()
	w, err := Open(ctx, root, ix, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	<-w.Ready()
	if files, _ := ix.Stats(); files != 0 {
		t.Fatalf("the cancelled walk indexed %d files", files)
	}
	w.IndexDir(context.Background(), filepath.Join(w.Root(), "pkg"))
	if got, want := names(ix), []string{"Wanted"}; !slices.Equal(got, want) {
		t.Errorf("after IndexDir: %v, want %v", got, want)
	}
}
