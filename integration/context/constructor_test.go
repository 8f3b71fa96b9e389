package context_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/server/api"
)

// fieldLines is a run of n field declarations, so that a class's
// constructor comes after the lines its declaration head shows.
func fieldLines(format string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

// TestConstructorCallCarriesParameters runs the real serval-agent over
// stdio with the cursor in the arguments of a call that constructs a
// class defined in another file: the declaration in the request must
// carry the constructor's parameters, which come after more fields than
// a declaration head shows.
func TestConstructorCallCarriesParameters(t *testing.T) {
	tests := []struct {
		lang, classFile, class, mainFile, main string
		params                                 string // what the request must show
	}{
		{"python", "billing/invoice.py",
			"class Invoice:\n    \"\"\"A customer's invoice.\"\"\"\n\n" + fieldLines("    rate_%d: float = 0.0\n", 14) +
				"\n    def __init__(self, number: str, customer: Customer, due_days: int = 30):\n        self.number = number\n",
			"billing/run.py", "from billing.invoice import Invoice\n\n\ndef bill(customer):\n    inv = Invoice(<|>\n    return inv\n",
			"def __init__(self, number: str, customer: Customer, due_days: int = 30): ..."},
		{"typescript", "src/invoice.ts",
			"export class Invoice {\n" + fieldLines("  private rate%d = 0;\n", 14) +
				"  constructor(readonly number: string, private customer: Customer, dueDays = 30) {\n    this.rate0 = 1;\n  }\n}\n",
			"src/run.ts", "import { Invoice } from './invoice';\n\nexport function bill(customer: Customer): Invoice {\n  const inv = new Invoice(<|>\n  return inv;\n}\n",
			"constructor(readonly number: string, private customer: Customer, dueDays = 30) { ... }"},
		{"java", "src/shop/Invoice.java",
			"package shop;\n\npublic class Invoice {\n" + fieldLines("    private double rate%d;\n", 14) +
				"    public Invoice(String number, Customer customer, int dueDays) {\n        this.rate0 = 1;\n    }\n}\n",
			"src/shop/Billing.java", "package shop;\n\nclass Billing {\n    Invoice bill(Customer customer) {\n        Invoice inv = new Invoice(<|>\n        return inv;\n    }\n}\n",
			"public Invoice(String number, Customer customer, int dueDays) { ... }"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, tt.classFile, tt.class)
			before, after, _ := strings.Cut(tt.main, "<|>")
			mainPath := write(t, root, tt.mainFile, before+after)
			rec := newRecorder(t)
			c := startAgent(t, root, rec.URL)
			uri := "file://" + mainPath
			c.Notify(bounded(t, 10*time.Second), "textDocument/didOpen", map[string]any{
				"textDocument": map[string]any{"uri": uri, "languageId": tt.lang, "version": 1, "text": before + after}})
			pos := protocol.Position{Line: uint32(strings.Count(before, "\n")), Character: uint32(len(before) - strings.LastIndex(before, "\n") - 1)}

			// The index fills in the background; each try changes the
			// document's first line so that no cache answers, and the bound
			// is in time (the context sources have 50 ms each under load).
			version := 1
			var body string
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				version++
				if body = askCompletion(t, c, rec, uri, version, pos); strings.Contains(body, "class Invoice") {
					break
				}
			}
			var req api.CompletionRequest
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("no completion request with the class reached the server: %v\n%s", err, body)
			}
			for _, d := range req.Segments.Declarations {
				if d.Filepath == tt.classFile && strings.Contains(d.Body, "class Invoice") {
					if !strings.Contains(d.Body, tt.params) {
						t.Errorf("the declaration of Invoice lacks the constructor's parameters %q:\n%s", tt.params, d.Body)
					}
					return
				}
			}
			t.Errorf("the declaration of Invoice from %s is not in the request:\n%s", tt.classFile, body)
		})
	}
}
