package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Agent is an LSP completion agent to measure: a name for the report and
// the command that starts it speaking LSP over stdio.
type Agent struct {
	Name    string
	Command []string
}

// RunConfig is how the editor plays the traces.
type RunConfig struct {
	// Endpoint and Token are what the agent is told to use (the bench's
	// counting proxy in front of the server).
	Endpoint string
	Token    string
	// Speed divides every typing delay (2 = twice as fast as the trace).
	Speed float64
	// Settle is how long to wait after a trace's last key for answers.
	Settle time.Duration
	// WorkDir holds the agent's files: workspace, HOME, stderr log.
	WorkDir string
	Proxy   *CountingProxy
	// LSPLog writes every LSP message to <WorkDir>/<agent>/lsp.log.
	LSPLog bool
}

// KeyResult is what happened after one keystroke.
type KeyResult struct {
	Trace     int           `json:"trace"`
	Index     int           `json:"index"`
	At        time.Time     `json:"-"`
	NextGap   time.Duration `json:"-"` // time until the next key (Settle after the last)
	Paused    bool          `json:"paused"`
	Answered  bool          `json:"answered"` // a non-empty suggestion came back
	LatencyMs float64       `json:"latency_ms,omitempty"`
	Shown     bool          `json:"shown"` // ... and before the next key
	FromCache bool          `json:"from_cache"`
	Text      string        `json:"text,omitempty"` // the suggestion, as it would be inserted at the cursor
	Expected  string        `json:"-"`              // what the typist typed next
}

// AgentRun is everything observed while one agent played all traces.
type AgentRun struct {
	Agent       string        `json:"agent"`
	Method      string        `json:"method"` // textDocument/inlineCompletion or textDocument/completion
	InitLatency time.Duration `json:"-"`
	Keys        []KeyResult   `json:"-"`
	Requests    int           `json:"server_requests"`
	ServerTimes []float64     `json:"server_times_ms"` // completion requests answered in full, ascending
	Usage       ProcUsage     `json:"-"`
	Errors      int           `json:"errors"` // LSP error responses
	// Exit is how the agent process ended after shutdown/exit ("" = status 0).
	Exit string `json:"exit,omitempty"`
}

const (
	methodInline     = "textDocument/inlineCompletion"
	methodCompletion = "textDocument/completion"
)

// Play starts the agent, replays every trace against it, and stops it.
func Play(ctx context.Context, agent Agent, traces []Trace, cfg RunConfig) (*AgentRun, error) {
	if len(agent.Command) == 0 {
		return nil, errors.New("agent command is empty")
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	dir := filepath.Join(cfg.WorkDir, agent.Name)
	workspace := filepath.Join(dir, "workspace")
	home := filepath.Join(dir, "home")
	for _, d := range []string{workspace, filepath.Join(home, ".tabby-client", "agent")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// tabby-agent reads its server only from here (see peer-tabby-agent.md).
	tabbyConfig := fmt.Sprintf("[server]\nendpoint = %q\ntoken = %q\n\n[anonymousUsageTracking]\ndisable = true\n", cfg.Endpoint, cfg.Token)
	if err := os.WriteFile(filepath.Join(home, ".tabby-client", "agent", "config.toml"), []byte(tabbyConfig), 0o600); err != nil {
		return nil, err
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	var lspLog *os.File
	if cfg.LSPLog {
		if lspLog, err = os.Create(filepath.Join(dir, "lsp.log")); err != nil {
			return nil, err
		}
		defer lspLog.Close()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, agent.Command[0], agent.Command[1:]...)
	// The agent runs in the bench's directory (relative paths in its command
	// keep their meaning); its workspace comes as rootUri.
	cmd.Env = append(os.Environ(), "HOME="+home, "SERVAL_ENDPOINT="+cfg.Endpoint, "SERVAL_TOKEN="+cfg.Token)
	cmd.Stderr = stderr
	cmd.WaitDelay = 3 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	spawned := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", agent.Name, err)
	}
	c := newConn(stdin)
	if lspLog != nil {
		c.log = lspLog
	}
	readDone := make(chan error, 1)
	go func() { readDone <- c.readLoop(stdout) }()

	run := &AgentRun{Agent: agent.Name}
	e := &editor{c: c, cfg: cfg, run: run, workspace: workspace}
	playErr := e.play(runCtx, traces, spawned)

	// Usage is read while the agent is still alive.
	if u, err := ReadProcUsage(cmd.Process.Pid); err == nil {
		run.Usage = u
	}
	shutdown(c, readDone)
	_ = stdin.Close()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var exitErr error
	select {
	case exitErr = <-waitErr:
	case <-time.After(5 * time.Second):
		cancel() // kills the process; Wait returns within WaitDelay
		exitErr = <-waitErr
	}
	if exitErr != nil {
		run.Exit = exitErr.Error()
	}
	if playErr != nil {
		return run, fmt.Errorf("%s: %w (agent stderr: %s)", agent.Name, playErr, stderr.Name())
	}
	return run, nil
}

// shutdown asks the agent to exit the LSP way, bounded in time.
func shutdown(c *conn, readDone <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = c.Call(ctx, "shutdown", nil, nil)
	_ = c.Notify("exit", nil)
	select {
	case <-readDone:
	case <-time.After(3 * time.Second):
	}
}

type editor struct {
	c         *conn
	cfg       RunConfig
	run       *AgentRun
	workspace string
	method    string
	fullSync  bool

	wg sync.WaitGroup // one per request in flight
	mu sync.Mutex     // guards run.Keys and run.Errors
}

type initializeResult struct {
	Capabilities struct {
		TextDocumentSync         json.RawMessage `json:"textDocumentSync"`
		InlineCompletionProvider json.RawMessage `json:"inlineCompletionProvider"`
		CompletionProvider       json.RawMessage `json:"completionProvider"`
		PositionEncoding         string          `json:"positionEncoding"`
	} `json:"capabilities"`
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null" && s != "false"
}

func (e *editor) initialize(ctx context.Context, spawned time.Time) error {
	params := map[string]any{
		"processId": os.Getpid(),
		"rootUri":   fileURI(e.workspace),
		"workspaceFolders": []map[string]string{
			{"uri": fileURI(e.workspace), "name": "workspace"},
		},
		"clientInfo": map[string]string{"name": "serval-bench", "version": "1"},
		"capabilities": map[string]any{
			"general": map[string]any{"positionEncodings": []string{"utf-16"}},
			"textDocument": map[string]any{
				"synchronization":  map[string]any{"dynamicRegistration": false},
				"inlineCompletion": map[string]any{"dynamicRegistration": false},
				"completion":       map[string]any{"completionItem": map[string]any{"snippetSupport": false}},
			},
		},
		"initializationOptions": map[string]any{
			"server": map[string]string{"endpoint": e.cfg.Endpoint, "token": e.cfg.Token},
		},
	}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var res initializeResult
	if err := e.c.Call(ictx, "initialize", params, &res); err != nil {
		return err
	}
	e.run.InitLatency = time.Since(spawned)
	caps := res.Capabilities
	switch {
	case present(caps.InlineCompletionProvider):
		e.method = methodInline
	case present(caps.CompletionProvider):
		e.method = methodCompletion
	default:
		return errors.New("agent offers neither inline completion nor completion")
	}
	e.run.Method = e.method
	// textDocumentSync: a number or {change: n}; 1 = full text, 2 = incremental.
	var kind int
	if json.Unmarshal(caps.TextDocumentSync, &kind) != nil {
		var opts struct {
			Change int `json:"change"`
		}
		_ = json.Unmarshal(caps.TextDocumentSync, &opts)
		kind = opts.Change
	}
	e.fullSync = kind == 1
	return e.c.Notify("initialized", map[string]any{})
}

func (e *editor) play(ctx context.Context, traces []Trace, spawned time.Time) error {
	if err := e.initialize(ctx, spawned); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	start := time.Now()
	counter := e.cfg.Proxy
	for i, tr := range traces {
		if err := e.playTrace(ctx, i, tr); err != nil {
			return fmt.Errorf("trace %s: %w", tr.Name, err)
		}
	}
	// The requests an agent still makes for keys already typed count too: a
	// slow agent (or a loaded machine) sends them after the last key.
	e.waitAnswers()
	if counter != nil {
		end := time.Now()
		e.run.Requests = counter.Completions(start, end)
		e.run.ServerTimes = counter.ServerTimes(start, end)
	}
	return nil
}

func (e *editor) playTrace(ctx context.Context, ti int, tr Trace) error {
	name := fmt.Sprintf("t%02d_%s", ti, filepath.Base(tr.Path))
	path := filepath.Join(e.workspace, name)
	if err := os.WriteFile(path, []byte(tr.Text), 0o644); err != nil {
		return err
	}
	doc := &document{uri: fileURI(path), text: tr.Text, version: 1, cursor: tr.Offset}
	doc.line = strings.Count(tr.Text[:tr.Offset], "\n")
	doc.lineStart = strings.LastIndexByte(tr.Text[:tr.Offset], '\n') + 1
	if err := e.c.Notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": doc.uri, "languageId": tr.LanguageID, "version": doc.version, "text": doc.text,
	}}); err != nil {
		return err
	}
	// Let the agent take in the file before the first key, as a person would.
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return err
	}

	typed := 0 // bytes of tr.Typed typed so far
	var inFlight int64
	next := time.Now()
	for ki, key := range tr.Keys {
		next = next.Add(time.Duration(key.Delay / e.cfg.Speed * float64(time.Millisecond)))
		if err := sleepUntil(ctx, next); err != nil {
			return err
		}
		if inFlight != 0 {
			_ = e.c.Cancel(inFlight) // a newer keystroke supersedes it, as in an editor
		}
		change := doc.insert(key.Text, e.fullSync)
		at := time.Now()
		if err := e.c.Notify("textDocument/didChange", map[string]any{
			"textDocument":   map[string]any{"uri": doc.uri, "version": doc.version},
			"contentChanges": []any{change},
		}); err != nil {
			return err
		}
		typed += len(key.Text)
		gap := e.cfg.Settle
		if ki+1 < len(tr.Keys) {
			gap = time.Duration(tr.Keys[ki+1].Delay / e.cfg.Speed * float64(time.Millisecond))
		}
		e.mu.Lock()
		e.run.Keys = append(e.run.Keys, KeyResult{
			Trace: ti, Index: ki, At: at, NextGap: gap,
			Paused:   ki+1 == len(tr.Keys) || tr.Keys[ki+1].Delay >= PauseThresholdMs,
			Expected: tr.Typed[typed:],
		})
		k := len(e.run.Keys) - 1
		e.mu.Unlock()
		id, err := e.request(doc, k, at)
		if err != nil {
			return err
		}
		inFlight = id
	}
	if err := sleepCtx(ctx, e.cfg.Settle); err != nil {
		return err
	}
	return e.c.Notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": doc.uri}})
}

// request asks for a suggestion at the cursor and records the answer into
// run.Keys[k] when it comes.
func (e *editor) request(doc *document, k int, at time.Time) (int64, error) {
	params := map[string]any{
		"textDocument": map[string]any{"uri": doc.uri},
		"position":     doc.position(),
	}
	if e.method == methodInline {
		params["context"] = map[string]any{"triggerKind": 2}
	} else {
		params["context"] = map[string]any{"triggerKind": 1}
	}
	// What the suggestion's range may cover before the cursor: the line so far.
	linePrefix := doc.text[doc.lineStart:doc.cursor]
	id, ch, err := e.c.Start(e.method, params)
	if err != nil {
		return 0, err
	}
	cursorLine := doc.line
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		resp, ok := <-ch // closed when the connection ends
		if !ok {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if resp.Err != nil {
			if resp.Err.Code != -32800 { // RequestCancelled is the editor's doing
				e.run.Errors++
			}
			return
		}
		text := suggestionText(e.method, resp.Result, cursorLine, linePrefix)
		if text == "" {
			return
		}
		kr := &e.run.Keys[k]
		kr.Answered = true
		latency := resp.Received.Sub(at)
		kr.LatencyMs = ms(latency)
		kr.Shown = latency < kr.NextGap
		kr.Text = text
		if e.cfg.Proxy != nil {
			kr.FromCache = e.cfg.Proxy.Completions(at, resp.Received) == 0
		}
	}()
	return id, nil
}

// waitAnswers waits (bounded) for the answers still in flight.
func (e *editor) waitAnswers() {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
}
