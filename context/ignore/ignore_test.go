package ignore

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPatterns(t *testing.T) {
	tests := []struct {
		patterns string
		path     string
		isDir    bool
		want     bool
	}{
		{"*.log", "a.log", false, true},
		{"*.log", "deep/dir/a.log", false, true},
		{"*.log", "a.logx", false, false},
		{"/build", "build", true, true},
		{"/build", "src/build", true, false},
		{"build/", "src/build", true, true},
		{"build/", "src/build", false, false}, // directory-only
		{"doc/*.txt", "doc/a.txt", false, true},
		{"doc/*.txt", "doc/sub/a.txt", false, false},
		{"doc/**/*.txt", "doc/sub/deep/a.txt", false, true},
		{"doc/**/*.txt", "doc/a.txt", false, true},
		{"**/cache", "x/y/cache", true, true},
		{"**/cache", "cache", true, true},
		{"out/**", "out/a/b", false, true},
		{"*.gen.go\n!keep.gen.go", "keep.gen.go", false, false},
		{"*.gen.go\n!keep.gen.go", "other.gen.go", false, true},
		{"file?.c", "file1.c", false, true},
		{"file?.c", "file10.c", false, false},
		{"[abc].txt", "b.txt", false, true},
		{"[!abc].txt", "b.txt", false, false},
		{`\#hash`, "#hash", false, true},
		{"# comment\n\n", "comment", false, false},
		{"trailing   ", "trailing", false, true},
		{"a**b", "axxb", false, true},
		{"[unclosed", "[unclosed", false, false},
	}
	for _, tt := range tests {
		got, _ := ParsePatterns([]byte(tt.patterns)).Match(tt.path, tt.isDir)
		if got != tt.want {
			t.Errorf("patterns %q, path %q (dir %v): ignored = %v, want %v", tt.patterns, tt.path, tt.isDir, got, tt.want)
		}
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMatcherNested(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		".gitignore":         "*.tmp\n/generated/\n",
		"pkg/.gitignore":     "!important.tmp\nlocal.go\n",
		".git/info/exclude":  "private.go\n",
		"pkg/a.go":           "",
		"pkg/important.tmp":  "",
		"pkg/other.tmp":      "",
		"generated/x.go":     "",
		"pkg/generated/y.go": "",
	})
	m, err := NewMatcher(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadDir("pkg"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{"pkg/a.go", false},
		{"pkg/other.tmp", true},
		{"pkg/important.tmp", false}, // re-included by the deeper file
		{"pkg/local.go", true},
		{"local.go", false}, // pkg's rule does not apply above pkg
		{"generated/x.go", true},
		{"pkg/generated/y.go", false}, // anchored to the root
		{"private.go", true},          // .git/info/exclude
		{"node_modules/lib/index.js", true},
		{"a/vendor/b.go", true},
	}
	for _, tt := range tests {
		if got := m.Ignored(tt.path, false); got != tt.want {
			t.Errorf("Ignored(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestExcluded(t *testing.T) {
	m, err := NewMatcher(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".env", ".env.local", "certs/server.pem", "tls.key", "home/id_rsa", "id_rsa.pub", "config/my_secret.go", "Secrets/db.yaml", "store.p12"} {
		if !m.Excluded(p) || m.Allowed(p) {
			t.Errorf("%q is not excluded", p)
		}
	}
	for _, p := range []string{"main.go", "env.go", "keys/keyboard.go", "pem.go"} {
		if m.Excluded(p) {
			t.Errorf("%q is excluded", p)
		}
	}
	custom, err := NewMatcher(t.TempDir(), []string{"*.go"})
	if err != nil {
		t.Fatal(err)
	}
	if !custom.Excluded("main.go") || custom.Excluded(".env") {
		t.Error("custom exclusion globs do not replace the defaults")
	}
	if _, err := NewMatcher(t.TempDir(), []string{"[bad"}); err == nil {
		t.Error("a malformed exclusion glob was accepted")
	}
}

func FuzzParsePatterns(f *testing.F) {
	f.Add("*.log\n!a.log\n/build/\ndoc/**/x\n[a-z]?\n", "doc/q/x", true)
	f.Add("[", "[", false)
	f.Add("\\", "a", false)
	f.Add("**/**/**", "a/b", true)
	f.Fuzz(func(t *testing.T, patterns, path string, isDir bool) {
		p := ParsePatterns([]byte(patterns))
		p.Match(path, isDir)
	})
}
