package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/lsp/frame"
)

// The test binary doubles as a fake agent (BENCH_FAKE_AGENT=inline|completion):
// it keeps its own copy of the document from the editor's changes, and
// suggests the next characters of the original file, which it is given.
// So a correct editor gets suggestions that are exactly what is typed next.
func TestMain(m *testing.M) {
	if mode := os.Getenv("BENCH_FAKE_AGENT"); mode != "" {
		if err := fakeAgent(mode, os.Getenv("BENCH_FAKE_TRUTH")); err != nil {
			fmt.Fprintln(os.Stderr, "fake agent:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeAgent(mode, truthPath string) error {
	truthBytes, err := os.ReadFile(truthPath)
	if err != nil {
		return err
	}
	truth := string(truthBytes)
	in := frame.NewReader(os.Stdin)
	send := func(v any) {
		b, _ := json.Marshal(v)
		os.Stdout.Write(frame.Append(nil, b))
	}
	var doc string
	type pos struct{ Line, Character int }
	offset := func(p pos) int {
		lineStart := 0
		for i := 0; i < p.Line; i++ {
			lineStart += strings.IndexByte(doc[lineStart:], '\n') + 1
		}
		return lineStart + byteOffsetUTF16(doc[lineStart:], p.Character)
	}
	for {
		body, _, err := in.Read()
		if err != nil {
			return nil // editor closed stdin
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		switch m.Method {
		case "initialize":
			caps := map[string]any{"textDocumentSync": 2, "inlineCompletionProvider": true}
			if mode == "completion" {
				caps = map[string]any{"textDocumentSync": map[string]int{"change": 1}, "completionProvider": map[string]any{}}
			}
			send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"capabilities": caps}})
		case "textDocument/didOpen":
			var p struct{ TextDocument struct{ Text string } }
			_ = json.Unmarshal(m.Params, &p)
			doc = p.TextDocument.Text
		case "textDocument/didChange":
			var p struct {
				ContentChanges []struct {
					Range *struct{ Start, End pos }
					Text  string
				}
			}
			_ = json.Unmarshal(m.Params, &p)
			for _, c := range p.ContentChanges {
				if c.Range == nil {
					doc = c.Text
					continue
				}
				s, e := offset(c.Range.Start), offset(c.Range.End)
				doc = doc[:s] + c.Text + doc[e:]
			}
		case "textDocument/didClose":
			if doc != truth {
				return fmt.Errorf("document at close differs from the original file:\n%q\n%q", doc, truth)
			}
		case methodInline, methodCompletion:
			var p struct{ Position pos }
			_ = json.Unmarshal(m.Params, &p)
			off := offset(p.Position)
			if !strings.HasPrefix(truth, doc[:off]) {
				return fmt.Errorf("document before the cursor is not the original's prefix")
			}
			// A perfect model: the part of the original still missing here.
			next := truncateRunes(truth[off:len(truth)-len(doc[off:])], 6)
			if mode == "completion" {
				// Like tabby-agent: the word before the cursor plus the completion.
				word := 0
				for word < p.Position.Character && word < off && isWordChar(doc[off-word-1:off-word]) {
					word++
				}
				r := map[string]any{"start": pos{p.Position.Line, p.Position.Character - word}, "end": p.Position}
				send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"isIncomplete": false, "items": []any{
					map[string]any{"label": "x", "textEdit": map[string]any{"newText": doc[off-word:off] + next, "range": r}},
				}}})
			} else {
				send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"items": []any{map[string]any{"insertText": next}}}})
			}
		case "shutdown":
			send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": nil})
		case "exit":
			return nil
		}
	}
}

const multibyteSample = `package p

// Greet says hello in a few scripts.
func Greet(name string) string {
	s := "héllo, " + name + " 😀"
	if name == "世界" {
		s += "!"
	}
	return s
}
`

func TestPlayAgainstFakeAgents(t *testing.T) {
	root := writeTree(t, map[string]string{"src/p/p.go": multibyteSample})
	traces, err := Build(GoSource(root), 3, TraceOptions{Count: 1, MinBody: 10, MaxBody: 1000, Typist: DefaultTypist})
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"inline", "completion"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("BENCH_FAKE_AGENT", mode)
			t.Setenv("BENCH_FAKE_TRUTH", filepath.Join(root, "src/p/p.go"))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			run, err := Play(ctx, Agent{Name: "fake-" + mode, Command: []string{exe}}, traces, RunConfig{
				Speed: 20, Settle: 200 * time.Millisecond, WorkDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			want := methodInline
			if mode == "completion" {
				want = methodCompletion
			}
			if run.Exit != "" {
				t.Errorf("fake agent exited with %s (see its stderr above the failure)", run.Exit)
			}
			if run.Method != want {
				t.Errorf("method %s, want %s", run.Method, want)
			}
			if len(run.Keys) != len(traces[0].Keys) {
				t.Fatalf("%d keys played, trace has %d", len(run.Keys), len(traces[0].Keys))
			}
			answered := 0
			for _, k := range run.Keys {
				if !k.Answered {
					continue
				}
				answered++
				// The fake suggests the original text: the editor's positions,
				// changes and range handling are right only if it matches.
				if !strings.HasPrefix(k.Expected, k.Text) {
					t.Fatalf("key %d: suggestion %q is not what was typed next (%q)", k.Index, k.Text, truncateRunes(k.Expected, 10))
				}
			}
			// The last key completes the body: nothing is left to suggest.
			if answered < len(run.Keys)-1 {
				t.Errorf("%d of %d keys answered; the fake answers every request", answered, len(run.Keys))
			}
			if run.Usage.PeakRSSKB <= 0 || run.Usage.Processes < 1 {
				t.Errorf("no /proc usage: %+v", run.Usage)
			}
			s := Summarize(run)
			if s.Shown > 0 && s.ExactMatch != 1 {
				t.Errorf("exact match %v of %d shown", s.ExactMatch, s.Shown)
			}
		})
	}
}

func TestPlayReportsAgentThatDoesNotStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Play(ctx, Agent{Name: "missing", Command: []string{filepath.Join(t.TempDir(), "no-such-agent")}}, nil, RunConfig{WorkDir: t.TempDir()})
	if err == nil {
		t.Fatal("no error for an agent that cannot start")
	}
	_, err = Play(ctx, Agent{Name: "false", Command: []string{"false"}}, nil, RunConfig{WorkDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "initialize") {
		t.Fatalf("err = %v, want an initialize error", err)
	}
}
