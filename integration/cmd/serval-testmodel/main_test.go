package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritesModel(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
	for _, p := range []string{a, b} {
		if err := run([]string{"-o", p, "-seed", "5"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if len(da) == 0 || string(da[:4]) != "GGUF" || !bytes.Equal(da, db) {
		t.Errorf("outputs for the same seed are not the same GGUF file (%d, %d bytes)", len(da), len(db))
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"-o"}, {"-o", "x", "extra"}, {"-seed", "x", "-o", "y"},
		{"-o", "x", "-shape", "qwen2.5-coder-70b"}, {"-o", "x", "-shape", "qwen2.5-coder-0.5b", "-type", "q4_k"},
		{"-o", "x", "-shape", "qwen2.5-coder-0.5b", "-embd", "128"}, {"-cache"}, {"-cache", "-o", "x", "-shape", "0.5b"}} {
		var stderr bytes.Buffer
		if err := run(args, &bytes.Buffer{}, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestCachePrintsThePath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var stdout bytes.Buffer
	// One block keeps the test small; the file name says so.
	if err := run([]string{"-cache", "-shape", "0.5b", "-type", "q8_0", "-layers", "1"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(stdout.String())
	if want := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "serval", "models", "qwen2.5-coder-0.5b-q8_0-1layers-seed0-v1.gguf"); path != want {
		t.Fatalf("path %q, want %q", path, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The second call finds it and writes nothing.
	stdout.Reset()
	if err := run([]string{"-cache", "-shape", "0.5b", "-type", "q8_0", "-layers", "1"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(path); strings.TrimSpace(stdout.String()) != path || !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached model was written again")
	}
}
