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
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

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
	// clientName is the editor's clientInfo.name, for the sign-in's device name.
	clientName atomic.Pointer[string]

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
	closeWithin(conn, closeWait)
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
	case MethodServalDidFocus:
		return s.didFocus(ctx, reply, req)
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
	switch method {
	case protocol.MethodTextDocumentCompletion:
		return CompletionList{IsIncomplete: true, Items: []CompletionItem{}}
	case MethodInlineCompletion:
		return InlineCompletionList{Items: []InlineCompletionItem{}}
	}
	return nil
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

// closeWait bounds how long Run waits for the connection to close.
const closeWait = time.Second

// closeWithin closes c, waiting at most d. On Windows, closing stdin waits
// for the read in progress on it (a synchronous ReadFile on a pipe), which
// never ends while the editor keeps the pipe open: after exit, the process
// must end anyway, so Run returns and the caller exits.
func closeWithin(c io.Closer, d time.Duration) {
	done := make(chan struct{})
	go func() {
		_ = c.Close()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
