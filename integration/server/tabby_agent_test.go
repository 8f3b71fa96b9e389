package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// tabbyAgentCLI finds tabby-agent@1.5.0's cli.js, installed by
// `make tabby-agent` into <repo>/.cache/npm-tabby. Missing, the test skips,
// or fails when SERVAL_REQUIRE_TABBY=1 (make test sets it).
func tabbyAgentCLI(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SERVAL_TABBY_AGENT")
	if p == "" {
		p = filepath.Join(llamalib.RepoRoot(), ".cache", "npm-tabby", "node_modules", "tabby-agent", "dist", "cli.js")
	}
	_, err := os.Stat(p)
	_, nodeErr := exec.LookPath("node")
	if err != nil || nodeErr != nil {
		msg := fmt.Sprintf("tabby-agent@1.5.0 or node not found (%v, %v): run `make tabby-agent`", err, nodeErr)
		if os.Getenv("SERVAL_REQUIRE_TABBY") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// lspConn is a minimal LSP client over a child's stdio.
type lspConn struct {
	t      *testing.T
	w      io.Writer
	wmu    sync.Mutex
	nextID int

	mu      sync.Mutex
	pending map[int]chan json.RawMessage
}

type lspMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

func (c *lspConn) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	fmt.Fprintf(c.w, "Content-Length: %d\r\n\r\n%s", len(b), b)
}

// readLoop reads messages until r ends: responses go to their waiters,
// requests from the server get an empty result.
func (c *lspConn) readLoop(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		length := -1
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length:"); ok {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if length < 0 {
			return
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		var m lspMessage
		if json.Unmarshal(body, &m) != nil {
			continue
		}
		switch {
		case m.Method != "" && m.ID != nil: // a request to the client
			c.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": nil})
		case m.Method == "" && m.ID != nil:
			id, _ := strconv.Atoi(string(m.ID))
			c.mu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ch != nil {
				if m.Error != nil {
					ch <- json.RawMessage(`{"error":` + string(m.Error) + `}`)
				} else {
					ch <- m.Result
				}
			}
		}
	}
}

func (c *lspConn) call(ctx context.Context, method string, params any) json.RawMessage {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan json.RawMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	c.write(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
		c.t.Fatalf("%s: no answer: %v", method, ctx.Err())
		return nil
	}
}

func (c *lspConn) notify(method string, params any) {
	c.write(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// TestTabbyAgentPeer runs the real tabby-agent@1.5.0 (npm) as an LSP server
// against serval and gets a completion through textDocument/completion.
func TestTabbyAgentPeer(t *testing.T) {
	cli := tabbyAgentCLI(t)
	s := servaltest.Start(t, servaltest.Options{})

	home := t.TempDir()
	cfgDir := filepath.Join(home, ".tabby-client", "agent")
	os.MkdirAll(cfgDir, 0o755)
	config := fmt.Sprintf("[server]\nendpoint = %q\ntoken = %q\n\n[anonymousUsageTracking]\ndisable = true\n", s.URL, s.Token)
	if err := os.WriteFile(filepath.Join(cfgDir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", cli, "--lsp", "--stdio")
	cmd.Env = append(os.Environ(), "HOME="+home)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		<-readDone
		cmd.Wait()
	}()
	c := &lspConn{t: t, w: stdin, pending: map[int]chan json.RawMessage{}}
	go func() {
		defer close(readDone)
		c.readLoop(stdout)
	}()

	initRes := c.call(ctx, "initialize", map[string]any{
		"processId":    os.Getpid(),
		"rootUri":      nil,
		"capabilities": map[string]any{"textDocument": map[string]any{"completion": map[string]any{}}},
		"clientInfo":   map[string]any{"name": "serval-peer-test"},
	})
	if !strings.Contains(string(initRes), "tabby-agent") {
		t.Fatalf("initialize: %s", initRes)
	}
	c.notify("initialized", map[string]any{})

	uri := "file://" + filepath.Join(home, "project", "main.py")
	text := "import os\n\ndef read_config(path):\n    with open(path) as f:\n        "
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "languageId": "python", "version": 1, "text": text,
	}})
	pos := map[string]any{"line": 4, "character": 8}

	// The agent answers an empty incomplete list while it is still
	// connecting, and its post-processing may drop a (random model's)
	// completion; ask a bounded number of times.
	var items []struct {
		Label    string `json:"label"`
		TextEdit struct {
			NewText string `json:"newText"`
		} `json:"textEdit"`
		Data struct {
			CompletionID string `json:"completionId"`
		} `json:"data"`
	}
	var last json.RawMessage
	for attempt := range 20 {
		last = c.call(ctx, "textDocument/completion", map[string]any{
			"textDocument": map[string]any{"uri": uri},
			"position":     pos,
			"context":      map[string]any{"triggerKind": 1},
		})
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		json.Unmarshal(last, &list)
		if len(list.Items) > 0 {
			json.Unmarshal(last, &struct {
				Items any `json:"items"`
			}{&items})
			break
		}
		time.Sleep(time.Duration(200+100*attempt) * time.Millisecond)
	}
	// The server counts a request once its handler has returned, which can
	// be just after tabby-agent has the answer: wait for the count, bounded.
	const servedMetric = `serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"}`
	served := metric(t, s, servedMetric)
	for deadline := time.Now().Add(time.Minute); served == 0 && len(items) > 0 && time.Now().Before(deadline); served = metric(t, s, servedMetric) {
		time.Sleep(20 * time.Millisecond)
	}
	if served == 0 {
		t.Fatalf("tabby-agent never reached serval's /v1/completions; last answer %s\nagent stderr:\n%s\nserver:\n%s", last, stderr.String(), s.Logs())
	}
	if len(items) == 0 {
		t.Fatalf("tabby-agent returned no completion items (serval answered %v completions); last answer %s", served, last)
	}
	if !strings.HasPrefix(items[0].Data.CompletionID, "cmpl-") || items[0].TextEdit.NewText == "" {
		t.Fatalf("item %+v", items[0])
	}
	t.Logf("tabby-agent completion: %q (id %s)", items[0].TextEdit.NewText, items[0].Data.CompletionID)
}

// syncBuffer collects the agent's stderr while the process runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
