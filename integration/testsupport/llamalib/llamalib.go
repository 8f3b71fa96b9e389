// Package llamalib finds the llama.cpp shared libraries and the shared test
// models for tests, skipping (or failing, when SERVAL_REQUIRE_LLAMA=1) when
// they are absent.
package llamalib

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// RepoRoot returns the directory holding Serval's go.mod, searching upward
// from the working directory, or "" when there is none.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

var found struct {
	sync.Once
	dir string
}

// Find returns the first directory holding libllama.so among
// $SERVAL_LIB_DIR, <repo>/.deps/llama/cpu and <repo>/bin/lib/cpu, or "".
// The answer is fixed for the process (llama.cpp is loaded once).
func Find() string {
	found.Do(func() { found.dir = find() })
	return found.dir
}

func find() string {
	var candidates []string
	if d := os.Getenv("SERVAL_LIB_DIR"); d != "" {
		candidates = append(candidates, d)
	}
	if root := RepoRoot(); root != "" {
		// .deps first: `make deps` never rewrites it in place, while
		// `make build` copies over bin/lib (which crashes a process that
		// has those libraries mapped).
		candidates = append(candidates,
			filepath.Join(root, ".deps", "llama", "cpu"),
			filepath.Join(root, "bin", "lib", "cpu"))
	}
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, "libllama.so")); err == nil {
			return d
		}
	}
	return ""
}

// Required reports whether SERVAL_REQUIRE_LLAMA=1 asks tests to fail rather
// than skip when the libraries are missing.
func Required() bool { return os.Getenv("SERVAL_REQUIRE_LLAMA") == "1" }

// Dir returns the llama.cpp library directory, or skips the test (fails it
// when SERVAL_REQUIRE_LLAMA=1) when none is found.
func Dir(t testing.TB) string {
	t.Helper()
	d := Find()
	if d == "" {
		msg := "llama.cpp libraries not found in $SERVAL_LIB_DIR, .deps/llama/cpu or bin/lib/cpu; run `make deps`"
		if Required() {
			t.Fatal(msg + " (SERVAL_REQUIRE_LLAMA=1)")
		}
		t.Skip(msg)
	}
	return d
}

// SharedModel returns the path of a model in ../shared/models beside the
// repository, or skips the test when it is absent (a fresh clone has no
// ../shared).
func SharedModel(t testing.TB, name string) string {
	t.Helper()
	root := RepoRoot()
	if root == "" {
		t.Skip("repository root not found")
	}
	p := filepath.Join(filepath.Dir(root), "shared", "models", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared model %s absent: %v", p, err)
	}
	return p
}
