package bench

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const goSample = `package sample

func short() {}

func add(a, b int) int {
	sum := a + b
	return sum
}

type T struct{}

func (t *T) Name() string {
	if t == nil {
		return "nil"
	}
	return "T"
}
`

func TestGoBodies(t *testing.T) {
	bodies, err := GoBodies([]byte(goSample), 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bodies {
		names = append(names, b.Name)
	}
	if want := []string{"add", "T.Name"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("bodies %v, want %v (short() has no body lines)", names, want)
	}
	got := goSample[bodies[0].Start:bodies[0].End]
	if want := "\tsum := a + b\n\treturn sum\n"; got != want {
		t.Fatalf("add body %q, want %q", got, want)
	}
	// The blanked file keeps both braces, with the cursor between them.
	blank := goSample[:bodies[0].Start] + goSample[bodies[0].End:]
	if !strings.Contains(blank, "func add(a, b int) int {\n}\n") {
		t.Fatalf("blanked file lost its braces:\n%s", blank)
	}
	if _, err := GoBodies([]byte("package x\nfunc {"), 0, 100); err == nil {
		t.Fatal("broken Go source parsed without error")
	}
}

const pySample = `import os

def one(x):
    return x

class C:
    def method(self, a,
               b):
        pass

    def other(self):
        if self:

            return 1
        return 2

def tail():
    pass`

func TestPythonBodies(t *testing.T) {
	bodies := PythonBodies([]byte(pySample), 1, 1000)
	var got []string
	for _, b := range bodies {
		got = append(got, b.Name+"="+pySample[b.Start:b.End])
	}
	want := []string{
		"one=    return x\n",
		"other=        if self:\n\n            return 1\n        return 2\n",
		"tail=    pass",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bodies\n%q\nwant\n%q", got, want)
	}
	if b := PythonBodies([]byte(pySample), 20, 40); len(b) != 0 {
		t.Fatalf("size bounds ignored: %v", b)
	}
}

func TestTypistKeysRetypeTheText(t *testing.T) {
	text := "\tx := f(a, \"é😀\")\n\tif x {\n\t\treturn\n\t}\n"
	keys := DefaultTypist.Keys(text, rand.New(rand.NewPCG(1, 2)))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k.Text)
		if k.Delay <= 0 {
			t.Fatalf("key %q has delay %v", k.Text, k.Delay)
		}
	}
	if b.String() != text {
		t.Fatalf("keys retype %q, want %q", b.String(), text)
	}
	// Indentation after a newline comes with it, as an editor's auto-indent would.
	for _, k := range keys {
		if k.Text == "\n\t\t" {
			return
		}
	}
	t.Fatalf("no newline+indent key in %v", keys)
}

func TestTypistHasBurstsAndPauses(t *testing.T) {
	text := strings.Repeat("word another thing\n", 50)
	keys := DefaultTypist.Keys(text, rand.New(rand.NewPCG(7, 7)))
	pauses := 0
	for _, k := range keys {
		if k.Delay >= PauseThresholdMs {
			pauses++
		}
	}
	// Every line pauses with p=0.7 and words with p=0.15: far from none and far from all.
	if pauses < len(keys)/20 || pauses > len(keys)/2 {
		t.Fatalf("%d pauses in %d keys", pauses, len(keys))
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuildIsSeededAndReproducible(t *testing.T) {
	files := map[string]string{}
	for i := range 12 {
		files[filepath.Join("src", "pkg"+string(rune('a'+i)), "f.go")] = strings.ReplaceAll(goSample, "package sample", "package p")
	}
	files["src/pkga/f_test.go"] = goSample // skipped: a test file
	root := writeTree(t, files)
	opts := TraceOptions{Count: 4, MinBody: 10, MaxBody: 1000, Typist: DefaultTypist}

	a, err := Build(GoSource(root), 42, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(GoSource(root), 42, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different traces")
	}
	c, err := Build(GoSource(root), 43, opts)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave identical traces")
	}
	for _, tr := range a {
		if strings.HasSuffix(tr.Path, "_test.go") {
			t.Fatalf("trace from a test file: %s", tr.Path)
		}
		orig, err := os.ReadFile(tr.Path)
		if err != nil {
			t.Fatal(err)
		}
		// Typing the keys at Offset rebuilds the original file.
		var typed strings.Builder
		for _, k := range tr.Keys {
			typed.WriteString(k.Text)
		}
		if got := tr.Text[:tr.Offset] + typed.String() + tr.Text[tr.Offset:]; got != string(orig) {
			t.Fatalf("%s: retyping does not rebuild the file", tr.Name)
		}
	}
}

func TestBuildReportsTooFewFunctions(t *testing.T) {
	root := writeTree(t, map[string]string{"src/a/a.go": goSample})
	_, err := Build(GoSource(root), 1, TraceOptions{Count: 5, MinBody: 10, MaxBody: 1000, Typist: DefaultTypist})
	if err == nil || !strings.Contains(err.Error(), "found 2 of 5") {
		t.Fatalf("err = %v, want found 2 of 5", err)
	}
	if _, err := Build(GoSource(t.TempDir()), 1, TraceOptions{Count: 1}); err == nil {
		t.Fatal("an empty tree gave no error")
	}
}

func TestBuildFromRealStandardLibraries(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(goroot, "src", "fmt")); err != nil {
		t.Skipf("no Go source tree at %s", goroot)
	}
	opts := TraceOptions{Count: 3, MinBody: 60, MaxBody: 160, MaxFileBytes: 60 << 10, Typist: DefaultTypist}
	traces, err := Build(GoSource(goroot), 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) != 3 {
		t.Fatalf("%d traces", len(traces))
	}
	matches, _ := filepath.Glob("/usr/lib/python3.*/os.py")
	if len(matches) == 0 {
		t.Skip("no Python standard library under /usr/lib/python3.*")
	}
	py, err := Build(PythonSource(filepath.Dir(matches[len(matches)-1])), 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(py) != 3 || py[0].LanguageID != "python" {
		t.Fatalf("python traces: %+v", py)
	}
}

func FuzzPythonBodies(f *testing.F) {
	f.Add([]byte(pySample))
	f.Add([]byte("def f():\n"))
	f.Add([]byte("def f(): pass\n\tdef g():\n  x\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, b := range PythonBodies(src, 0, 1<<20) {
			if b.Start < 0 || b.End > len(src) || b.Start > b.End {
				t.Fatalf("body %+v out of %d bytes", b, len(src))
			}
		}
	})
}

func FuzzGoBodies(f *testing.F) {
	f.Add([]byte(goSample))
	f.Add([]byte("package p\nfunc f() {\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		bodies, err := GoBodies(src, 0, 1<<20)
		if err != nil {
			return
		}
		for _, b := range bodies {
			if b.Start < 0 || b.End > len(src) || b.Start > b.End {
				t.Fatalf("body %+v out of %d bytes", b, len(src))
			}
		}
	})
}
