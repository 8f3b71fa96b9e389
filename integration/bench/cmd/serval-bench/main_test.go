package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// As BENCH_CMD_FAKE_AGENT=1 the test binary is a minimal inline agent: it
// asks the server (the oracle, through the bench's proxy) for a completion
// on every request and answers with the text it got.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_CMD_FAKE_AGENT") == "1" {
		if err := fakeAgent(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "fake agent:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeAgent(in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(out, "Content-Length: %d\r\n\r\n%s", len(b), b)
	}
	var doc string
	for {
		length := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return nil
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				length, _ = strconv.Atoi(v)
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil
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
			send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{
				"capabilities": map[string]any{"textDocumentSync": 1, "inlineCompletionProvider": true}}})
		case "textDocument/didOpen":
			var p struct{ TextDocument struct{ Text string } }
			_ = json.Unmarshal(m.Params, &p)
			doc = p.TextDocument.Text
		case "textDocument/didChange":
			var p struct{ ContentChanges []struct{ Text string } }
			_ = json.Unmarshal(m.Params, &p)
			doc = p.ContentChanges[len(p.ContentChanges)-1].Text // full sync
		case "textDocument/inlineCompletion":
			var p struct{ Position struct{ Line, Character int } }
			_ = json.Unmarshal(m.Params, &p)
			lines := strings.SplitAfter(doc, "\n")
			off := 0
			for i := 0; i < p.Position.Line; i++ {
				off += len(lines[i])
			}
			off += p.Position.Character // the test traces are ASCII
			text := askServer(doc[:off], doc[off:])
			send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"items": []any{map[string]any{"insertText": text}}}})
		case "shutdown":
			send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": nil})
		case "exit":
			return nil
		}
	}
}

func askServer(prefix, suffix string) string {
	body, _ := json.Marshal(map[string]any{"language": "go", "segments": map[string]string{"prefix": prefix, "suffix": suffix}})
	req, _ := http.NewRequest(http.MethodPost, os.Getenv("SERVAL_ENDPOINT")+"/v1/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+os.Getenv("SERVAL_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct{ Choices []struct{ Text string } }
	if json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Choices) == 0 {
		return ""
	}
	return out.Choices[0].Text
}

const goSource = `package p

func Sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}
`

func TestRunWithOracle(t *testing.T) {
	goroot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(goroot, "src", "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(goroot, "src", "p", "p.go"), []byte(goSource), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BENCH_CMD_FAKE_AGENT", "1")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"--oracle", "--oracle-delay", "1ms", "--agent", "fake=" + exe,
		"--go-traces", "1", "--python-traces", "0", "--goroot", goroot, "--min-body", "10",
		"--speed", "10", "--settle", "300ms", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, name := range []string{"bench.json", "bench.md", "latency-cdf.svg"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("no %s: %v", name, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Oracle bool
		Agents []struct {
			Agent      string
			Keystrokes int
			Answered   int
			Shown      int
			ExactMatch *float64 `json:"exact_match"`
			Requests   *float64 `json:"server_requests_per_100_keys"`
		}
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Oracle || len(res.Agents) != 1 {
		t.Fatalf("result: %s", data)
	}
	a := res.Agents[0]
	// The fake asks the server on every keystroke: the proxy must count them all.
	if a.Requests == nil || *a.Requests != 100 {
		t.Errorf("server requests per 100 keys = %s, want 100 (one per key)", fmtFigure(a.Requests))
	}
	// The oracle knows the file: what the fake relays is what is typed next.
	// Only answers that arrived before the next key are compared (shown); on
	// a loaded machine the serial fake can fall behind the typing, so none
	// may be shown, but every one that is must match.
	if a.Answered == 0 {
		t.Errorf("no keystroke answered")
	}
	if a.Shown > 0 && (a.ExactMatch == nil || *a.ExactMatch != 1) {
		t.Errorf("%d shown, exact match %s; want answers that all match", a.Shown, fmtFigure(a.ExactMatch))
	}
	if !strings.Contains(stdout.String(), "| figure | fake |") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
}

// fmtFigure prints a figure that JSON may have left null.
func fmtFigure(f *float64) string {
	if f == nil {
		return "null"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

func TestFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--oracle"}, "no --agent"},
		{[]string{"--agent", "a"}, "NAME=COMMAND"},
		{[]string{"--agent", "a=x", "--agent", "a=y", "--oracle"}, "given twice"},
		{[]string{"--agent", "a=x"}, "one of --server"},
		{[]string{"--agent", "a=x", "--oracle", "--server", "http://x"}, "one of --server"},
		{[]string{"--agent", "a=x", "--serval", "s"}, "--serval needs --model"},
		{[]string{"--agent", "a=x", "--oracle", "--oracle-text"}, "not --oracle"},
		{[]string{"--agent", "a=x", "--oracle", "--go-traces", "0", "--python-traces", "0"}, "at least one trace"},
		{[]string{"--agent", "a=x", "--oracle", "--speed", "0"}, "--speed"},
	} {
		_, err := parseFlags(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
}
