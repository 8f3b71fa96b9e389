package syntax

import (
	"context"
	"testing"
)

func TestLanguageFor(t *testing.T) {
	tests := []struct {
		id, path, want string
		ok             bool
	}{
		{"go", "main.go", "go", true},
		{"", "/x/y/main.go", "go", true},
		{"typescriptreact", "a.js", "tsx", true}, // the language id wins over the extension
		{"", "file:///w/App.tsx", "tsx", true},
		{"", "lib.MTS", "typescript", true},
		{"javascriptreact", "", "javascript", true},
		{"python", "", "python", true},
		{"", "a.pyi", "python", true},
		{"rust", "", "rust", true},
		{"", "Main.java", "java", true},
		{"", "x.h", "c", true},
		{"", "x.hpp", "cpp", true},
		{"cpp", "x.h", "cpp", true},
		{"", "Rakefile.rake", "ruby", true},
		{"", "index.php", "php", true},
		{"plaintext", "notes.txt", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		l, ok := LanguageFor(tt.id, tt.path)
		if ok != tt.ok {
			t.Errorf("LanguageFor(%q, %q) ok = %v, want %v", tt.id, tt.path, ok, tt.ok)
			continue
		}
		if ok && l.Name != tt.want {
			t.Errorf("LanguageFor(%q, %q) = %s, want %s", tt.id, tt.path, l.Name, tt.want)
		}
	}
}

// TestEveryLanguageParses parses a small valid program in each grammar and
// checks the tree has no error node, which proves the grammar is wired to the
// right name.
func TestEveryLanguageParses(t *testing.T) {
	programs := map[string]string{
		"go":         "package p\n\nfunc F(x int) int { return x + 1 }\n",
		"python":     "def f(x):\n    return x + 1\n",
		"javascript": "function f(x) { return <div>{x}</div>; }\n",
		"typescript": "function f(x: number): number { return x + 1; }\n",
		"tsx":        "const f = (x: number) => <div>{x}</div>;\n",
		"rust":       "fn f(x: i32) -> i32 { x + 1 }\n",
		"java":       "class A { int f(int x) { return x + 1; } }\n",
		"c":          "int f(int x) { return x + 1; }\n",
		"cpp":        "namespace n { class A { public: int f(int x) { return x + 1; } }; }\n",
		"ruby":       "def f(x)\n  x + 1\nend\n",
		"php":        "<?php\nfunction f($x) { return $x + 1; }\n",
	}
	if len(programs) != len(Languages()) {
		t.Fatalf("test covers %d languages, table has %d", len(programs), len(Languages()))
	}
	for _, l := range Languages() {
		src, ok := programs[l.Name]
		if !ok {
			t.Errorf("no test program for %s", l.Name)
			continue
		}
		tree, err := l.Parse(context.Background(), []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		if root := tree.RootNode(); root.HasError() {
			t.Errorf("%s: parse error: %s", l.Name, root.String())
		}
		tree.Close()
	}
}
