package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWritesModel(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
	for _, p := range []string{a, b} {
		if err := run([]string{"-o", p, "-seed", "5"}, &bytes.Buffer{}); err != nil {
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
		{"-o", "x", "-shape", "qwen2.5-coder-0.5b", "-embd", "128"}} {
		var stderr bytes.Buffer
		if err := run(args, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
