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
