// Package agent_test drives the real serval-agent binary over stdio with the
// test LSP client, against the real serval server (generated test model)
// and, for failure cases, against in-process stand-ins.
package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/lspclient"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
	"github.com/servalhq/serval/server/api"
)

// agentSession is a spawned serval-agent with its client.
type agentSession struct {
	t      testing.TB
	c      *lspclient.Client
	config string // its agent.toml
}

// startAgent spawns serval-agent with a private HOME and config file.
func startAgent(t testing.TB, env ...string) *agentSession {
	t.Helper()
	home := t.TempDir()
	cfg := filepath.Join(home, "agent.toml")
	full := append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, env...)
	c, err := lspclient.Start(context.Background(), servaltest.AgentBinary(t), lspclient.Options{
		Args: []string{"--stdio", "--config", cfg, "--log-level", "debug"}, Env: full})
	if err != nil {
		t.Fatal(err)
	}
	s := &agentSession{t: t, c: c, config: cfg}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("agent shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("agent stderr:\n%s", c.Stderr())
		}
	})
	return s
}

func bounded(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (s *agentSession) initialize(initOptions any) lsp.InitializeResult {
	s.t.Helper()
	var res lsp.InitializeResult
	params := map[string]any{
		"processId": os.Getpid(),
		"capabilities": map[string]any{
			"general":      map[string]any{"positionEncodings": []string{"utf-16"}},
			"textDocument": map[string]any{"inlineCompletion": map[string]any{}},
		},
		"initializationOptions": initOptions,
	}
	if err := s.c.Call(bounded(s.t, 10*time.Second), "initialize", params, &res); err != nil {
		s.t.Fatal(err)
	}
	s.c.Notify(bounded(s.t, 10*time.Second), "initialized", map[string]any{})
	return res
}

// waitStatus waits for a serval/status notification of kind, after skip earlier ones.
func (s *agentSession) waitStatus(kind string, d time.Duration) lsp.StatusParams {
	s.t.Helper()
	m, err := s.c.WaitFor(bounded(s.t, d), lsp.MethodServalStatus, 0, func(p json.RawMessage) bool {
		var st lsp.StatusParams
		return json.Unmarshal(p, &st) == nil && st.Status == kind
	})
	if err != nil {
		s.t.Fatalf("status %s: %v (got %d status notifications)", kind, err, len(s.c.Received(lsp.MethodServalStatus)))
	}
	var st lsp.StatusParams
	json.Unmarshal(m.Params, &st)
	return st
}

// statusCount is how many serval/status notifications of kind arrived.
func (s *agentSession) statusCount(kind string) int {
	n := 0
	for _, m := range s.c.Received(lsp.MethodServalStatus) {
		var st lsp.StatusParams
		if json.Unmarshal(m.Params, &st) == nil && st.Status == kind {
			n++
		}
	}
	return n
}

func (s *agentSession) open(uri, lang, text string) {
	s.t.Helper()
	s.c.Notify(bounded(s.t, 10*time.Second), "textDocument/didOpen", map[string]any{
		"textDocument": map[string]any{"uri": uri, "languageId": lang, "version": 1, "text": text}})
}

func (s *agentSession) insert(uri string, version int, pos protocol.Position, text string) {
	s.t.Helper()
	s.c.Notify(bounded(s.t, 10*time.Second), "textDocument/didChange", map[string]any{
		"textDocument":   map[string]any{"uri": uri, "version": version},
		"contentChanges": []any{map[string]any{"range": protocol.Range{Start: pos, End: pos}, "text": text}}})
}

func inlineParams(uri string, pos protocol.Position, trigger int) map[string]any {
	return map[string]any{"textDocument": map[string]any{"uri": uri}, "position": pos, "context": map[string]any{"triggerKind": trigger}}
}

func (s *agentSession) inline(uri string, pos protocol.Position, trigger int) lsp.InlineCompletionList {
	s.t.Helper()
	var res lsp.InlineCompletionList
	if err := s.c.Call(bounded(s.t, 30*time.Second), lsp.MethodInlineCompletion, inlineParams(uri, pos, trigger), &res); err != nil {
		s.t.Fatal(err)
	}
	return res
}

// metric sums the samples of a Prometheus metric whose line starts with prefix.
func metric(t testing.TB, srv *servaltest.Server, prefix string) float64 {
	t.Helper()
	v, err := srv.Metric(bounded(t, 30*time.Second), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitMetric waits, up to a minute, until metric(prefix) reaches atLeast and
// returns its last value. The server records a request once its handler has
// returned, which can be just after the client has its answer.
func waitMetric(t testing.TB, srv *servaltest.Server, prefix string, atLeast float64) float64 {
	t.Helper()
	v := metric(t, srv, prefix)
	for deadline := time.Now().Add(time.Minute); v < atLeast && time.Now().Before(deadline); v = metric(t, srv, prefix) {
		time.Sleep(20 * time.Millisecond)
	}
	return v
}

const (
	completionsMetric = `serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"}`
	eventsMetric      = `serval_http_request_duration_seconds_count{code="200",route="POST /v1/events"}`
	cancelledMetric   = `serval_completions_total{stop_reason="cancelled"}`
)

// settledCompletions waits until the server has finished every completion
// request the agent started so far (a superseded request is aborted by the
// agent but may still be counted by the server a moment later), then
// returns the count of finished completion requests.
func settledCompletions(t *testing.T, srv *servaltest.Server) float64 {
	t.Helper()
	last := metric(t, srv, completionsMetric)
	for i := 0; i < 600; i++ {
		time.Sleep(50 * time.Millisecond)
		n := metric(t, srv, completionsMetric)
		if n == last && metric(t, srv, "serval_slots_busy") == 0 {
			return n
		}
		last = n
	}
	t.Fatalf("the server kept finishing completion requests for 30 s")
	return 0
}

// holdCompletionsUntil puts a proxy in front of target that holds every
// completion request until one whose body contains until arrives (or
// release is called), then forwards all of them (those still wanted) and
// everything after. It returns the proxy's URL and release.
func holdCompletionsUntil(t *testing.T, target, until string) (string, func()) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	forward.FlushInterval = -1 // streamed answers pass through as they come
	open := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(open) }) }
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/completions" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(until)) {
				release()
			}
			select {
			case <-open:
			case <-r.Context().Done():
				return
			}
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p.URL, release
}

// TestScriptedTypingAgainstRealServer is the end-to-end run: real serval on
// the generated model, real serval-agent over stdio.
func TestScriptedTypingAgainstRealServer(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "24"}})
	// Every keystroke's request but the last must be superseded by the
	// next one. Typing is fast, but on a loaded machine a pause between two
	// keystrokes can outlast a whole completion (seen: 'keystroke 11: a
	// superseded request answered 1 items'), so the server's answers are
	// held until the request for the whole typed line has arrived: by then
	// the agent has superseded every earlier one.
	const line = "def total(items):"
	endpoint, release := holdCompletionsUntil(t, srv.URL, line)
	a := startAgent(t, "SERVAL_ENDPOINT="+endpoint, "SERVAL_TOKEN="+srv.Token)
	res := a.initialize(map[string]any{"completion": map[string]any{"debounce": map[string]any{"mode": "fixed", "interval": 10}}})
	if res.Capabilities.InlineCompletionProvider == nil {
		t.Fatalf("no inline completion: %+v", res.Capabilities)
	}
	a.waitStatus("ready", 30*time.Second)

	dir := t.TempDir()
	uri := "file://" + filepath.Join(dir, "main.py")
	a.open(uri, "python", "import os\n\n\n")
	// Type a function header keystroke by keystroke, asking for a completion
	// after each one like an editor does (without waiting for the answers).
	var waits []func() error
	var answers []*lsp.InlineCompletionList
	for i, ch := range line {
		a.insert(uri, 2+i, protocol.Position{Line: 2, Character: uint32(i)}, string(ch))
		var r lsp.InlineCompletionList
		answers = append(answers, &r)
		_, wait := a.c.CallAsync(bounded(t, 60*time.Second), lsp.MethodInlineCompletion,
			inlineParams(uri, protocol.Position{Line: 2, Character: uint32(i + 1)}, 2), &r)
		waits = append(waits, wait)
	}
	for i, w := range waits {
		if err := w(); err != nil {
			t.Fatalf("keystroke %d: %v", i, err)
		}
	}
	release() // already open unless the last keystroke's request never came
	for i, r := range answers[:len(answers)-1] {
		if len(r.Items) != 0 {
			t.Errorf("keystroke %d: a superseded request answered %d items", i, len(r.Items))
		}
	}
	// Ghost text comes back: at the end of the line, then on a new line
	// (random model weights: some positions may be filtered away; try a few).
	version := 2 + len(line)
	a.insert(uri, version, protocol.Position{Line: 2, Character: uint32(len(line))}, "\n    ")
	version++
	pos := protocol.Position{Line: 3, Character: 4}
	var item lsp.InlineCompletionItem
	for attempt := 0; attempt < 8 && item.InsertText == ""; attempt++ {
		r := a.inline(uri, pos, 1)
		if len(r.Items) > 0 {
			item = r.Items[0]
			break
		}
		a.insert(uri, version, pos, "x")
		version++
		pos.Character++
	}
	if item.InsertText == "" {
		t.Fatal("no ghost text came back from the real server")
	}
	if item.Range == nil || item.Range.Start != pos || item.Command == nil || item.Command.Command != lsp.CommandAccept {
		t.Fatalf("item %+v", item)
	}

	// The editor shows it and the user types along it: answered from the
	// cache, with no HTTP request.
	events := metric(t, srv, eventsMetric)
	a.c.Notify(bounded(t, 5*time.Second), lsp.MethodDidShowCompletion, lsp.DidShowCompletionParams{Item: item})
	before := settledCompletions(t, srv)
	typed := string([]rune(item.InsertText)[:min(2, len([]rune(item.InsertText))-1)])
	a.insert(uri, version, pos, typed)
	version++
	after := protocol.Position{Line: pos.Line, Character: pos.Character + uint32(lsp.UnitsInString(typed, lsp.UTF16))}
	if strings.Contains(typed, "\n") {
		t.Skipf("suggestion starts with a line break (%q); typed-ahead checked in unit tests", typed)
	}
	// The suggestion came from an explicit request, so it may hold other
	// candidates that go on with the typed text too; the one typed along
	// comes first.
	r := a.inline(uri, after, 2)
	if len(r.Items) < 1 || r.Items[0].InsertText != strings.TrimPrefix(item.InsertText, typed) {
		t.Fatalf("typing along %q: got %+v, want the rest of %q", typed, r.Items, item.InsertText)
	}
	if got := metric(t, srv, completionsMetric); got != before {
		t.Fatalf("typing along the suggestion made %v HTTP requests", got-before)
	}

	// Accepting it reports view and select to the server.
	cmd := r.Items[0].Command
	if err := a.c.Call(bounded(t, 10*time.Second), "workspace/executeCommand", map[string]any{"command": cmd.Command, "arguments": cmd.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	if got := waitMetric(t, srv, eventsMetric, events+2); got != events+2 {
		t.Fatalf("events: %v new, want view and select", got-events)
	}
	stats, err := exec.Command(servaltest.Binary(t), "stats", "--data-dir", srv.DataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("serval stats: %v\n%s", err, stats)
	}
	if !strings.Contains(string(stats), "python") {
		t.Errorf("serval stats does not show the python completion:\n%s", stats)
	}
}

// TestSupersededRequestStopsGeneration checks that a newer request aborts
// the older one's HTTP request and the server stops generating.
func TestSupersededRequestStopsGeneration(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "3800"}})
	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL, "SERVAL_TOKEN="+srv.Token)
	// Plain JSON (no streaming, so no early cut) and long generations.
	a.initialize(map[string]any{"completion": map[string]any{"stream": false, "timeout": 60000}})
	a.waitStatus("ready", 30*time.Second)
	uri := "file:///tmp/long.go"
	a.open(uri, "go", "package main\n\nfunc main() {\n\t\n}\n")
	for attempt := 0; attempt < 5; attempt++ {
		cancelled := metric(t, srv, cancelledMetric)
		var first lsp.InlineCompletionList
		_, wait := a.c.CallAsync(bounded(t, 60*time.Second), lsp.MethodInlineCompletion,
			inlineParams(uri, protocol.Position{Line: 3, Character: 1}, 1), &first)
		// Wait until the server is generating it.
		busy := false
		for i := 0; i < 500 && !busy; i++ {
			h, err := srv.Client.Health(bounded(t, 5*time.Second))
			busy = err == nil && h.Slots != nil && h.Slots.Busy > 0
			if !busy {
				time.Sleep(2 * time.Millisecond)
			}
		}
		if !busy {
			wait()
			continue // it finished before we looked; try again
		}
		second := a.c.Call(bounded(t, 60*time.Second), lsp.MethodInlineCompletion,
			inlineParams(uri, protocol.Position{Line: 2, Character: 0}, 1), nil)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if second != nil {
			t.Fatal(second)
		}
		if len(first.Items) != 0 {
			continue // it had finished before the second arrived
		}
		if got := waitMetric(t, srv, cancelledMetric, cancelled+1); got <= cancelled {
			t.Fatalf("the superseded request did not stop generation (cancelled %v -> %v)", cancelled, got)
		}
		return
	}
	t.Fatal("could not catch a request in flight in 5 attempts")
}

// TestStatusFollowsServerRestart kills the server and starts it again on the
// same port: the status goes to disconnected and back to ready by itself.
func TestStatusFollowsServerRestart(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL, "SERVAL_TOKEN="+srv.Token)
	a.initialize(nil)
	a.waitStatus("ready", 30*time.Second)
	uri := "file:///tmp/r.go"
	a.open(uri, "go", "package r\n\nvar x = \n")
	srv.Kill()
	// The next completion finds the server gone; it answers empty at once.
	start := time.Now()
	r := a.inline(uri, protocol.Position{Line: 2, Character: 8}, 1)
	if len(r.Items) != 0 {
		t.Fatalf("items with the server down: %+v", r)
	}
	a.waitStatus("disconnected", 30*time.Second)
	t.Logf("disconnected noticed %v after the kill", time.Since(start))
	r = a.inline(uri, protocol.Position{Line: 2, Character: 8}, 1)
	if len(r.Items) != 0 {
		t.Fatal("items while disconnected")
	}
	seen := len(a.c.Received(lsp.MethodServalStatus))
	u, _ := url.Parse(srv.URL)
	back := servaltest.Start(t, servaltest.Options{Args: []string{"--port", u.Port()}, DataDir: srv.DataDir})
	answering := time.Now() // the restarted server answers /v1/health from here on
	_, err := a.c.WaitFor(bounded(t, 60*time.Second), lsp.MethodServalStatus, seen, func(p json.RawMessage) bool {
		var st lsp.StatusParams
		return json.Unmarshal(p, &st) == nil && st.Status == "ready"
	})
	if err != nil {
		t.Fatalf("status did not come back to ready: %v", err)
	}
	// Completions resume: the next request reaches the restarted server
	// and is answered. The delay is reported, not asserted (shared machines).
	// The server counts a request once its handler returns, which can be
	// just after the agent has its answer: wait for the count, bounded.
	a.inline(uri, protocol.Position{Line: 2, Character: 8}, 1)
	if got := waitMetric(t, back, completionsMetric, 1); got < 1 {
		t.Fatalf("no completion answered by the restarted server (%v)", got)
	}
	t.Logf("ready and completing %v after the restarted server answered", time.Since(answering))
	didChange := a.c.Received(lsp.MethodDidChangeStatus)
	if len(didChange) < 3 {
		t.Fatalf("didChangeStatus notifications: %d", len(didChange))
	}
}

func TestUnauthorizedStatusSaysHowToSetTheToken(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL, "SERVAL_TOKEN=srv_wrong")
	a.initialize(nil)
	st := a.waitStatus("unauthorized", 30*time.Second)
	if !strings.Contains(st.Message, "token") {
		t.Fatalf("unauthorized message %q", st.Message)
	}
	// Fixing the token in the watched config file makes it ready.
	os.WriteFile(a.config, []byte(fmt.Sprintf("[server]\ntoken = %q\n", srv.Token)), 0o600)
	// The environment outranks the file, so clear it through the client layer instead.
	a.c.Notify(bounded(t, 5*time.Second), "workspace/didChangeConfiguration",
		map[string]any{"settings": map[string]any{"serval": map[string]any{"server": map[string]any{"token": srv.Token}}}})
	a.waitStatus("ready", 30*time.Second)
	_ = api.EventView
}
