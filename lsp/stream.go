package lsp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.lsp.dev/jsonrpc2"

	"github.com/servalhq/serval/lsp/frame"
)

// stream frames JSON-RPC messages with Content-Length headers (package
// frame), like jsonrpc2.NewStream, but survives bad input: a message that is
// not valid JSON-RPC gets a parse error (or invalid request) response and
// reading goes on, where jsonrpc2's stream would end the connection.
type stream struct {
	in     *frame.Reader
	closer io.Closer

	mu  sync.Mutex // serializes writes
	out io.Writer
	buf []byte
}

func newStream(r io.Reader, w io.Writer, c io.Closer) *stream {
	return &stream{in: frame.NewReader(r), out: w, closer: c}
}

// Read returns the next valid message; only I/O errors end it.
func (s *stream) Read(ctx context.Context) (jsonrpc2.Message, int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		data, n, err := s.in.Read()
		var tooLarge *frame.TooLargeError
		switch {
		case errors.Is(err, frame.ErrNoLength):
			s.writeError(nil, jsonrpc2.ParseError, err.Error())
			continue
		case errors.As(err, &tooLarge):
			s.writeError(nil, jsonrpc2.InvalidRequest, err.Error())
			continue
		case err != nil:
			return nil, n, err
		}
		msg, err := jsonrpc2.DecodeMessage(data)
		if err == nil {
			if _, isResponse := msg.(*jsonrpc2.Response); !isResponse || isResponseShaped(data) {
				return msg, n, nil
			}
			err = errors.New("a message with an id needs a method, a result or an error")
		}
		if !json.Valid(data) {
			s.writeError(nil, jsonrpc2.ParseError, "parse error: "+err.Error())
			continue
		}
		var probe struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(data, &probe) // may fail on a JSON array; then the id stays null
		s.writeError(probe.ID, jsonrpc2.InvalidRequest, "invalid request: "+err.Error())
	}
}

// Write sends one message.
func (s *stream) Write(ctx context.Context, msg jsonrpc2.Message) (int64, error) {
	data, err := json.Marshal(msg)
	if err != nil {
		return 0, fmt.Errorf("marshal message: %w", err)
	}
	return s.writeRaw(data)
}

func (s *stream) writeRaw(data []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = frame.Append(s.buf[:0], data)
	n, err := s.out.Write(s.buf)
	if cap(s.buf) > 1<<20 {
		s.buf = nil // don't hold on to a large answer's buffer
	}
	if err != nil {
		return int64(n), fmt.Errorf("write message: %w", err)
	}
	return int64(n), nil
}

// writeError answers a bad message; id is the raw id or nil for null.
func (s *stream) writeError(id json.RawMessage, code jsonrpc2.Code, message string) {
	if len(id) == 0 || !(id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')) {
		id = json.RawMessage("null")
	}
	resp := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   jsonrpc2.Error  `json:"error"`
	}{"2.0", id, jsonrpc2.Error{Code: code, Message: message}}
	data, err := json.Marshal(resp)
	if err != nil {
		return
	}
	_, _ = s.writeRaw(bytes.Clone(data))
}

// Close closes the underlying connection.
func (s *stream) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// isResponseShaped reports whether a message without a method carries a
// result or an error, as a response must.
func isResponseShaped(data []byte) bool {
	var probe struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	return json.Unmarshal(data, &probe) == nil && (len(probe.Result) > 0 || len(probe.Error) > 0)
}
