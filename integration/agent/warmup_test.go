package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
)

const (
	reusedMetric    = "serval_prompt_tokens_reused_total"
	evaluatedMetric = "serval_prompt_tokens_evaluated_total"
	// completionSecondsMetric is the time the server spent answering completion requests.
	completionSecondsMetric = `serval_http_request_duration_seconds_sum{code="200",route="POST /v1/completions"}`
)

// focus sends serval/didFocus: the editor focused uri with the cursor at pos.
func (s *agentSession) focus(uri string, pos protocol.Position) {
	s.t.Helper()
	s.c.Notify(bounded(s.t, 10*time.Second), lsp.MethodServalDidFocus, map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": pos})
}

// settled waits until the server has answered n completion requests (warm-ups
// included) and no slot is busy.
func settled(t testing.TB, srv *servaltest.Server, n float64) {
	t.Helper()
	waitMetric(t, srv, completionsMetric, n)
	for i := 0; i < 600 && metric(t, srv, "serval_slots_busy") != 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// computeDecl declares the function bigFile's lines call, so that a
// completion there carries a declaration from the document itself (as in
// any real file) and not only its windows.
const computeDecl = "\n// compute mixes input with k.\nfunc compute(input, k int) int {\n\treturn input*31 + k\n}\n"

// TestWarmupBeforeFirstKeystroke: the real agent and server. Opening a
// 2,000-line file and focusing a place in it makes the agent warm the
// server's prompt cache, so the first completion there reuses the whole
// prompt (the server's prompt-reuse metric says so); without the focus
// notification the first completion at another place evaluates its prompt.
// The place calls a function the file declares: the document's
// declarations reach the context source's index a moment after it is
// opened, and a warm-up sent before them built a prompt the completion's
// did not share.
func TestWarmupBeforeFirstKeystroke(t *testing.T) {
	// No rate limit: the test polls /metrics with the agent's token.
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "4", "--rate-limit", "-1"}})
	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL, "SERVAL_TOKEN="+srv.Token)
	a.initialize(map[string]any{"completion": map[string]any{"debounce": map[string]any{"mode": "fixed", "interval": 10}}})
	a.waitStatus("ready", 30*time.Second)

	text, blanks := bigFile(2000)
	text += computeDecl
	uri := "file://" + filepath.Join(t.TempDir(), "big.go")
	a.open(uri, "go", text)
	here := protocol.Position{Line: uint32(blanks[len(blanks)*3/4]), Character: 1}
	a.focus(uri, here)
	settled(t, srv, 1) // the warm-up's request

	reused, evaluated := metric(t, srv, reusedMetric), metric(t, srv, evaluatedMetric)
	a.inline(uri, here, 1)
	settled(t, srv, 2)
	dr, de := metric(t, srv, reusedMetric)-reused, metric(t, srv, evaluatedMetric)-evaluated
	t.Logf("first completion after the warm-up: %.0f prompt tokens reused, %.0f evaluated", dr, de)
	if dr < 100 || de > 2 {
		t.Errorf("after a warm-up the first completion reused %.0f and evaluated %.0f prompt tokens; want all but the last reused", dr, de)
	}

	// A jump elsewhere without a focus notification: nothing is warm there.
	there := protocol.Position{Line: uint32(blanks[len(blanks)/4]), Character: 1}
	reused, evaluated = metric(t, srv, reusedMetric), metric(t, srv, evaluatedMetric)
	a.inline(uri, there, 1)
	settled(t, srv, 3)
	dr, de = metric(t, srv, reusedMetric)-reused, metric(t, srv, evaluatedMetric)-evaluated
	if de < 100 {
		t.Errorf("a cold place: %.0f reused, %.0f evaluated; the control should evaluate its prompt", dr, de)
	}
}

// BenchmarkFirstSuggestion is issue 29's measurement: the first suggestion
// after opening a 2,000-line Go file (the start of the Go distribution's
// net/http/server.go) and after jumping to another function, with and
// without the warm-up (serval/didFocus, then the moment a user looks before
// typing), against a warm keystroke (two characters typed where the last
// suggestion was asked). Real agent, real server; each measured request
// must reach the server, and the prompt tokens it evaluated are reported.
// BENCH_WARMUP_SHAPE (0.5b, 1.5b) serves a model of that real architecture
// (ggufgen's cache), BENCH_WARMUP_THREADS its threads (default 2).
//
//	cd integration/agent && SERVAL_BIN_DIR=$PWD/../../bin BENCH_WARMUP_SHAPE=0.5b \
//	  go test -run '^$' -bench '^BenchmarkFirstSuggestion$' -benchtime 1x .
func BenchmarkFirstSuggestion(b *testing.B) {
	// No rate limit: the benchmark polls /metrics with the agent's token, and the
	// server's per-token limit then refused one of the agent's requests now and then.
	opts := servaltest.Options{Args: []string{"--max-tokens", "16", "--threads", envOr("BENCH_WARMUP_THREADS", "2"), "--ctx-size", "4096", "--rate-limit", "-1"}}
	if shape := os.Getenv("BENCH_WARMUP_SHAPE"); shape != "" {
		path, err := ggufgen.CachedShape(ggufgen.ShapeOptions{Shape: shape, Type: ggufgen.Q8_0})
		if err != nil {
			b.Fatal(err)
		}
		opts.Model = path
	}
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "net", "http", "server.go"))
	if err != nil {
		b.Skip(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	lines = lines[:min(len(lines), 2000)]
	text := strings.Join(lines, "")
	// Places inside function bodies: the end of a "\t\treturn" line.
	var places []protocol.Position
	for i, l := range lines {
		if strings.HasPrefix(l, "\t\treturn ") {
			places = append(places, protocol.Position{Line: uint32(i), Character: uint32(len(strings.TrimRight(l, "\n")))})
		}
	}
	srv := servaltest.Start(b, opts)
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("warmup=%v", warm), func(b *testing.B) {
			for range b.N {
				a := startAgent(b, "SERVAL_ENDPOINT="+srv.URL, "SERVAL_TOKEN="+srv.Token)
				a.initialize(map[string]any{"completion": map[string]any{"warmup": warm, "timeout": 300000}})
				a.waitStatus("ready", 30*time.Second)
				uri := "file://" + filepath.Join(b.TempDir(), fmt.Sprintf("server%v.go", warm))
				a.open(uri, "go", text)
				done := metric(b, srv, completionsMetric)
				measure := func(what string, pos protocol.Position) {
					evaluated := metric(b, srv, evaluatedMetric)
					served := metric(b, srv, completionSecondsMetric)
					start := time.Now()
					var res lsp.InlineCompletionList
					if err := a.c.Call(bounded(b, 10*time.Minute), lsp.MethodInlineCompletion, inlineParams(uri, pos, 1), &res); err != nil {
						b.Fatalf("%s: %v", what, err)
					}
					d := time.Since(start)
					done++
					settled(b, srv, done)
					if n := metric(b, srv, completionsMetric); n != done {
						b.Fatalf("%s: %.0f completion requests at the server, want %.0f", what, n, done)
					}
					b.ReportMetric(float64(d.Milliseconds()), "ms-"+what)
					b.ReportMetric(1000*(metric(b, srv, completionSecondsMetric)-served), "server-ms-"+what)
					b.ReportMetric(metric(b, srv, evaluatedMetric)-evaluated, "evaluated-"+what)
				}
				first := func(what string, pos protocol.Position) {
					a.focus(uri, pos)
					if warm {
						done++
						settled(b, srv, done) // the user looks before typing; the warm-up has the time
					}
					measure(what, pos)
				}
				first("open", places[len(places)*3/4])
				jump := places[len(places)/4]
				first("jump", jump)
				a.insert(uri, 2, jump, "zq")
				measure("keystroke", protocol.Position{Line: jump.Line, Character: jump.Character + 2})
			}
		})
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
