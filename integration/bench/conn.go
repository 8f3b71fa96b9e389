package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/servalhq/serval/lsp/frame"
)

// conn is the editor's end of a JSON-RPC 2.0 connection over stdio with
// LSP's Content-Length framing. It stamps every response with the time it
// was read, so latencies do not include the bench's own scheduling.
type conn struct {
	w  io.Writer
	wm sync.Mutex // serializes writes

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan response // guarded by mu
	closed  error                   // guarded by mu; set when the read loop ends

	// log, when set, gets every message in both directions (--lsp-log).
	log   io.Writer
	logMu sync.Mutex
	start time.Time
}

func (c *conn) logMessage(dir string, body []byte) {
	if c.log == nil {
		return
	}
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.log, "%9.3f %s %s\n", time.Since(c.start).Seconds(), dir, body)
}

type response struct {
	Result   json.RawMessage
	Err      *rpcError
	Received time.Time
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("LSP error %d: %s", e.Code, e.Message) }

type wireMessage struct {
	JSONRPC string           `json:"jsonrpc"`
	ID      *json.RawMessage `json:"id,omitempty"`
	Method  string           `json:"method,omitempty"`
	Params  json.RawMessage  `json:"params,omitempty"`
	Result  json.RawMessage  `json:"result,omitempty"`
	Error   *rpcError        `json:"error,omitempty"`
}

func newConn(w io.Writer) *conn {
	return &conn{w: w, pending: map[int64]chan response{}, start: time.Now()}
}

// readLoop reads messages until r fails; it owns r. It returns the error
// that ended it (io.EOF when the agent closed its stdout).
func (c *conn) readLoop(r io.Reader) error {
	frames := frame.NewReader(r)
	for {
		body, _, err := frames.Read()
		var tooLarge *frame.TooLargeError
		if errors.Is(err, frame.ErrNoLength) || errors.As(err, &tooLarge) {
			continue // a broken message from the agent is its problem; keep reading
		}
		if err != nil {
			c.mu.Lock()
			c.closed = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return err
		}
		now := time.Now()
		c.logMessage("<-", body)
		var m wireMessage
		if err := json.Unmarshal(body, &m); err != nil {
			continue // a broken message from the agent is its problem; keep reading
		}
		switch {
		case m.Method != "" && m.ID != nil:
			// A request from the agent (workspace/configuration,
			// client/registerCapability, ...): the editor says "nothing".
			c.reply(*m.ID, m.Method)
		case m.Method != "":
			// Notifications (serval/status, window/logMessage): the bench measures, it does not show.
		case m.ID != nil:
			id, err := strconv.ParseInt(string(*m.ID), 10, 64)
			if err != nil {
				continue
			}
			c.mu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- response{Result: m.Result, Err: m.Error, Received: now}
			}
		}
	}
}

func (c *conn) reply(id json.RawMessage, method string) {
	var result any
	if method == "workspace/configuration" {
		result = []any{}
	}
	msg := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, result}
	_ = c.write(msg) // a failed write shows up as a closed connection on the next request
}

func (c *conn) write(msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	c.logMessage("->", body)
	c.wm.Lock()
	defer c.wm.Unlock()
	_, err = c.w.Write(frame.Append(nil, body))
	return err
}

// Notify sends a notification.
func (c *conn) Notify(method string, params any) error {
	return c.write(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", method, params})
}

// Start sends a request and returns its id and a channel that gets the
// response (or is closed if the connection ends first).
func (c *conn) Start(method string, params any) (int64, <-chan response, error) {
	c.mu.Lock()
	if c.closed != nil {
		err := c.closed
		c.mu.Unlock()
		return 0, nil, fmt.Errorf("agent connection closed: %w", err)
	}
	c.nextID++
	id := c.nextID
	ch := make(chan response, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	err := c.write(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      int64  `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", id, method, params})
	if err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return 0, nil, fmt.Errorf("send %s: %w", method, err)
	}
	return id, ch, nil
}

// Cancel sends $/cancelRequest for id.
func (c *conn) Cancel(id int64) error {
	return c.Notify("$/cancelRequest", map[string]int64{"id": id})
}

// Call sends a request and waits for its response.
func (c *conn) Call(ctx context.Context, method string, params, result any) error {
	id, ch, err := c.Start(method, params)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		_ = c.Cancel(id)
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case resp, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: agent connection closed", method)
		}
		if resp.Err != nil {
			return fmt.Errorf("%s: %w", method, resp.Err)
		}
		if result != nil && len(resp.Result) > 0 {
			if err := json.Unmarshal(resp.Result, result); err != nil {
				return fmt.Errorf("%s: decode result: %w", method, err)
			}
		}
		return nil
	}
}
