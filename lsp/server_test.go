package lsp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
	"github.com/servalhq/serval/integration/testsupport/lspclient"
	"github.com/servalhq/serval/server/api"
)

// fakeServer is a Serval stand-in: it answers every completion with text,
// streamed in chunks, and records requests, cancellations and events.
type fakeServer struct {
	*httptest.Server
	text      atomic.Value // string
	block     atomic.Bool  // hold completions until the client goes away
	completes atomic.Int32
	cancelled atomic.Int32

	mu     sync.Mutex
	events []api.LogEventRequest
	reqs   []api.CompletionRequest
}

func newFakeServer(t *testing.T, text string) *fakeServer {
	f := &fakeServer{}
	f.text.Store(text)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.HealthState{Model: "fake", Device: "cpu"})
	})
	mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
		var ev api.LogEventRequest
		json.NewDecoder(r.Body).Decode(&ev)
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
	})
	mux.HandleFunc("/v1/completions", func(w http.ResponseWriter, r *http.Request) {
		var req api.CompletionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.completes.Add(1)
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		if f.block.Load() {
			<-r.Context().Done()
			f.cancelled.Add(1)
			return
		}
		text := f.text.Load().(string)
		id := fmt.Sprintf("cmpl-%d", f.completes.Load())
		if !req.Stream {
			json.NewEncoder(w).Encode(api.CompletionResponse{ID: id, Choices: []api.Choice{{Text: text}}})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for len(text) > 0 {
			n := min(3, len(text))
			for n < len(text) && !utf8.RuneStart(text[n]) {
				n++ // whole characters only
			}
			b, _ := json.Marshal(api.StreamEvent{ID: id, Choices: []api.Choice{{Text: text[:n]}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
			text = text[n:]
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) eventTypes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, e.Type+":"+e.SelectKind)
	}
	return out
}

// session runs a Server on pipes with a test client.
type session struct {
	t      *testing.T
	client *lspclient.Client
	server *Server
	agent  *agent.Agent
	done   chan error
}

func newSession(t *testing.T, endpoint string) *session {
	t.Helper()
	stack := agent.NewConfigStack(func(string) string { return "" })
	stack.Set(agent.LayerFile, agent.Config{Server: agent.ServerConfig{Endpoint: endpoint}})
	var srv *Server
	var srvMu sync.Mutex
	a, err := agent.New(agent.Options{Config: stack, OnStatus: func(st agent.Status) {
		srvMu.Lock()
		defer srvMu.Unlock()
		if srv != nil {
			srv.SendStatus(st)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	srvMu.Lock()
	srv = NewServer(a, Options{Version: "test"})
	srvMu.Unlock()
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	s := &session{t: t, server: srv, agent: a, done: make(chan error, 1)}
	go func() {
		err := srv.Run(context.Background(), sr, sw, sr)
		sw.Close()
		s.done <- err
	}()
	s.client = lspclient.New(cr, cw, cw)
	t.Cleanup(func() {
		s.client.Close()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop after the client closed")
		}
		a.Close()
	})
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *session) initialize(encodings []string, inline bool) InitializeResult {
	s.t.Helper()
	caps := map[string]any{"general": map[string]any{"positionEncodings": encodings}}
	if inline {
		caps["textDocument"] = map[string]any{"inlineCompletion": map[string]any{}}
	}
	var res InitializeResult
	if err := s.client.Call(ctxT(s.t), "initialize", map[string]any{"processId": 1, "capabilities": caps}, &res); err != nil {
		s.t.Fatal(err)
	}
	if err := s.client.Notify(ctxT(s.t), "initialized", map[string]any{}); err != nil {
		s.t.Fatal(err)
	}
	return res
}

func (s *session) open(uri, lang, text string) {
	s.t.Helper()
	err := s.client.Notify(ctxT(s.t), "textDocument/didOpen", map[string]any{
		"textDocument": map[string]any{"uri": uri, "languageId": lang, "version": 1, "text": text}})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) insert(uri string, version int, line, char uint32, text string) {
	s.t.Helper()
	pos := protocol.Position{Line: line, Character: char}
	err := s.client.Notify(ctxT(s.t), "textDocument/didChange", map[string]any{
		"textDocument":   map[string]any{"uri": uri, "version": version},
		"contentChanges": []any{map[string]any{"range": protocol.Range{Start: pos, End: pos}, "text": text}}})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) inline(uri string, line, char uint32, trigger int) (InlineCompletionList, error) {
	var res InlineCompletionList
	err := s.client.Call(ctxT(s.t), MethodInlineCompletion, map[string]any{
		"textDocument": map[string]any{"uri": uri},
		"position":     protocol.Position{Line: line, Character: char},
		"context":      map[string]any{"triggerKind": trigger}}, &res)
	return res, err
}

func TestInitializeNegotiates(t *testing.T) {
	f := newFakeServer(t, "x")
	s := newSession(t, f.URL)
	res := s.initialize([]string{"utf-32", "utf-16", "utf-8"}, true)
	if res.Capabilities.PositionEncoding != UTF8 {
		t.Errorf("encoding %q, want utf-8", res.Capabilities.PositionEncoding)
	}
	if res.Capabilities.InlineCompletionProvider == nil || res.Capabilities.CompletionProvider != nil {
		t.Errorf("inline client: capabilities %+v", res.Capabilities)
	}
	if res.Capabilities.TextDocumentSync.Change != protocol.TextDocumentSyncKindIncremental || res.ServerInfo.Name != "serval-agent" {
		t.Errorf("capabilities %+v, server %+v", res.Capabilities, res.ServerInfo)
	}
	if got := res.Capabilities.ExecuteCommandProvider.Commands; len(got) != 3 || got[0] != CommandAccept || got[1] != CommandSignIn || got[2] != CommandSignOut {
		t.Errorf("commands %v", got)
	}

	s2 := newSession(t, f.URL)
	res = s2.initialize(nil, false)
	if res.Capabilities.PositionEncoding != UTF16 || res.Capabilities.CompletionProvider == nil {
		t.Errorf("plain client: %+v", res.Capabilities)
	}
}

func TestLifecycleAndErrors(t *testing.T) {
	f := newFakeServer(t, "x")
	s := newSession(t, f.URL)
	ctx := ctxT(t)
	err := s.client.Call(ctx, MethodInlineCompletion, map[string]any{}, nil)
	if err == nil || !strings.Contains(err.Error(), "before initialize") {
		t.Fatalf("request before initialize: %v", err)
	}
	s.initialize(nil, true)
	if err := s.client.Call(ctx, "textDocument/hover", map[string]any{}, nil); err == nil || !strings.Contains(err.Error(), "method not found") {
		t.Fatalf("unknown method: %v", err)
	}
	// Malformed input: a parse error answer (id null), and the server goes on.
	if err := s.client.WriteRaw([]byte("Content-Length: 9\r\n\r\n{not json")); err != nil {
		t.Fatal(err)
	}
	noMethod := `{"jsonrpc":"2.0","id":7,"x":1}`
	if err := s.client.WriteRaw([]byte(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(noMethod), noMethod))); err != nil {
		t.Fatal(err)
	}
	if err := s.client.WriteRaw([]byte("X-Nothing: 1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`"code":-32700`, `"code":-32600`, `"code":-32700`} {
		m, err := s.client.WaitFor(ctx, "", i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(m.Params), want) {
			t.Errorf("answer %d to bad input: %s, want %s", i, m.Params, want)
		}
	}
	// Notifications are never answered, known or not.
	s.client.Notify(ctx, "$/setTrace", map[string]any{"value": "off"})
	s.client.Notify(ctx, "workspace/unknownThing", nil)
	// A document that is not open, and a position past the end: empty.
	res, err := s.inline("file:///nope.go", 0, 0, 1)
	if err != nil || len(res.Items) != 0 {
		t.Fatalf("unknown document: %v %v", res, err)
	}
	s.open("file:///a.go", "go", "package a\n")
	res, err = s.inline("file:///a.go", 40, 0, 1)
	if err != nil || len(res.Items) != 0 {
		t.Fatalf("position past the end: %v %v", res, err)
	}
	if n := len(s.client.Received("")); n != 3 {
		t.Fatalf("%d unmatched answers, want 3 (notifications must not be answered)", n)
	}
	if err := s.client.Call(ctx, "shutdown", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Call(ctx, MethodInlineCompletion, map[string]any{}, nil); err == nil {
		t.Fatal("request after shutdown succeeded")
	}
	s.client.Notify(ctx, "exit", nil)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Run after shutdown+exit: %v", err)
		}
		s.done <- err
	case <-ctx.Done():
		t.Fatal("server did not exit")
	}
}

func TestInlineCompletionTypedAheadAndEvents(t *testing.T) {
	f := newFakeServer(t, "Println(\"hi 😀\")\n\treturn nil")
	s := newSession(t, f.URL)
	s.initialize([]string{"utf-16"}, true)
	uri := "file:///w/main.go"
	// An emoji before the cursor: UTF-16 columns differ from bytes and runes.
	text := "package main\n\nfunc f() error {\n\t/* 😀 */ fmt.\n}\n"
	s.open(uri, "go", text)
	col := uint32(len([]rune("\t/* 😀 */ fmt.")) + 1) // the emoji is two UTF-16 units
	res, err := s.inline(uri, 3, col, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("items %+v", res.Items)
	}
	it := res.Items[0]
	if !strings.HasPrefix(it.InsertText, "Println(\"hi 😀\")") {
		t.Fatalf("insertText %q", it.InsertText)
	}
	if it.Range == nil || it.Range.Start != (protocol.Position{Line: 3, Character: col}) {
		t.Fatalf("range %+v, want start 3:%d", it.Range, col)
	}
	if f.completes.Load() != 1 {
		t.Fatalf("%d server requests", f.completes.Load())
	}
	// The editor shows it; the user types "Print" along it.
	s.client.Notify(ctxT(t), MethodDidShowCompletion, DidShowCompletionParams{Item: it})
	for i, ch := range "Print" {
		s.insert(uri, 2+i, 3, col+uint32(i), string(ch))
	}
	res, err = s.inline(uri, 3, col+5, 2)
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("typed-ahead: %+v %v", res, err)
	}
	if want := strings.TrimPrefix(it.InsertText, "Print"); res.Items[0].InsertText != want {
		t.Fatalf("typed-ahead text %q, want %q", res.Items[0].InsertText, want)
	}
	if f.completes.Load() != 1 {
		t.Fatalf("typed-ahead went to the server: %d requests", f.completes.Load())
	}
	// Accept through the item's command.
	cmd := res.Items[0].Command
	if err := s.client.Call(ctxT(t), "workspace/executeCommand", map[string]any{"command": cmd.Command, "arguments": cmd.Arguments}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(f.eventTypes()) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	if got := strings.Join(f.eventTypes(), ","); got != "view:,select:" {
		t.Fatalf("events %q, want view then select", got)
	}
	f.mu.Lock()
	req := f.reqs[0]
	f.mu.Unlock()
	// Invoked: several candidates, which are not streamed.
	if req.Language != "go" || !strings.HasSuffix(req.Segments.Prefix, "fmt.") || req.Segments.Filepath != "main.go" || req.Stream || req.N != agent.InvokedCandidates {
		t.Fatalf("request %+v %+v", req, req.Segments)
	}
}

func TestCancelRequestStopsServerWork(t *testing.T) {
	f := newFakeServer(t, "x")
	f.block.Store(true)
	s := newSession(t, f.URL)
	s.initialize(nil, true)
	uri := "file:///c.go"
	s.open(uri, "go", "package c\n\nfunc main() {\n\t\n}\n")
	ctx := ctxT(t)
	var res InlineCompletionList
	id, wait := s.client.CallAsync(ctx, MethodInlineCompletion, map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": protocol.Position{Line: 3, Character: 1},
		"context": map[string]any{"triggerKind": 1}}, &res)
	for i := 0; i < 6000 && f.completes.Load() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if f.completes.Load() == 0 {
		t.Fatal("the request never reached the server")
	}
	s.client.Notify(ctx, MethodCancelRequest, map[string]any{"id": id})
	err := wait()
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("cancelled request answered %v %+v", err, res)
	}
	for i := 0; i < 6000 && f.cancelled.Load() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if f.cancelled.Load() != 1 {
		t.Fatal("the server's request was not aborted")
	}

	// A newer request supersedes the older one, which answers empty.
	var first InlineCompletionList
	_, waitFirst := s.client.CallAsync(ctx, MethodInlineCompletion, map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": protocol.Position{Line: 3, Character: 1},
		"context": map[string]any{"triggerKind": 1}}, &first)
	for i := 0; i < 6000 && f.completes.Load() < 2; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	f.block.Store(false)
	second, err := s.inline(uri, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFirst(); err != nil || len(first.Items) != 0 {
		t.Fatalf("superseded request: %v %+v", err, first)
	}
	for i := 0; i < 6000 && f.cancelled.Load() < 2; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if f.cancelled.Load() != 2 {
		t.Fatalf("superseded request not aborted on the server (%d cancelled)", f.cancelled.Load())
	}
	_ = second
}

func TestCompletionFallbackItems(t *testing.T) {
	f := newFakeServer(t, "ln(x)")
	s := newSession(t, f.URL)
	s.initialize(nil, false)
	uri := "file:///p.go"
	s.open(uri, "go", "package p\n\nfunc g() {\n\tfmt.Print\n}\n")
	var list CompletionList
	err := s.client.Call(ctxT(t), "textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": protocol.Position{Line: 3, Character: 10},
		"context": map[string]any{"triggerKind": 1}}, &list)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("items %+v", list)
	}
	it := list.Items[0]
	if it.TextEdit == nil || it.TextEdit.NewText != "Println(x)" || it.TextEdit.Range.Start != (protocol.Position{Line: 3, Character: 5}) || it.Detail != "ln(x)" {
		t.Fatalf("item %+v edit %+v", it, it.TextEdit)
	}
}

func TestReplaceRangeCoversAutoClosedBrackets(t *testing.T) {
	f := newFakeServer(t, `"hi 😀")`)
	s := newSession(t, f.URL)
	s.initialize([]string{"utf-16"}, true)
	uri := "file:///r.go"
	s.open(uri, "go", "package r\n\nfunc f() {\n\tfmt.Println()\n}\n")
	res, err := s.inline(uri, 3, 13, 1) // between the parentheses the editor inserted
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	it := res.Items[0]
	want := protocol.Range{Start: protocol.Position{Line: 3, Character: 13}, End: protocol.Position{Line: 3, Character: 14}}
	if it.InsertText != `"hi 😀")` || it.Range == nil || *it.Range != want {
		t.Fatalf("item %q range %+v, want the range to swallow the auto-inserted %q", it.InsertText, it.Range, ")")
	}
}

func TestPartialAcceptAndDismissEvents(t *testing.T) {
	f := newFakeServer(t, "total += x\n\treturn total")
	s := newSession(t, f.URL)
	s.initialize(nil, true)
	uri := "file:///e.go"
	s.open(uri, "go", "package e\n\nfunc f(x int) int {\n\ttotal := 0\n\t\n}\n")
	first, err := s.inline(uri, 4, 1, 1)
	if err != nil || len(first.Items) != 1 {
		t.Fatalf("%+v %v", first, err)
	}
	ctx := ctxT(t)
	s.client.Notify(ctx, MethodDidShowCompletion, DidShowCompletionParams{Item: first.Items[0]})
	s.client.Notify(ctx, MethodDidPartiallyAcceptCompletion, DidPartiallyAcceptCompletionParams{Item: first.Items[0], AcceptedLength: 5})
	// Elsewhere: a new suggestion is shown; the first was accepted in part, so
	// it is not dismissed.
	f.text.Store("y := 1")
	second, err := s.inline(uri, 3, 11, 1)
	if err != nil || len(second.Items) != 1 {
		t.Fatalf("%+v %v", second, err)
	}
	s.client.Notify(ctx, MethodDidShowCompletion, DidShowCompletionParams{Item: second.Items[0]})
	// The user moves on without accepting: the next request elsewhere dismisses it.
	s.inline(uri, 2, 0, 1)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(f.eventTypes()) < 4 {
		time.Sleep(10 * time.Millisecond)
	}
	if got := strings.Join(f.eventTypes(), ","); got != "view:,select:line,view:,dismiss:" {
		t.Fatalf("events %q", got)
	}
}

func TestSelectedCompletionInfo(t *testing.T) {
	f := newFakeServer(t, "intln(x)")
	s := newSession(t, f.URL)
	s.initialize(nil, true)
	uri := "file:///sel.go"
	s.open(uri, "go", "package s\n\nfunc f(x int) {\n\tfmt.Pr\n}\n")
	call := func(selected string) InlineCompletionList {
		var res InlineCompletionList
		err := s.client.Call(ctxT(t), MethodInlineCompletion, map[string]any{
			"textDocument": map[string]any{"uri": uri},
			"position":     protocol.Position{Line: 3, Character: 7},
			"context": map[string]any{"triggerKind": 2, "selectedCompletionInfo": map[string]any{
				"range": protocol.Range{Start: protocol.Position{Line: 3, Character: 5}, End: protocol.Position{Line: 3, Character: 7}},
				"text":  selected}}}, &res)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := call("Println")
	if len(res.Items) != 1 || res.Items[0].InsertText != "Println(x)" || res.Items[0].Range.Start != (protocol.Position{Line: 3, Character: 5}) {
		t.Fatalf("item %+v", res.Items)
	}
	// A suggestion that does not extend the popup's selection is not offered.
	if res = call("Printf"); len(res.Items) != 0 {
		t.Fatalf("item that contradicts the selection: %+v", res.Items)
	}
}
