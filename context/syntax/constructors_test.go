package syntax

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// classWithFields is a class whose constructor comes after more than
// HeadLines lines of fields, so that the plain head cuts it off.
func classWithFields(open, field, ctor, close string) string {
	var b strings.Builder
	b.WriteString(open)
	for i := range HeadLines + 2 {
		fmt.Fprintf(&b, field, i)
	}
	b.WriteString(ctor)
	b.WriteString(close)
	return b.String()
}

func TestClassHeadCarriesConstructors(t *testing.T) {
	tests := []struct {
		lang, src string
		want      []string // lines the class's head must end with
	}{
		{"python", classWithFields("class Invoice:\n    \"\"\"An invoice.\"\"\"\n", "    field%d: int = 0\n",
			"\n    def __init__(self, number: str,\n                 lines: list[Line], *, paid=False):\n        self.number = number\n", ""),
			[]string{"...", "    def __init__(self, number: str,", "                 lines: list[Line], *, paid=False): ..."}},
		{"python", classWithFields("class Invoice(Base):\n", "    field%d = 0\n",
			"    @trace\n    def __init__(self, number):\n        pass\n", ""),
			[]string{"...", "    def __init__(self, number): ..."}},
		{"typescript", classWithFields("export class Invoice {\n", "  private field%d = 0;\n",
			"  constructor(readonly number: string, private lines: Line[]) {\n    this.total = 0;\n  }\n", "}\n"),
			[]string{"...", "  constructor(readonly number: string, private lines: Line[]) { ... }"}},
		{"javascript", classWithFields("class Invoice {\n", "  field%d = 0;\n",
			"  constructor(number, lines) {\n    this.number = number;\n  }\n", "}\n"),
			[]string{"...", "  constructor(number, lines) { ... }"}},
		{"java", classWithFields("public class Invoice {\n", "    private int field%d;\n",
			"    public Invoice(String number) {\n        this(number, List.of());\n    }\n    void Invoice2() {}\n    public Invoice(String number, List<Line> lines) {\n        this.number = number;\n    }\n", "}\n"),
			[]string{"...", "    public Invoice(String number) { ... }", "    public Invoice(String number, List<Line> lines) { ... }"}},
		{"php", classWithFields("<?php\nclass Invoice {\n", "    private $field%d;\n",
			"    public function __construct(string $number, array $lines) {\n        $this->number = $number;\n    }\n", "}\n"),
			[]string{"...", "    public function __construct(string $number, array $lines) { ... }"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			decls := declarationsOf(t, tt.lang, tt.src)
			var class *Decl
			for i := range decls {
				if decls[i].Kind == KindClass && decls[i].Name == "Invoice" {
					class = &decls[i]
				}
			}
			if class == nil {
				t.Fatalf("no class Invoice in %+v", decls)
			}
			lines := strings.Split(class.Head, "\n")
			if len(lines) < len(tt.want) || strings.Join(lines[len(lines)-len(tt.want):], "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("head of Invoice ends\n%s\nwant it to end\n%s", class.Head, strings.Join(tt.want, "\n"))
			}
			if !strings.HasPrefix(class.Head, strings.SplitN(tt.src, "\n", 3)[0]) && !strings.HasPrefix(tt.src, "<?php") {
				t.Errorf("head %q does not start with the class line", class.Head)
			}
			headFrom := uintptr(unsafe.Pointer(unsafe.StringData(class.Head)))
			at := uintptr(unsafe.Pointer(unsafe.StringData(class.Name)))
			if at < headFrom || at+uintptr(len(class.Name)) > headFrom+uintptr(len(class.Head)) {
				t.Error("the class name no longer shares the head's memory")
			}
		})
	}
}

// TestClassHeadShowingConstructor: a class short enough for its head to
// show the constructor, or without one, keeps its plain head.
func TestClassHeadShowingConstructor(t *testing.T) {
	for _, tt := range []struct{ lang, src string }{
		{"python", "class Point:\n    def __init__(self, x, y):\n        self.x = x\n"},
		{"typescript", "class Point {\n  constructor(public x: number) {}\n}\n"},
		{"python", classWithFields("class Config:\n", "    field%d = 0\n", "    def load(self):\n        pass\n", "")},
		{"go", "package p\n\ntype Invoice struct{ n int }\n\nfunc NewInvoice() *Invoice { return nil }\n"},
	} {
		for _, d := range declarationsOf(t, tt.lang, tt.src) {
			if d.Kind == KindClass && !strings.HasPrefix(tt.src, d.Head) && !strings.HasPrefix(tt.src, strings.TrimSuffix(d.Head, "\n...")) {
				t.Errorf("%s: head of %s = %q, want the plain start of its text", tt.lang, d.Name, d.Head)
			}
		}
	}
}
