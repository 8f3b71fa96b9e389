package postprocess

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// at builds the cursor context of a document written with a "|" cursor.
func at(t *testing.T, lang, doc string) *cursorContext {
	t.Helper()
	prefix, suffix, ok := strings.Cut(doc, "|")
	if !ok {
		t.Fatalf("no cursor in %q", doc)
	}
	cc, _ := normalize(Input{Language: lang, Prefix: prefix, Suffix: suffix})
	return cc
}

func TestTrimLeadingSpace(t *testing.T) {
	cases := []struct{ doc, text, want string }{
		{"return |", "  nil", "nil"},
		{"\t|", "\treturn x", "return x"},
		{"|", "\treturn x", "\treturn x"}, // column 0: the indentation is the model's to write
		{"x :=|", " 1", " 1"},
		{"return |", "\n\tfoo()", "\n\tfoo()"},
	}
	for _, c := range cases {
		if got := trimLeadingSpace(at(t, "go", c.doc), c.text); got != c.want {
			t.Errorf("%q + %q: got %q, want %q", c.doc, c.text, got, c.want)
		}
	}
}

func TestTrimTrailingSpace(t *testing.T) {
	cases := []struct{ doc, text, want string }{
		{"x := |\n", "1  \n\n", "1"},
		{"f(a, |b)\n", "x, ", "x, "}, // the space separates it from "b)"
		{"f(a, | b)\n", "x, ", "x,"},
		{"|\n", "a \t\nb  \n  \n", "a\nb"},
	}
	for _, c := range cases {
		if got := trimTrailingSpace(at(t, "go", c.doc), c.text); got != c.want {
			t.Errorf("%q + %q: got %q, want %q", c.doc, c.text, got, c.want)
		}
	}
}

func TestDetectIndent(t *testing.T) {
	cases := []struct {
		lang, doc string
		want      Indent
	}{
		{"python", "def f():\n    if x:\n        y()\n    return 1\n", Indent{Width: 4}},
		{"javascript", "function f() {\n  if (x) {\n    y();\n  }\n}\n", Indent{Width: 2}},
		{"c", "int f() {\n\tif (x) {\n\t\ty();\n\t}\n}\n", Indent{Tabs: true, Width: 4}},
		{"go", "package main\n", Indent{Tabs: true, Width: 4}},      // gofmt's convention
		{"python", "import os\n", Indent{Width: 4}},                 // nothing to go by
		{"java", "class A {\n   int x;\n}\n", Indent{Width: 3}},     // odd widths too
		{"c", "a\n\tb\n\tc\n    d\n", Indent{Tabs: true, Width: 4}}, // mixed: the majority
	}
	for _, c := range cases {
		got := detectIndent(c.lang, c.doc, "", false)
		if got != c.want {
			t.Errorf("%s %q: got %+v, want %+v", c.lang, c.doc, got, c.want)
		}
	}
	if got := detectIndent("python", "def f():\n    pass\n", "", true); !got.Tabs {
		t.Errorf("Indent.Tabs from the editor was ignored: %+v", got)
	}
}

func TestReindent(t *testing.T) {
	cases := []struct {
		lang, doc, text, want string
		indent                Indent
	}{
		{"go", "func f() {\n\t|\n}", "if x {\n        y()\n    }", "if x {\n\t\ty()\n\t}", Indent{}},
		{"python", "def f():\n    |\n", "if x:\n\t\ty()", "if x:\n        y()", Indent{}},
		{"java", "class A {\n  |\n}", "void f() {\n\t\tg();\n\t}", "void f() {\n    g();\n  }", Indent{Width: 2}},
		{"go", "func f() {\n\t|\n}", "x := g(a,\n\t\t  b)", "x := g(a,\n\t\t  b)", Indent{}}, // alignment kept
		{"python", "def f():\n    |\n", "x = 1", "x = 1", Indent{}},
	}
	for _, c := range cases {
		prefix, suffix, _ := strings.Cut(c.doc, "|")
		cc, _ := normalize(Input{Language: c.lang, Prefix: prefix, Suffix: suffix, Indent: c.indent})
		if got := reindent(cc, c.text); got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.lang, c.text, got, c.want)
		}
	}
}

func TestLimitMidLine(t *testing.T) {
	cases := []struct{ lang, doc, text, want string }{
		{"go", "x := f(|)\n", "a, b)\n\ty := 2", "a, b)"},
		{"go", "x := |\n", "f()\n\ty := 2", "f()\n\ty := 2"}, // end of line: not mid-line
		{"go", "go f(|)\n", "func() {\n\t\twork()\n\t}()\n\tnext()", "func() {\n\t\twork()\n\t}()"},
		{"go", "x := |y\n", "func() {\n\t\twork()\n\t}", "func() {"}, // "y" closes nothing
		{"python", "print(|)\n", "[\n    1,\n    2,\n])\nmore()", "[\n    1,\n    2,\n])"},
		{"python", "print(|)\n", "[\n    1,\n", "["}, // never closed
	}
	for _, c := range cases {
		if got := limitMidLine(at(t, c.lang, c.doc), c.text); got != c.want {
			t.Errorf("%s %q + %q: got %q, want %q", c.lang, c.doc, c.text, got, c.want)
		}
	}
}

func TestLimitScope(t *testing.T) {
	cases := []struct{ name, lang, doc, text, want string }{
		{"exit with suffix closer", "go", "func f() {\n\t|\n}\n", "a()\n}\n\nfunc g() {}", "a()"},
		{"exit at end of file", "go", "func f() {\n\t|", "a()\n}\n\nfunc g() {}", "a()\n}"},
		{"else continues", "go", "func f() {\n\tif x {\n\t\t|\n\t}\n}\n", "a()\n\t} else {\n\t\tb()\n\t}\n}", "a()\n\t} else {\n\t\tb()"},
		{"nested block kept", "c", "void f() {\n    |\n}\n", "if (x) {\n        y();\n    }\n    z();\n}\n", "if (x) {\n        y();\n    }\n    z();"},
		{"new top-level declaration", "go", "package p\n\n|", "func a() {\n}\n\nfunc b() {\n}", "func a() {\n}"},
		{"top-level statements without blocks", "go", "package p\n\n|", "import \"os\"\nimport \"io\"", "import \"os\"\nimport \"io\""},
		{"declaration while nested", "go", "func f() {\n\t|", "a()\n\nfunc g() {", "a()"},
		{"closer in string", "go", "func f() {\n\t|\n}\n", "s := \"}\"\n\tt := s\n}", "s := \"}\"\n\tt := s"},
		{"no grammar", "kotlin", "fun f() {\n    |\n}\n", "a()\n}\n\nfun g() {}", "a()"},
		{"python dedent", "python", "def f():\n    |\n", "a()\n    b()\nc()", "a()\n    b()"},
		{"python elif at header", "python", "def f():\n    if x:\n        |\n", "a()\n    elif y:\n        b()\nc()", "a()\n    elif y:\n        b()"},
		{"python top level", "python", "|", "def a():\n    pass\n\n\ndef b():\n    pass", "def a():\n    pass"},
		{"python docstring", "python", "def f():\n    |\n", "\"\"\"Doc\nat column 0.\n\"\"\"\n    return 1\nx = 2", "\"\"\"Doc\nat column 0.\n\"\"\"\n    return 1"},
		{"single line", "go", "func f() {\n\t|\n}\n", "a() }", "a() }"},
		{"suffix closer one level out", "go", "func f() {\n\tif x {|\n\treturn\n}\n", "\n\t\ty()\n\t}\n\treturn\n}", "\n\t\ty()\n\t}"},
		{"closer right after the cursor", "go", "func f() {|}\n", "\n\ty()\n}\n\nfunc g() {}", "\n\ty()\n}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := limitScope(at(t, c.lang, c.doc), c.text); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestTreeBracketsSkipsLiterals(t *testing.T) {
	for _, lang := range []string{"go", "python", "typescript", "rust", "java", "c", "cpp", "javascript"} {
		cc := at(t, lang, "x = f(|)\n")
		tok, ok := treeBrackets(cc, "\"(\" /* [ */ + g(y)")
		if !ok {
			t.Errorf("%s: no grammar", lang)
			continue
		}
		var got string
		for _, b := range tok.completion {
			got += string(b.ch)
		}
		want := "()"
		if lang == "python" { // "/*" is not a comment in Python
			want = "[()"
		}
		if got != want {
			t.Errorf("%s: brackets %q, want %q", lang, got, want)
		}
		if tok.suffix.ch != ')' || tok.suffix.off != 0 {
			t.Errorf("%s: suffix closer %+v, want ')' at 0", lang, tok.suffix)
		}
	}
	if _, ok := treeBrackets(at(t, "cobol", "|"), "x"); ok {
		t.Errorf("cobol has a grammar?")
	}
}

func TestParseWindows(t *testing.T) {
	prefix := "package p\n\nfunc a() {\n}\n\nfunc b() {\n\tx := 1\n\t"
	if got, want := prefixWindow(prefix), "func b() {\n\tx := 1\n\t"; got != want {
		t.Errorf("prefixWindow: got %q, want %q", got, want)
	}
	suffix := "\n\treturn x\n}\n\nfunc c() {\n}\n"
	if got, want := suffixWindow(suffix), "\n\treturn x\n}"; got != want {
		t.Errorf("suffixWindow: got %q, want %q", got, want)
	}
	long := strings.Repeat("\tx++\n", 10_000)
	if got := prefixWindow("func f() {\n" + long); len(got) > maxWindowBytes+100 {
		t.Errorf("prefixWindow is not bounded: %d bytes", len(got))
	}
	if got := suffixWindow(long + "}\n"); len(got) > maxWindowBytes+100 {
		t.Errorf("suffixWindow is not bounded: %d bytes", len(got))
	}
}

func TestCutRepetition(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"identical lines", "a()\nx = 1\nx = 1\nx = 1\nx = 1\nx = 1", "a()\nx = 1"},
		{"near-identical lines", "x[1] = 0\nx[2] = 0\nx[3] = 0\nx[4] = 0\nx[5] = 0", "x[1] = 0"},
		{"four lines are fine", "x = 1\nx = 1\nx = 1\nx = 1", "x = 1\nx = 1\nx = 1\nx = 1"},
		{"repeated block", "a := f()\nb := g(a)\na := f()\nb := g(a)", "a := f()\nb := g(a)"},
		{"closer blocks are code", "}\n}\n}\n}", "}\n}\n}\n}"},
		{"looping line end", "x := 1\ny := ))))))))))))", "x := 1"},
		{"looping first line", "foo(bar, bar, bar, bar, bar, bar", "foo(bar"},
		{"separator comment", "// ------------------------\nx := 1", "// ------------------------\nx := 1"},
		{"plain code", "if x {\n\treturn y\n}", "if x {\n\treturn y\n}"},
	}
	for _, c := range cases {
		if got := cutRepetition(c.text); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTrimSuffixOverlap(t *testing.T) {
	cases := []struct{ name, lang, doc, text, want string }{
		{"trailing lines", "go", "func f() {\n\t|\n\treturn x\n}\n", "x := 1\n\treturn x\n}", "x := 1"},
		{"near-equal trailing line", "go", "func f() {\n\t|\n\treturn fmt.Errorf(\"load config: %w\", err)\n}\n", "log(err)\n\treturn fmt.Errorf(\"load confg: %w\", err)", "log(err)"},
		{"short lines must be equal", "go", "func f() {\n\t|\n\treturn total, nil\n}\n", "total := 0\n\treturn totl, nil", "total := 0\n\treturn totl, nil"},
		{"closer of its own block kept", "go", "func f() {\n\t|\n}\n", "if x {\n\t\ty()\n\t}", "if x {\n\t\ty()\n\t}"},
		{"closer one level in kept", "go", "func f() {\n\tif x {|\n}\n", "\n\t\ty()\n\t}", "\n\t\ty()\n\t}"},
		{"closer at the same level dropped", "go", "func f() {\n\tif x {|\n\t}\n}\n", "\n\t\ty()\n\t}", "\n\t\ty()"},
		{"rest of line", "go", "x := f(a, |b)\n", "c, b)", "c, "},
		{"closers left to matchClosers", "go", "x := f(|)\n", "a)", "a)"},
		{"no overlap", "python", "def f():\n    |\n    return y\n", "y = 1\n    z = 2", "y = 1\n    z = 2"},
	}
	for _, c := range cases {
		if got := trimSuffixOverlap(at(t, c.lang, c.doc), c.text); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDropSuffixDuplicate(t *testing.T) {
	cases := []struct {
		doc, text string
		want      bool
	}{
		{"func f() {\n\t|\n\treturn nil\n}\n", "return nil", true},
		{"func f() {\n\t|\n\treturn nil\n}\n", "return nil\n}", true},
		{"func f() {\n\t|\n\n\n\treturn nil\n}\n", "return nil", true}, // blank lines skipped
		{"func f() {\n\t|\n\treturn nil\n}\n", "return err", false},
		{"x := |f(a)\n", "f(a)", true},
		{"func f() {\n\t|\n}\n", "return nil", false},
	}
	for _, c := range cases {
		if got := dropSuffixDuplicate(at(t, "go", c.doc), c.text); got != c.want {
			t.Errorf("%q + %q: got %v, want %v", c.doc, c.text, got, c.want)
		}
	}
}

func TestMatchClosers(t *testing.T) {
	cases := []struct {
		lang, doc, text string
		want            int
	}{
		{"go", "f(|)\n", "a, b)", 1},
		{"go", "f(|)\n", "a, b", 0},
		{"go", "f(|)\n", "g(x)", 0},
		{"go", "f(|)\n", "g(x))", 1},
		{"rust", "println!(|);\n", "\"{}\", x);", 2},
		{"python", "print(\"|\")\n", "hi\")", 2},
		{"python", "print(\"|\")\n", "hi\"", 1},
		{"typescript", "import x from '|'\n", "./x';", 1},
		{"typescript", "const a = [|];\n", "1, 2]", 1},
		{"go", "f(|) + 1\n", "a)", 1},
		{"go", "f(|)\n", "a) // done", 1},
		{"go", "m[|]\n", "k)", 0}, // wrong closer: nothing to replace
		{"go", "x := |\n", "f()", 0},
		// A completion that does not write the closer again never replaces
		// it, however balanced the line would be without it: editors show a
		// suggestion that deletes text as nothing (VS Code drops it).
		{"go", "func hasPort(|)\n", "a /* b", 0},
		{"go", "func hasPort(|)\n", "a // b", 0},
		{"go", "if u == nil {|}\n", "x // y", 0},
		{"go", "f(|)\n", "a) // done", 1},
	}
	for _, c := range cases {
		_, got := matchClosers(at(t, c.lang, c.doc), c.text)
		if got != c.want {
			t.Errorf("%s %q + %q: replace %d, want %d", c.lang, c.doc, c.text, got, c.want)
		}
	}
}

func TestDropShort(t *testing.T) {
	cc := at(t, "go", "|")
	cases := []struct{ text, want string }{
		{"nil", ""},
		{"x", ReasonTooShort},
		{"  ab  ", ReasonTooShort},
		{"});", ReasonPunctuation},
		{"}\n}\n}", ReasonPunctuation},
		{"éàü", ""}, // runes, not bytes
		{"return", ""},
	}
	for _, c := range cases {
		if got := dropShort(cc, c.text); got != c.want {
			t.Errorf("%q: got %q, want %q", c.text, got, c.want)
		}
	}
}

func TestScanBrackets(t *testing.T) {
	cases := []struct{ lang, text, want string }{
		{"go", "f(\"(\", '(', `(`) // (", "()"},
		{"c", "a[i] /* { */ = '{';", "[]"},
		{"python", "f(\"\"\"(\n(\"\"\", '(') # (", "()"},
		{"rust", "fn f<'a>(x: &'a str) -> char { '{' }", "(){}"},
		{"javascript", "`${(}` + f()", "()"},
		{"go", "\"unterminated ( \n)", ")"},
	}
	for _, c := range cases {
		var got string
		for _, b := range scanBrackets(lexicalFor(c.lang), c.text) {
			got += string(b.ch)
		}
		if got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.lang, c.text, got, c.want)
		}
	}
}

func TestEditDistanceWithin(t *testing.T) {
	cases := []struct {
		a, b  string
		limit int
		want  bool
	}{
		{"kitten", "sitting", 3, true},
		{"kitten", "sitting", 2, false},
		{"", "abc", 3, true},
		{"abc", "abc", 0, true},
		{"abcdef", "ab", 3, false},
	}
	for _, c := range cases {
		if got := editDistanceWithin(c.a, c.b, c.limit); got != c.want {
			t.Errorf("%q %q within %d: got %v", c.a, c.b, c.limit, got)
		}
	}
}

func TestBetweenPair(t *testing.T) {
	cases := []struct {
		doc  string
		want bool
	}{
		{"func f() {|}\n", true},
		{"f(|)\n", true},
		{"f( | )\n", true},
		{"f(|]\n", false},
		{"x := |}\n", false},
	}
	for _, c := range cases {
		cc := at(t, "go", c.doc)
		if got := betweenPair(cc.linePrefix, cc.lineSuffix); got != c.want {
			t.Errorf("%q: got %v", c.doc, got)
		}
	}
}

// levenshtein is the textbook full-matrix distance the banded
// editDistanceWithin is checked against.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestEditDistanceWithinMatchesLevenshtein(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = "ab c"[rng.IntN(4)]
		}
		return string(b)
	}
	for range 5000 {
		a, b := word(), word()
		d := levenshtein(a, b)
		for limit := 0; limit <= 6; limit++ {
			if got := editDistanceWithin(a, b, limit); got != (d <= limit) {
				t.Fatalf("%q %q: distance %d, within %d reported %v", a, b, d, limit, got)
			}
		}
	}
}

func TestDeclarationEnd(t *testing.T) {
	cases := []struct{ lang, doc, text, want string }{
		{"go", "package p\n\n|", "func a() {\n}\n\nfunc b() {\n}", "func a() {\n}"},
		{"java", "class A {\n    |\n}\n", "void a() {\n    }\n\n    void b() {\n    }", "void a() {\n    }"},
		{"python", "class A:\n    |\n", "def a(self):\n        pass\n\n    def b(self):\n        pass", "def a(self):\n        pass"},
		{"rust", "impl A {\n    |\n}\n", "fn a(&self) {}\n    fn b(&self) {}", "fn a(&self) {}"},
		{"c", "|", "int a(void) {\n    return 1;\n}\nint b(void) {\n    return 2;\n}", "int a(void) {\n    return 1;\n}"},
		{"go", "func f() {\n\t|\n}\n", "x := 1\n\ty := 2", ""},                      // statements, not a declaration
		{"go", "package p\n\n|", "func a() {\n\tx := 1", ""},                        // not finished
		{"typescript", "class A {\n  |\n}\n", "// comment\n  a() {}\n  b() {}", ""}, // starts with a comment
	}
	for _, c := range cases {
		cc := at(t, c.lang, c.doc)
		tok, ok := treeBrackets(cc, c.text)
		if !ok {
			t.Fatalf("%s: no grammar", c.lang)
		}
		got := ""
		if tok.declarationEnd > 0 {
			got = c.text[:tok.declarationEnd]
		}
		if got != c.want {
			t.Errorf("%s %q: declaration %q, want %q", c.lang, c.text, got, c.want)
		}
	}
}

func TestAfterDeclaration(t *testing.T) {
	text := "fn a() {\n    }\n}\n}\n\nfn b() {}"
	if got, want := afterDeclaration(text, len("fn a() {\n    }")), "fn a() {\n    }\n}\n}"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
