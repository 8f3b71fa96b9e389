package syntax

import (
	"fmt"
	"strings"
	"testing"
)

// longBody repeats a statement n times with the given indentation.
func longBody(indent, stmt string, n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(indent + fmt.Sprintf(stmt, i) + "\n")
	}
	return b.String()
}

// TestWindowHeadersPerLanguage puts the cursor at the end of a long
// function inside a class (or module) in each grammar: the prefix window
// cannot reach the top, so it must start on a statement and carry the
// class and function header lines.
func TestWindowHeadersPerLanguage(t *testing.T) {
	tests := []struct {
		lang, src, header string
	}{
		{"go", "package p\n\nfunc (s *S) Run(n int) int {\n" + longBody("\t", "n += step(%d)", 40) + "\treturn <|>n\n}\n",
			"func (s *S) Run(n int) int {\n"},
		{"python", "class S:\n    def run(self, n):\n" + longBody("        ", "n += step(%d)", 40) + "        return <|>n\n",
			"class S:\n    def run(self, n):\n"},
		{"javascript", "class S {\n  run(n) {\n" + longBody("    ", "n += step(%d);", 40) + "    return <|>n;\n  }\n}\n",
			"class S {\n  run(n) {\n"},
		{"typescript", "export class S {\n  run(n: number): number {\n" + longBody("    ", "n += step(%d);", 40) + "    return <|>n;\n  }\n}\n",
			"export class S {\n  run(n: number): number {\n"},
		{"tsx", "export function View(props: P) {\n" + longBody("  ", "const a%d = <b>{props.x}</b>;", 40) + "  return <|><div/>;\n}\n",
			"export function View(props: P) {\n"},
		{"rust", "impl S {\n    fn run(&self, mut n: i32) -> i32 {\n" + longBody("        ", "n += step(%d);", 40) + "        <|>n\n    }\n}\n",
			"impl S {\n    fn run(&self, mut n: i32) -> i32 {\n"},
		{"java", "class S {\n    int run(int n) {\n" + longBody("        ", "n += step(%d);", 40) + "        return <|>n;\n    }\n}\n",
			"class S {\n    int run(int n) {\n"},
		{"c", "int run(int n) {\n" + longBody("    ", "n += step(%d);", 40) + "    return <|>n;\n}\n",
			"int run(int n) {\n"},
		{"cpp", "class S {\n public:\n  int run(int n) {\n" + longBody("    ", "n += step(%d);", 40) + "    return <|>n;\n  }\n};\n",
			"class S {\n  int run(int n) {\n"},
		{"ruby", "class S\n  def run(n)\n" + longBody("    ", "n += step(%d)", 40) + "    <|>n\n  end\nend\n",
			"class S\n  def run(n)\n"},
		{"php", "<?php\nclass S {\n    function run($n) {\n" + longBody("        ", "$n += step(%d);", 40) + "        return <|>$n;\n    }\n}\n",
			"class S {\n    function run($n) {\n"},
	}
	if len(tests) != len(Languages()) {
		t.Fatalf("test covers %d languages, table has %d", len(tests), len(Languages()))
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			const budget = 400
			w := window(t, tt.lang, tt.src, budget, 100)
			if w.Header != tt.header {
				t.Errorf("header = %q, want %q", w.Header, tt.header)
			}
			if n := len(w.Header) + len(w.Prefix); n > budget {
				t.Errorf("header+prefix = %d bytes, over %d", n, budget)
			}
			first := strings.SplitN(w.Prefix, "\n", 2)[0]
			if !strings.Contains(first, "step(") && !strings.Contains(first, "const a") {
				t.Errorf("prefix starts with %q, want a whole statement", first)
			}
			if strings.Contains(w.Prefix, tt.header) {
				t.Errorf("the header is repeated inside the window")
			}
		})
	}
}

// TestWindowTrailingComments: on code where every line ends with a comment
// (`x := 1 // note`), a statement followed by its comment still ends its
// line, so the prefix window starts on a statement near the budget instead
// of shrinking to the cursor's line, and the suffix ends on one.
func TestWindowTrailingComments(t *testing.T) {
	tests := []struct{ lang, before, stmt, cursorLine, after string }{
		{"go", "package p\n\nfunc f() {\n", "\tx%d := step(%[1]d) // note %[1]d", "\ty := x3 + <|>x4 // sum\n", "}\n"},
		{"python", "def f():\n", "    x%d = step(%[1]d)  # note %[1]d", "    y = x3 + <|>x4  # sum\n", ""},
		{"javascript", "function f() {\n", "  let x%d = step(%[1]d); // note %[1]d", "  let y = x3 + <|>x4; // sum\n", "}\n"},
		{"typescript", "function f(): void {\n", "  let x%d = step(%[1]d); // note %[1]d", "  let y = x3 + <|>x4; // sum\n", "}\n"},
		{"tsx", "function f() {\n", "  let x%d = step(%[1]d); // note %[1]d", "  let y = x3 + <|>x4; // sum\n", "}\n"},
		{"rust", "fn f() {\n", "    let x%d = step(%[1]d); // note %[1]d", "    let y = x3 + <|>x4; // sum\n", "}\n"},
		{"java", "class S {\n  void f() {\n", "    int x%d = step(%[1]d); // note %[1]d", "    int y = x3 + <|>x4; // sum\n", "  }\n}\n"},
		{"c", "void f(void) {\n", "    int x%d = step(%[1]d); /* note %[1]d */", "    int y = x3 + <|>x4; /* sum */\n", "}\n"},
		{"cpp", "void f() {\n", "    int x%d = step(%[1]d); // note %[1]d", "    int y = x3 + <|>x4; // sum\n", "}\n"},
		{"ruby", "def f\n", "  x%d = step(%[1]d) # note %[1]d", "  y = x3 + <|>x4 # sum\n", "end\n"},
		{"php", "<?php\nfunction f() {\n", "    $x%d = step(%[1]d); // note %[1]d", "    $y = $x3 + <|>$x4; // sum\n", "}\n"},
	}
	if len(tests) != len(Languages()) {
		t.Fatalf("test covers %d languages, there are %d", len(tests), len(Languages()))
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			src := tt.before + longBody("", tt.stmt, 40) + tt.cursorLine + longBody("", tt.stmt, 40) + tt.after
			const pb, sb = 400, 300
			w := window(t, tt.lang, src, pb, sb)
			if n := len(w.Header) + len(w.Prefix); n < pb/2 || n > pb {
				t.Errorf("header+prefix = %d bytes of a %d budget: %q", n, pb, w.Text())
			}
			if first := strings.SplitN(w.Prefix, "\n", 2)[0]; !strings.Contains(first, "step(") {
				t.Errorf("prefix starts with %q, want a whole statement", first)
			}
			if n := len(w.Suffix); n < sb/2 || n > sb {
				t.Errorf("suffix = %d bytes of a %d budget: %q", n, sb, w.Suffix)
			}
			if !strings.HasSuffix(w.Suffix, "\n") {
				t.Errorf("suffix %q does not end on a line", w.Suffix)
			}
		})
	}
}
