package postprocess

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// checkResult asserts what every Result must satisfy, whatever the input.
func checkResult(t *testing.T, in Input, r Result) {
	t.Helper()
	if r.Discarded {
		if r.Reason == "" || r.Text != "" || r.ReplaceSuffixLen != 0 {
			t.Fatalf("discard with reason %q, text %q, replace %d", r.Reason, r.Text, r.ReplaceSuffixLen)
		}
		return
	}
	if strings.TrimSpace(r.Text) == "" {
		t.Fatalf("kept a blank text %q", r.Text)
	}
	if !utf8.ValidString(r.Text) {
		t.Fatalf("text is not valid UTF-8: %q", r.Text)
	}
	lineSuffix := in.Suffix
	if i := strings.IndexAny(lineSuffix, "\r\n"); i >= 0 {
		lineSuffix = lineSuffix[:i]
	}
	if r.ReplaceSuffixLen < 0 || r.ReplaceSuffixLen > len(lineSuffix) {
		t.Fatalf("replace %d bytes of a %d-byte line suffix", r.ReplaceSuffixLen, len(lineSuffix))
	}
	if len(r.Text) > 2*maxCompletionBytes {
		t.Fatalf("text of %d bytes", len(r.Text))
	}
}

func TestBadInput(t *testing.T) {
	goFile := "package main\n\nfunc main() {\n\tx := 1\n\t\n}\n"
	cursor := strings.Index(goFile, "\t\n") + 1
	huge := strings.Repeat("abcdefghij", 10_000) // 100,000 characters, one line
	hugeLines := strings.Repeat("x := compute(1)\n\ty := x\n", 5_000)
	cases := []struct {
		name string
		in   Input
		want string // "discard", "keep", or "" for either
	}{
		{"empty", Input{Language: "go", Prefix: goFile[:cursor], Suffix: goFile[cursor:]}, "discard"},
		{"whitespace only", Input{Language: "go", Prefix: goFile[:cursor], Suffix: goFile[cursor:], Completion: " \t\n\r\n  "}, "discard"},
		{"invalid utf8", Input{Language: "go", Prefix: goFile[:cursor], Suffix: goFile[cursor:], Completion: "fmt.Println(\"\xff\xfeok\")"}, "keep"},
		{"invalid utf8 only", Input{Language: "go", Completion: "\xff\xfe\xfd"}, "discard"},
		{"100000 chars one line", Input{Language: "go", Prefix: goFile[:cursor], Suffix: goFile[cursor:], Completion: huge}, ""},
		{"100000 chars many lines", Input{Language: "go", Prefix: goFile[:cursor], Suffix: goFile[cursor:], Completion: hugeLines}, "keep"},
		{"unbalanced document", Input{Language: "go", Prefix: "func f() {{{{ (( [", Suffix: "]]]] ))))} }", Completion: "x, y := g()\n}}}}\n)))"}, ""},
		{"cursor at offset 0", Input{Language: "python", Suffix: "import os\n", Completion: "import sys\n"}, "keep"},
		{"cursor at the end", Input{Language: "rust", Prefix: "fn main() {\n    ", Completion: "println!(\"hi\");\n}\n\nfn other() {}"}, "keep"},
		{"mixed tabs and spaces", Input{Language: "python", Prefix: "def f():\n\tif x:\n        \ty = 1\n  \t", Suffix: "\n", Completion: "return y\n\t    pass"}, "keep"},
		{"crlf document", Input{Language: "java", Prefix: "class A {\r\n  void f() {\r\n    ", Suffix: "\r\n  }\r\n}\r\n", Completion: "int x = 1;\r\n    int y = 2;"}, "keep"},
		{"nul bytes", Input{Language: "c", Prefix: "int x = \x00", Suffix: "\x00;\n", Completion: "4\x002;"}, ""},
		{"unknown language", Input{Language: "cobol", Prefix: "       PROCEDURE DIVISION.\n           ", Completion: "DISPLAY 'HELLO'.\n           STOP RUN."}, "keep"},
		{"absurd indent width", Input{Language: "python", Prefix: "def f():\n", Completion: "\tif x:\n\t\treturn 1", Indent: Indent{Width: 1 << 40}}, "keep"},
		{"lone carriage returns", Input{Language: "go", Prefix: "x := \r", Suffix: "\r", Completion: "\r\r\r"}, "discard"},
		{"lone carriage return ends the line", Input{Language: "go", Prefix: "f(", Suffix: ")\r)", Completion: "a, b)"}, "keep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Process(c.in)
			checkResult(t, c.in, r)
			switch {
			case c.want == "discard" && !r.Discarded:
				t.Errorf("want a discard, got %q", r.Text)
			case c.want == "keep" && r.Discarded:
				t.Errorf("want a result, got a discard (%s)", r.Reason)
			}
			Finished(c.in) // must not panic either
		})
	}
}

func TestReplaceRangeCountsRawBytes(t *testing.T) {
	// NUL and invalid bytes in the line after the cursor are dropped for
	// the filters, but the replace range counts the editor's bytes.
	in := Input{Language: "go", Prefix: "f(", Suffix: "\x00)\xff\n", Completion: "a, b)"}
	r := Process(in)
	if r.Discarded || r.Text != "a, b)" || r.ReplaceSuffixLen != 2 {
		t.Fatalf("got %+v, want \"a, b)\" replacing 2 bytes (NUL and \")\")", r)
	}
	if got := rawOffset("a\x00b\xffc", 2); got != 3 {
		t.Errorf("rawOffset: got %d, want 3", got)
	}
}

func TestCRLFPreserved(t *testing.T) {
	in := Input{
		Language:   "java",
		Prefix:     "class A {\r\n  void f() {\r\n    ",
		Suffix:     "\r\n  }\r\n}\r\n",
		Completion: "int x = 1;\r\n    int y = 2;",
	}
	r := Process(in)
	if r.Text != "int x = 1;\r\n    int y = 2;" {
		t.Fatalf("got %q", r.Text)
	}
	in.Completion = "int x = 1;\n    int y = 2;" // a model answering LF in a CRLF file
	if r := Process(in); r.Text != "int x = 1;\r\n    int y = 2;" {
		t.Fatalf("LF completion in a CRLF file: got %q", r.Text)
	}
}

func TestMinLength(t *testing.T) {
	in := Input{Language: "go", Prefix: "func f() error {\n\treturn ", Suffix: "\n}\n", Completion: "err"}
	if r := Process(in); r.Discarded {
		t.Fatalf("default minimum dropped %q: %s", in.Completion, r.Reason)
	}
	in.MinLength = 4
	if r := Process(in); !r.Discarded || r.Reason != ReasonTooShort {
		t.Fatalf("MinLength 4 kept %q", r.Text)
	}
	in.MinLength = -1
	in.Completion = "x"
	if r := Process(in); r.Discarded {
		t.Fatalf("a negative MinLength still dropped %q: %s", in.Completion, r.Reason)
	}
}

func TestComplete(t *testing.T) {
	base := Input{
		Language: "go",
		Prefix:   "package main\n\nfunc f() int {\n\t",
		Suffix:   "\n}\n",
	}
	cases := []struct {
		completion string
		want       bool
	}{
		{"return 1", false},                   // may grow
		{"x := 1\n\treturn x\n", false},       // still inside the block
		{"return 1\n}", false},                // "}" may become "} else {"... or is the end: undecided
		{"return 1\n}\n", true},               // left the block on a finished line
		{"return 1\n}\n\nfunc g() {\n", true}, // and went on
		{"\n}\n\nfunc g() {\n", true},         // nothing in scope: a final discard
		{"x\nx\nx\nx\nx\n", true},             // looping
	}
	for _, c := range cases {
		in := base
		in.Completion = c.completion
		if got := Finished(in); got != c.want {
			t.Errorf("Complete(%q) = %v, want %v (process: %q)", c.completion, got, c.want, Process(in).Text)
		}
	}
	mid := Input{Language: "go", Prefix: "x := f(", Suffix: ")\n", Completion: "a, b)\n"}
	if !Finished(mid) {
		t.Errorf("a mid-line completion past its first line should be complete")
	}
	mid.Completion = "a, b"
	if Finished(mid) {
		t.Errorf("a mid-line completion without a newline may still grow")
	}
}

func FuzzProcess(f *testing.F) {
	f.Add("go", "package main\n\nfunc main() {\n\t", "\n}\n", "fmt.Println(1)\n}\n\nfunc g() {}", 0, false, 0)
	f.Add("python", "def f(x):\n    if x:\n        ", "\n    return 0\n", "return 1\n    else:\n        return 2\nprint(3)", 0, false, 4)
	f.Add("typescript", "const x = foo(", ");\n", "a, b);\n", 4, false, 2)
	f.Add("rust", "fn f<'a>(s: &'a str) -> &'a str {\n    ", "\n}", "&s[..1]\n}\n\nfn g() {}", 0, false, 0)
	f.Add("c", "int main() {\r\n  ", "\r\n}\r\n", "return 0;\r\n}", 0, true, 8)
	f.Add("java", "", "", "\xff\x00", -1, true, 0)
	f.Add("unknown", "((((", "]]]]", "}}}}))))\n\t\t\n    x", 2, false, -3)
	f.Add("go", "func f() {|", "}\n", "\n\tx()\n}\n", 0, true, 4)
	f.Add("python", "x = \"\"\"", "\"\"\"\n", "doc\n  more\"\"\"\ny = 1", 0, false, 0)
	f.Fuzz(func(t *testing.T, lang, prefix, suffix, completion string, minLength int, tabs bool, width int) {
		in := Input{Language: lang, Prefix: prefix, Suffix: suffix, Completion: completion, MinLength: minLength,
			Indent: Indent{Tabs: tabs, Width: width}}
		r := Process(in)
		checkResult(t, in, r)
		Finished(in)
	})
}
