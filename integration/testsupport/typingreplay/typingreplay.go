// Package typingreplay builds the typing replay that Serval's engine
// benchmarks share (shared/reference/engines.md): a user retyping part of the
// Go standard library's strings/builder.go, with a fill-in-the-middle prompt
// every few typed characters, cut to the windows an editor client sends.
package typingreplay

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Replay parameters, as in shared/reference/engines.md's measurement.
const (
	Every     = 3    // a request every 3 typed characters
	PrefixMax = 1500 // prefix window, characters
	Slack     = 500  // the window start stays put until the prefix exceeds max+slack
	Suffix    = 500  // suffix window, characters
	MaxTokens = 16
)

// Step is what is around the cursor at one request.
type Step struct {
	Prefix, Suffix string
}

// FIM is the step's prompt with the Qwen-style markers of the generated test model.
func (s Step) FIM() string {
	return "<|fim_prefix|>" + s.Prefix + "<|fim_suffix|>" + s.Suffix + "<|fim_middle|>"
}

// goroot returns GOROOT for reading the standard library's sources.
func goroot() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.GOROOT()
}

// Steps returns the steps of a user retyping part of strings/builder.go, one
// every Every characters. Trace "func" retypes its largest function (as in
// shared/reference/engines.md); "tail" retypes the 600 characters before its
// last 500, so the prefix outgrows its window. With snap, the prefix window
// starts at a line boundary and only moves when the prefix outgrows it by
// Slack; without, it is the last PrefixMax characters (sliding with every
// keystroke). withSuffix=false leaves the suffix out.
func Steps(tb testing.TB, trace string, snap, withSuffix bool) []Step {
	tb.Helper()
	path := filepath.Join(goroot(), "src", "strings", "builder.go")
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Skipf("no %s: %v", path, err)
	}
	var start, end int
	switch trace {
	case "func":
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				s, e := fset.Position(fd.Pos()).Offset, fset.Position(fd.End()).Offset
				if e-s > end-start {
					start, end = s, e
				}
			}
		}
	case "tail":
		end = len(src) - Suffix
		start = end - 600
	default:
		tb.Fatalf("unknown trace %q", trace)
	}
	before, body, after := string(src[:start]), string(src[start:end]), string(src[end:])
	var steps []Step
	windowStart := 0
	for typed := Every; typed <= len(body); typed += Every {
		prefix := before + body[:typed]
		if snap {
			if len(prefix)-windowStart > PrefixMax+Slack || windowStart == 0 {
				windowStart = len(prefix) - PrefixMax
				if windowStart < 0 {
					windowStart = 0
				} else if i := strings.IndexByte(prefix[windowStart:], '\n'); i >= 0 {
					windowStart += i + 1
				}
			}
		} else {
			windowStart = max(0, len(prefix)-PrefixMax)
		}
		step := Step{Prefix: prefix[windowStart:]}
		if withSuffix {
			step.Suffix = after[:min(len(after), Suffix)]
		}
		steps = append(steps, step)
	}
	return steps
}
