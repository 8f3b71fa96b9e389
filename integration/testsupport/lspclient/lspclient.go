// Package lspclient is a small LSP client for tests and benchmarks: it
// spawns a language server over stdio (or wraps any pipe), sends requests and
// notifications, records the server's notifications, and answers the
// server's requests with MethodNotFound. It also writes raw bytes, to test
// how a server copes with malformed input.
package lspclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"go.lsp.dev/jsonrpc2"

	"github.com/servalhq/serval/lsp/frame"
)

// Message is a notification (or unmatched response) the server sent.
type Message struct {
	Method string          // empty for a response without a pending request
	Params json.RawMessage // the notification's params, or the whole raw message
	At     time.Time
}

// Client is one connection to a language server.
type Client struct {
	conn   jsonrpc2.Conn
	stream *stream
	cmd    *exec.Cmd
	stderr *lockedBuffer

	asyncMu sync.Mutex

	mu       sync.Mutex
	cond     *sync.Cond
	received []Message
	closed   bool
}

// Options configures Start.
type Options struct {
	Args []string
	Env  []string // the full environment; nil inherits
	Dir  string
}

// Start spawns path with opts and connects to its stdin/stdout. The
// process's stderr is kept (see Stderr).
func Start(ctx context.Context, path string, opts Options) (*Client, error) {
	cmd := exec.CommandContext(ctx, path, opts.Args...)
	cmd.Env = opts.Env
	cmd.Dir = opts.Dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errBuf := &lockedBuffer{}
	cmd.Stderr = errBuf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	c := New(stdout, stdin, stdin)
	c.cmd = cmd
	c.stderr = errBuf
	return c, nil
}

// New connects to a server reading from r and writing to w; closer is
// closed on Close.
func New(r io.Reader, w io.Writer, closer io.Closer) *Client {
	c := &Client{}
	c.cond = sync.NewCond(&c.mu)
	c.stream = &stream{in: frame.NewReader(r), out: w, closer: closer, onOrphan: c.record}
	c.conn = jsonrpc2.NewConn(c.stream)
	c.conn.Go(context.Background(), c.handle)
	go func() {
		<-c.conn.Done()
		c.mu.Lock()
		c.closed = true
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	return c
}

func (c *Client) handle(ctx context.Context, reply jsonrpc2.Replier, req jsonrpc2.Request) error {
	if _, isCall := req.(*jsonrpc2.Call); isCall {
		return reply(ctx, nil, jsonrpc2.Errorf(jsonrpc2.MethodNotFound, "test client: %s not handled", req.Method()))
	}
	c.record(Message{Method: req.Method(), Params: append(json.RawMessage(nil), req.Params()...), At: time.Now()})
	return nil
}

func (c *Client) record(m Message) {
	c.mu.Lock()
	c.received = append(c.received, m)
	c.cond.Broadcast()
	c.mu.Unlock()
}

// Call sends a request and decodes its result into result (may be nil).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	_, err := c.conn.Call(ctx, method, params, result)
	return err
}

// CallAsync sends a request and returns its id once it is written, so that
// a test can cancel it with $/cancelRequest; wait returns the call's error.
// CallAsync calls are serialized; don't run plain Calls concurrently with one
// if you need the id to be right.
func (c *Client) CallAsync(ctx context.Context, method string, params any, result any) (id int32, wait func() error) {
	c.asyncMu.Lock()
	defer c.asyncMu.Unlock()
	before := c.stream.nextID.Load()
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, method, params, result) }()
	for i := 0; i < 1000 && c.stream.nextID.Load() == before; i++ {
		time.Sleep(time.Millisecond)
	}
	return before + 1, func() error { return <-done }
}

// Notify sends a notification.
func (c *Client) Notify(ctx context.Context, method string, params any) error {
	return c.conn.Notify(ctx, method, params)
}

// WriteRaw writes bytes to the server as they are (no framing added).
func (c *Client) WriteRaw(b []byte) error {
	c.stream.mu.Lock()
	defer c.stream.mu.Unlock()
	_, err := c.stream.out.Write(b)
	return err
}

// Received returns the notifications recorded so far with the given method
// ("" for responses that matched no request, such as parse errors).
func (c *Client) Received(method string) []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Message
	for _, m := range c.received {
		if m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor waits until a message with method for which match returns true has
// been received (match nil accepts any), or ctx ends. It only looks at
// messages after the first skip ones of that method. match runs with the
// client's lock held: it must not call the client.
func (c *Client) WaitFor(ctx context.Context, method string, skip int, match func(json.RawMessage) bool) (Message, error) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		seen := 0
		for _, m := range c.received {
			if m.Method != method {
				continue
			}
			seen++
			if seen > skip && (match == nil || match(m.Params)) {
				return m, nil
			}
		}
		if ctx.Err() != nil {
			return Message{}, fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		}
		if c.closed {
			return Message{}, fmt.Errorf("waiting for %s: connection closed", method)
		}
		c.cond.Wait()
	}
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.conn.Done() }

// Stderr returns what the spawned server wrote to stderr so far.
func (c *Client) Stderr() string {
	if c.stderr == nil {
		return ""
	}
	return c.stderr.String()
}

// Process returns the spawned process, or nil.
func (c *Client) Process() *exec.Cmd { return c.cmd }

// Shutdown sends shutdown and exit, then waits for the process (if any) to
// end, up to ctx. It returns the process's exit error.
func (c *Client) Shutdown(ctx context.Context) error {
	if err := c.Call(ctx, "shutdown", nil, nil); err != nil {
		c.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	_ = c.Notify(ctx, "exit", nil)
	return c.Wait(ctx)
}

// Wait waits for the spawned process to exit, killing it when ctx ends.
func (c *Client) Wait(ctx context.Context) error {
	if c.cmd == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// Close closes the connection (the server sees stdin close) and, for a
// spawned server, waits up to 5 s for it to exit before killing it.
func (c *Client) Close() error {
	err := c.conn.Close()
	if c.cmd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Wait(ctx)
	}
	return err
}

// stream frames messages with Content-Length headers. Responses the
// jsonrpc2 connection cannot decode (an error with a null id) are handed to
// onOrphan instead of ending the connection.
type stream struct {
	in       *frame.Reader
	closer   io.Closer
	onOrphan func(Message)
	nextID   atomic.Int32

	mu   sync.Mutex
	out  io.Writer
	sent map[jsonrpc2.ID]bool // calls written and not yet answered
}

func (s *stream) Read(ctx context.Context) (jsonrpc2.Message, int64, error) {
	for {
		data, n, err := s.in.Read()
		if err != nil {
			return nil, n, fmt.Errorf("lspclient: %w", err) // the agent must frame every message
		}
		msg, err := jsonrpc2.DecodeMessage(data)
		if err != nil {
			s.onOrphan(Message{Params: data, At: time.Now()})
			continue
		}
		if resp, ok := msg.(*jsonrpc2.Response); ok {
			s.mu.Lock()
			_, mine := s.sent[resp.ID()]
			delete(s.sent, resp.ID())
			s.mu.Unlock()
			if !mine {
				s.onOrphan(Message{Params: data, At: time.Now()})
				continue
			}
		}
		return msg, n, nil
	}
}

func (s *stream) Write(ctx context.Context, msg jsonrpc2.Message) (int64, error) {
	data, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	framed := frame.Append(nil, data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if call, ok := msg.(*jsonrpc2.Call); ok {
		if s.sent == nil {
			s.sent = make(map[jsonrpc2.ID]bool)
		}
		s.sent[call.ID()] = true
		s.nextID.Add(1)
	}
	n, err := s.out.Write(framed)
	return int64(n), err
}

func (s *stream) Close() error { return s.closer.Close() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 {
		return len(p), nil // keep the head; a runaway log must not eat memory
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
