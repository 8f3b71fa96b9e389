package context_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/lspclient"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
)

func bounded(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestAgentSendsWorkspaceContext runs the real serval-agent over stdio
// against a recording server: a definition from another file of the
// workspace reaches the completion request, a file written on disk (not
// through the editor) is picked up, and nothing from an ignored or secret
// file, nor from an open .env document, is ever sent.
func TestAgentSendsWorkspaceContext(t *testing.T) {
	root, mainPath, mainText, cursor := workspace(t)
	rec := newRecorder(t)
	c := startAgent(t, root, rec.URL)

	uri := "file://" + mainPath
	c.Notify(bounded(t, 10*time.Second), "textDocument/didOpen", map[string]any{
		"textDocument": map[string]any{"uri": uri, "languageId": "go", "version": 1, "text": mainText}})
	before := mainText[:cursor]
	pos := protocol.Position{Line: uint32(strings.Count(before, "\n")), Character: uint32(len(before) - strings.LastIndex(before, "\n") - 1)}
	version := 1

	complete := func() string {
		t.Helper()
		version++
		body := askCompletion(t, c, rec, uri, version, pos)
		if body == "" {
			t.Fatal("no completion request reached the server")
		}
		return body
	}

	// The index fills in the background; completions are answered meanwhile.
	// Each try's context sources have the editor's 50 ms: under load one
	// can miss it, so the bound is in time, not in tries.
	var body string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		body = complete()
		if strings.Contains(body, "func computeTotal(") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkBody(t, body)

	// A file written by a tool, not the editor.
	write(t, root, "cart/generated.go", "package cart\n\n// applyDiscountRules is generated.\nfunc applyDiscountRules(total float64) float64 { return total }\n")
	version++
	c.Notify(bounded(t, 10*time.Second), "textDocument/didChange", map[string]any{
		"textDocument": map[string]any{"uri": uri, "version": version},
		"contentChanges": []any{map[string]any{
			"range": protocol.Range{Start: pos, End: pos}, "text": "applyDiscountRules("}}})
	pos.Character += uint32(len("applyDiscountRules("))
	found := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if strings.Contains(complete(), "func applyDiscountRules(total float64) float64") {
			found = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !found {
		t.Error("a definition written on disk never reached a request")
	}
	// A secret-looking document open in the editor gets no request at all.
	envPath := write(t, root, ".env.local", "API_TOKEN=ENV-FILE-SECRET\n")
	envURI := "file://" + envPath
	c.Notify(bounded(t, 10*time.Second), "textDocument/didOpen", map[string]any{
		"textDocument": map[string]any{"uri": envURI, "languageId": "dotenv", "version": 1, "text": "API_TOKEN=ENV-FILE-SECRET\n"}})
	var envRes lsp.InlineCompletionList
	if err := c.Call(bounded(t, 30*time.Second), lsp.MethodInlineCompletion, map[string]any{
		"textDocument": map[string]any{"uri": envURI}, "position": protocol.Position{Line: 0, Character: 10}, "context": map[string]any{"triggerKind": 1},
	}, &envRes); err != nil {
		t.Fatal(err)
	}
	if len(envRes.Items) != 0 {
		t.Errorf("ghost text offered in a secret file: %+v", envRes.Items)
	}
	for i, b := range rec.all() {
		if strings.Contains(b, "ENV-FILE-SECRET") {
			t.Errorf("request %d contains the .env file's content", i)
		}
		for _, leak := range []string{"IGNORED-FILE-CONTENT", "SECRET-FILE-CONTENT", "func applyCoupon", "func loadKey"} {
			if strings.Contains(b, leak) {
				t.Errorf("request %d contains %q from an ignored or secret file", i, leak)
			}
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			t.Errorf("request %d is not JSON: %v", i, err)
		}
	}
}

// startAgent starts the real serval-agent over stdio with root as its
// workspace folder and endpoint as its server, and initializes it.
func startAgent(t *testing.T, root, endpoint string) *lspclient.Client {
	t.Helper()
	home := t.TempDir()
	c, err := lspclient.Start(context.Background(), servaltest.AgentBinary(t), lspclient.Options{
		Args: []string{"--stdio", "--config", filepath.Join(home, "agent.toml"), "--log-level", "debug"},
		Env:  []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "SERVAL_ENDPOINT=" + endpoint, "SERVAL_TOKEN=token"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Shutdown(bounded(t, 10*time.Second)); err != nil {
			t.Errorf("agent shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("agent stderr:\n%s", c.Stderr())
		}
	})
	var initRes lsp.InitializeResult
	rootURI := "file://" + root
	if err := c.Call(bounded(t, 10*time.Second), "initialize", map[string]any{
		"processId":        os.Getpid(),
		"rootUri":          rootURI,
		"workspaceFolders": []map[string]any{{"uri": rootURI, "name": filepath.Base(root)}},
		"capabilities": map[string]any{
			"general":      map[string]any{"positionEncodings": []string{"utf-16"}},
			"textDocument": map[string]any{"inlineCompletion": map[string]any{}},
		},
	}, &initRes); err != nil {
		t.Fatal(err)
	}
	c.Notify(bounded(t, 10*time.Second), "initialized", map[string]any{})
	return c
}

// askCompletion asks the agent for ghost text at pos after typing a space
// at the start of the document's second line as its version (so that no
// cache can answer) and returns the body of the request the recorder saw
// for it, "" when none reached it.
func askCompletion(t *testing.T, c *lspclient.Client, rec *recorder, uri string, version int, pos protocol.Position) string {
	t.Helper()
	c.Notify(bounded(t, 10*time.Second), "textDocument/didChange", map[string]any{
		"textDocument": map[string]any{"uri": uri, "version": version},
		"contentChanges": []any{map[string]any{
			"range": protocol.Range{Start: protocol.Position{Line: 1}, End: protocol.Position{Line: 1}}, "text": " "}}})
	n := len(rec.all())
	var res lsp.InlineCompletionList
	if err := c.Call(bounded(t, 30*time.Second), lsp.MethodInlineCompletion, map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": pos, "context": map[string]any{"triggerKind": 1},
	}, &res); err != nil {
		t.Fatal(err)
	}
	if bodies := rec.all(); len(bodies) > n {
		return bodies[len(bodies)-1]
	}
	return ""
}
