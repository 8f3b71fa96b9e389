// Package lsp is serval-agent's language server: the JSON-RPC transport over
// stdio, the protocol types (including LSP 3.18 inline completion, which
// go.lsp.dev/protocol predates), the document store with incremental sync,
// and position-encoding conversion. Handlers are thin: they convert protocol
// positions to byte offsets once, make one call into package agent, and
// convert its result back.
package lsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

// maxConcurrentCompletions bounds the completion handlers running at once
// (each document has at most one that does real work; this bounds the
// rest). Requests over the bound are answered empty at once.
const maxConcurrentCompletions = 64

// Options configures a Server.
type Options struct {
	Name, Version string
	Logger        *slog.Logger
	// MaxDocumentBytes is the size over which documents get no completions.
	MaxDocumentBytes int
}

// Server is one LSP session over one connection.
type Server struct {
	agent *agent.Agent
	store *Store
	log   *slog.Logger
	opts  Options

	conn atomic.Pointer[jsonrpc2.Conn]
	enc  PositionEncoding // set by initialize, before any document arrives

	state       atomic.Int32 // stateUninitialized, stateRunning, stateShutdown
	exited      chan struct{}
	exitOnce    sync.Once
	completions chan struct{} // semaphore of running completion handlers

	lifeCtx context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup // request goroutines

	mu       sync.Mutex
	inFlight map[jsonrpc2.ID]context.CancelFunc
}

const (
	stateUninitialized int32 = iota
	stateRunning
	stateShutdown
)

// NewServer returns a server that drives a.
func NewServer(a *agent.Agent, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Name == "" {
		opts.Name = "serval-agent"
	}
	life, stop := context.WithCancel(context.Background())
	return &Server{
		agent:       a,
		store:       NewStore(opts.MaxDocumentBytes),
		log:         opts.Logger,
		opts:        opts,
		enc:         UTF16,
		exited:      make(chan struct{}),
		completions: make(chan struct{}, maxConcurrentCompletions),
		lifeCtx:     life,
		stop:        stop,
		inFlight:    make(map[jsonrpc2.ID]context.CancelFunc),
	}
}

// Store exposes the document store (for tests and benchmarks).
func (s *Server) Store() *Store { return s.store }

// ErrExitWithoutShutdown is Run's error when the client sent exit (or closed
// the connection) without shutdown first; the process should exit with 1.
var ErrExitWithoutShutdown = errors.New("exit without shutdown")

// Run serves the connection r/w until the client sends exit or closes its
// end. It returns nil after a proper shutdown and exit.
func (s *Server) Run(ctx context.Context, r io.Reader, w io.Writer, c io.Closer) error {
	conn := jsonrpc2.NewConn(newStream(r, w, c))
	s.conn.Store(&conn)
	conn.Go(ctx, s.handle)
	select {
	case <-conn.Done():
	case <-s.exited:
	case <-ctx.Done():
	}
	s.stop()
	s.cancelAll()
	s.wg.Wait()
	_ = conn.Close()
	if s.state.Load() == stateShutdown {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return ErrExitWithoutShutdown
}

// Notify sends a notification to the client; it is dropped before Run.
func (s *Server) Notify(method string, params any) {
	c := s.conn.Load()
	if c == nil {
		return
	}
	if err := (*c).Notify(s.lifeCtx, method, params); err != nil {
		s.log.Debug("notification not sent", "method", method, "err", err)
	}
}

// SendStatus reports an agent status as serval/status and didChangeStatus.
func (s *Server) SendStatus(st agent.Status) {
	s.Notify(MethodServalStatus, StatusParams{Status: string(st.Kind), Message: st.Message})
	kind := "Normal"
	switch st.Kind {
	case agent.StatusDisconnected, agent.StatusUnauthorized:
		kind = "Error"
	case agent.StatusRateLimited, agent.StatusSlow:
		kind = "Warning"
	case agent.StatusNoModel:
		kind = "Inactive"
	}
	s.Notify(MethodDidChangeStatus, DidChangeStatusParams{Kind: kind, Message: st.Message})
}

// handle is called by the connection's reader for every message, in order.
// Document notifications are applied here, synchronously, so that a later
// request sees them; completions run on their own goroutine.
func (s *Server) handle(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "method", req.Method(), "panic", p, "stack", string(debug.Stack()))
			err = reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InternalError, "internal error in %s", req.Method()))
		}
	}()
	_, isCall := req.(*jsonrpc2.Call)
	method := req.Method()

	switch s.state.Load() {
	case stateUninitialized:
		if method != protocol.MethodInitialize && method != protocol.MethodExit {
			if isCall {
				return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.ServerNotInitialized, "%s before initialize", method))
			}
			return nil // notifications before initialize are dropped
		}
	case stateShutdown:
		if method != protocol.MethodExit {
			if isCall {
				return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidRequest, "%s after shutdown", method))
			}
			return nil
		}
	}

	switch method {
	case protocol.MethodInitialize:
		return s.initialize(ctx, reply, req)
	case protocol.MethodInitialized:
		return nil
	case protocol.MethodShutdown:
		s.state.Store(stateShutdown)
		s.cancelAll()
		return reply(ctx, nil, nil)
	case protocol.MethodExit:
		s.exitOnce.Do(func() { close(s.exited) })
		return nil
	case MethodCancelRequest:
		s.cancelRequest(req.Params())
		return nil
	case protocol.MethodTextDocumentDidOpen:
		return s.didOpen(ctx, reply, req)
	case protocol.MethodTextDocumentDidChange:
		return s.didChange(ctx, reply, req)
	case protocol.MethodTextDocumentDidClose:
		return s.didClose(ctx, reply, req)
	case protocol.MethodWorkspaceDidChangeConfiguration:
		return s.didChangeConfiguration(ctx, reply, req)
	case protocol.MethodWorkspaceDidChangeWorkspaceFolders:
		return s.didChangeWorkspaceFolders(ctx, reply, req)
	case MethodInlineCompletion:
		return s.async(ctx, reply, req, s.inlineCompletion)
	case protocol.MethodTextDocumentCompletion:
		return s.async(ctx, reply, req, s.completion)
	case protocol.MethodWorkspaceExecuteCommand:
		return s.executeCommand(ctx, reply, req)
	case MethodDidShowCompletion:
		return s.didShowCompletion(ctx, reply, req)
	case MethodDidPartiallyAcceptCompletion:
		return s.didPartiallyAccept(ctx, reply, req)
	}
	if isCall {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.MethodNotFound, "method not found: %s", method))
	}
	return nil // unknown notifications ($/setTrace, didSave, ...) are ignored
}

// decode unmarshals params; a failure answers InvalidParams (calls) or is
// logged (notifications).
func (s *Server) decode(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request, v any) (bool, error) {
	if err := json.Unmarshal(req.Params(), v); err != nil {
		if _, isCall := req.(*jsonrpc2.Call); isCall {
			return false, reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s: %v", req.Method(), err))
		}
		s.log.Warn("bad notification params", "method", req.Method(), "err", err)
		return false, nil
	}
	return true, nil
}

func (s *Server) initialize(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p InitializeParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if s.state.Load() != stateUninitialized {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidRequest, "initialize sent twice"))
	}
	var offered []string
	if p.Capabilities.General != nil {
		offered = p.Capabilities.General.PositionEncodings
	}
	s.enc = NegotiateEncoding(offered)

	if len(p.InitializationOptions) > 0 {
		c, err := agent.ParseConfigJSON(p.InitializationOptions)
		if err == nil {
			err = s.agent.SetConfigLayer(agent.LayerInitOptions, c)
		}
		if err != nil {
			s.log.Warn("initializationOptions ignored", "err", err)
		}
	}
	folders := make([]string, 0, len(p.WorkspaceFolders)+1)
	for _, f := range p.WorkspaceFolders {
		folders = append(folders, f.URI)
	}
	if len(folders) == 0 && p.RootURI != "" {
		folders = append(folders, p.RootURI)
	}
	for _, f := range folders {
		s.addFolder(f)
	}

	inline := p.Capabilities.TextDocument != nil && p.Capabilities.TextDocument.InlineCompletion != nil
	caps := ServerCapabilities{
		PositionEncoding:         s.enc,
		TextDocumentSync:         TextDocumentSyncOptions{OpenClose: true, Change: protocol.TextDocumentSyncKindIncremental},
		InlineCompletionProvider: &InlineCompletionOptions{},
		ExecuteCommandProvider:   &protocol.ExecuteCommandOptions{Commands: []string{CommandAccept}},
		Workspace: &protocol.ServerCapabilitiesWorkspace{
			WorkspaceFolders: &protocol.ServerCapabilitiesWorkspaceFolders{Supported: true, ChangeNotifications: true},
		},
	}
	if !inline {
		// Editors without inline completion get the suggestion in the completion popup.
		caps.CompletionProvider = &protocol.CompletionOptions{}
	}
	s.state.Store(stateRunning)
	err := reply(ctx, InitializeResult{Capabilities: caps, ServerInfo: &ServerInfo{Name: s.opts.Name, Version: s.opts.Version}}, nil)
	// Health checks and status notifications start after the answer: LSP
	// allows no notifications before it.
	s.agent.Start()
	return err
}

// addFolder tells the agent about a workspace folder, off the reader.
func (s *Server) addFolder(uri string) {
	path := uriToPath(uri)
	if path == "" {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.agent.AddWorkspaceFolder(s.lifeCtx, path); err != nil {
			s.log.Warn("workspace folder", "path", path, "err", err)
		}
	}()
}

func (s *Server) didChangeWorkspaceFolders(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p protocol.DidChangeWorkspaceFoldersParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	for _, f := range p.Event.Removed {
		if path := uriToPath(f.URI); path != "" {
			s.agent.RemoveWorkspaceFolder(path)
		}
	}
	for _, f := range p.Event.Added {
		s.addFolder(f.URI)
	}
	return nil
}

func (s *Server) didChangeConfiguration(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p struct {
		Settings struct {
			Serval json.RawMessage `json:"serval"`
		} `json:"settings"`
	}
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	c, err := agent.ParseConfigJSON(p.Settings.Serval)
	if err == nil {
		err = s.agent.SetConfigLayer(agent.LayerClient, c)
	}
	if err != nil {
		s.log.Warn("settings ignored", "err", err)
	}
	return nil
}

func agentDoc(d *Document) agent.Document {
	return agent.Document{URI: d.URI, LanguageID: d.LanguageID, Version: d.Version, Text: d.Text}
}

func (s *Server) didOpen(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p protocol.DidOpenTextDocumentParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if prev := s.store.Get(string(p.TextDocument.URI)); prev != nil && !prev.Inert() {
		s.agent.DidClose(prev.URI)
	}
	d := s.store.Open(string(p.TextDocument.URI), string(p.TextDocument.LanguageID), p.TextDocument.Version, p.TextDocument.Text)
	if !d.Inert() {
		s.agent.DidOpen(agentDoc(d))
	}
	return nil
}

func (s *Server) didChange(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p DidChangeTextDocumentParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	uri := string(p.TextDocument.URI)
	before := s.store.Get(uri)
	d, edits, err := s.store.Change(uri, p.TextDocument.Version, p.ContentChanges, s.enc)
	if err != nil {
		s.log.Debug("didChange ignored", "err", err)
		return nil
	}
	switch {
	case !d.Inert():
		if before.Inert() {
			s.agent.DidOpen(agentDoc(d)) // a full replacement made it usable again
		} else {
			s.agent.DidChange(agentDoc(d), edits)
		}
	case !before.Inert():
		s.agent.DidClose(uri) // it just became binary or too large
	}
	return nil
}

func (s *Server) didClose(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p protocol.DidCloseTextDocumentParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	uri := string(p.TextDocument.URI)
	if d := s.store.Get(uri); d != nil {
		if !d.Inert() {
			s.agent.DidClose(uri)
		}
		s.store.Close(uri)
	}
	return nil
}

// async runs a request handler on its own goroutine with a context that
// $/cancelRequest cancels, replying with RequestCancelled when it is.
func (s *Server) async(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request,
	fn func(ctx context.Context, req jsonrpc2.Request) (any, error)) error {
	call, ok := req.(*jsonrpc2.Call)
	if !ok {
		return nil // a completion sent as a notification has no one to answer
	}
	select {
	case s.completions <- struct{}{}:
	default:
		return reply(ctx, emptyAnswer(req.Method()), nil)
	}
	rctx, cancel := context.WithCancel(s.lifeCtx)
	s.mu.Lock()
	s.inFlight[call.ID()] = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.completions }()
		defer func() {
			s.mu.Lock()
			delete(s.inFlight, call.ID())
			s.mu.Unlock()
			cancel()
		}()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("handler panic", "method", req.Method(), "panic", p, "stack", string(debug.Stack()))
				_ = reply(s.lifeCtx, emptyAnswer(req.Method()), nil)
			}
		}()
		result, err := fn(rctx, req)
		if err != nil && rctx.Err() != nil {
			err = jsonrpc2.NewError(protocol.CodeRequestCancelled, "request cancelled")
			result = nil
		}
		if rerr := reply(s.lifeCtx, result, err); rerr != nil {
			s.log.Debug("reply failed", "method", req.Method(), "err", rerr)
		}
	}()
	return nil
}

func emptyAnswer(method string) any {
	if method == protocol.MethodTextDocumentCompletion {
		return CompletionList{IsIncomplete: true, Items: []CompletionItem{}}
	}
	return InlineCompletionList{Items: []InlineCompletionItem{}}
}

func (s *Server) cancelRequest(params json.RawMessage) {
	var p struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return
	}
	var id jsonrpc2.ID
	if err := id.UnmarshalJSON(p.ID); err != nil {
		return
	}
	s.mu.Lock()
	cancel := s.inFlight[id]
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (s *Server) cancelAll() {
	s.mu.Lock()
	for _, cancel := range s.inFlight {
		cancel()
	}
	s.mu.Unlock()
}

// position resolves a request position to a live, completable document and
// a byte offset; ok is false for unknown documents, inert ones, and
// positions past the end.
func (s *Server) position(uri string, pos protocol.Position) (*Document, int, bool) {
	d := s.store.Get(uri)
	if d == nil || d.Inert() {
		return nil, 0, false
	}
	off, exact := d.Offset(pos, s.enc)
	if !exact {
		return nil, 0, false
	}
	return d, off, true
}

func (s *Server) inlineCompletion(ctx context.Context, req jsonrpc2.Request) (any, error) {
	var p InlineCompletionParams
	if err := json.Unmarshal(req.Params(), &p); err != nil {
		return nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s: %v", req.Method(), err)
	}
	empty := InlineCompletionList{Items: []InlineCompletionItem{}}
	uri := string(p.TextDocument.URI)
	d, off, ok := s.position(uri, p.Position)
	if !ok {
		return empty, nil
	}
	trigger := agent.Automatic
	if p.Context.TriggerKind == InlineTriggerInvoked {
		trigger = agent.Invoked
	}
	res, err := s.agent.Complete(ctx, agent.Request{Document: agentDoc(d), Offset: off, Trigger: trigger})
	if err != nil {
		return nil, err
	}
	list := InlineCompletionList{Items: make([]InlineCompletionItem, 0, len(res.Items))}
	for _, it := range res.Items {
		text := it.Text
		start, end := it.Start, it.End
		if sel := p.Context.SelectedCompletionInfo; sel != nil {
			// The item must extend the popup's selection over its range.
			ss, _ := d.Offset(sel.Range.Start, s.enc)
			se, _ := d.Offset(sel.Range.End, s.enc)
			if ss > off || se < off {
				continue
			}
			typed := string(d.Text[ss:off])
			full := typed + text
			if !strings.HasPrefix(full, sel.Text) {
				continue
			}
			text, start, end = full, ss, max(end, se)
		}
		rng := protocol.Range{Start: d.Position(start, s.enc), End: d.Position(end, s.enc)}
		list.Items = append(list.Items, InlineCompletionItem{
			InsertText: text,
			Range:      &rng,
			Command:    acceptCommand(uri, res.ID, it.Choice),
		})
	}
	return list, nil
}

func acceptCommand(uri, id string, choice int) *protocol.Command {
	return &protocol.Command{
		Title:     "Accept completion",
		Command:   CommandAccept,
		Arguments: []any{AcceptArgs{URI: uri, CompletionID: id, ChoiceIndex: choice}},
	}
}

// completion is the fallback for editors without inline completion: the
// suggestion as a popup item whose edit replaces the word before the cursor
// with the word plus the completion (so the editor's filtering keeps it).
func (s *Server) completion(ctx context.Context, req jsonrpc2.Request) (any, error) {
	var p CompletionParams
	if err := json.Unmarshal(req.Params(), &p); err != nil {
		return nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s: %v", req.Method(), err)
	}
	empty := CompletionList{IsIncomplete: true, Items: []CompletionItem{}}
	uri := string(p.TextDocument.URI)
	d, off, ok := s.position(uri, p.Position)
	if !ok {
		return empty, nil
	}
	trigger := agent.Automatic
	if p.Context != nil && p.Context.TriggerKind == 1 {
		trigger = agent.Invoked
	}
	res, err := s.agent.Complete(ctx, agent.Request{Document: agentDoc(d), Offset: off, Trigger: trigger})
	if err != nil {
		return nil, err
	}
	wordStart := off
	for wordStart > 0 {
		r, size := utf8.DecodeLastRune(d.Text[:wordStart])
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f && r != utf8.RuneError) {
			break
		}
		wordStart -= size
	}
	word := string(d.Text[wordStart:off])
	list := CompletionList{IsIncomplete: true, Items: make([]CompletionItem, 0, len(res.Items))}
	for _, it := range res.Items {
		newText := word + it.Text
		label := strings.TrimSpace(newText)
		if i := strings.IndexAny(label, "\r\n"); i >= 0 {
			label = strings.TrimSpace(label[:i]) + " …"
		}
		list.Items = append(list.Items, CompletionItem{
			Label:            label,
			LabelDetails:     &CompletionItemLabelDetails{Description: "serval"},
			Kind:             protocol.CompletionItemKindText,
			Detail:           it.Text,
			FilterText:       newText,
			SortText:         "0",
			Preselect:        true,
			InsertTextFormat: protocol.InsertTextFormatPlainText,
			TextEdit: &protocol.TextEdit{
				Range:   protocol.Range{Start: d.Position(wordStart, s.enc), End: d.Position(it.End, s.enc)},
				NewText: newText,
			},
			Command: acceptCommand(uri, res.ID, it.Choice),
		})
	}
	return list, nil
}

func (s *Server) executeCommand(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p struct {
		Command   string            `json:"command"`
		Arguments []json.RawMessage `json:"arguments"`
	}
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if p.Command != CommandAccept {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "unknown command %q", p.Command))
	}
	var args AcceptArgs
	if len(p.Arguments) == 0 || json.Unmarshal(p.Arguments[0], &args) != nil {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.InvalidParams, "%s wants one argument {uri, completionId, choiceIndex}", CommandAccept))
	}
	s.agent.Accepted(args.URI, args.CompletionID, args.ChoiceIndex, false)
	return reply(ctx, nil, nil)
}

// itemArgs recovers the accept arguments an item carries.
func itemArgs(item InlineCompletionItem) (AcceptArgs, bool) {
	if item.Command == nil || len(item.Command.Arguments) == 0 {
		return AcceptArgs{}, false
	}
	raw, err := json.Marshal(item.Command.Arguments[0])
	if err != nil {
		return AcceptArgs{}, false
	}
	var a AcceptArgs
	if json.Unmarshal(raw, &a) != nil || a.CompletionID == "" {
		return AcceptArgs{}, false
	}
	return a, true
}

func (s *Server) didShowCompletion(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p DidShowCompletionParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if a, ok := itemArgs(p.Item); ok {
		s.agent.Shown(a.URI, a.CompletionID, a.ChoiceIndex)
	}
	if _, isCall := req.(*jsonrpc2.Call); isCall {
		return reply(ctx, nil, nil)
	}
	return nil
}

func (s *Server) didPartiallyAccept(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	var p DidPartiallyAcceptCompletionParams
	if ok, err := s.decode(ctx, reply, req, &p); !ok {
		return err
	}
	if a, ok := itemArgs(p.Item); ok {
		full := p.AcceptedLength >= UnitsInString(p.Item.InsertText, UTF16)
		s.agent.Accepted(a.URI, a.CompletionID, a.ChoiceIndex, !full)
	}
	if _, isCall := req.(*jsonrpc2.Call); isCall {
		return reply(ctx, nil, nil)
	}
	return nil
}

// uriToPath returns the path of a file: URI, or "".
func uriToPath(uri string) string {
	const prefix = "file://"
	if !strings.HasPrefix(uri, prefix) {
		return ""
	}
	u, err := protocolURIPath(uri)
	if err != nil {
		return ""
	}
	return u
}

func protocolURIPath(uri string) (path string, err error) {
	defer func() {
		if p := recover(); p != nil { // go.lsp.dev/uri panics on some malformed URIs
			err = fmt.Errorf("bad uri %q", uri)
		}
	}()
	return protocol.DocumentURI(uri).Filename(), nil
}
