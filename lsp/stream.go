package lsp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"go.lsp.dev/jsonrpc2"
)

// maxMessageBytes bounds one JSON-RPC message; a 50 MB document fits.
const maxMessageBytes = 256 << 20

// stream frames JSON-RPC messages with Content-Length headers, like
// jsonrpc2.NewStream, but survives bad input: a message that is not valid
// JSON-RPC gets a parse error (or invalid request) response and reading
// goes on, where jsonrpc2's stream would end the connection.
type stream struct {
	in     *bufio.Reader
	closer io.Closer

	mu  sync.Mutex // serializes writes
	out io.Writer
	buf []byte
}

func newStream(r io.Reader, w io.Writer, c io.Closer) *stream {
	return &stream{in: bufio.NewReaderSize(r, 64<<10), out: w, closer: c}
}

// Read returns the next valid message; only I/O errors end it.
func (s *stream) Read(ctx context.Context) (jsonrpc2.Message, int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		length, n, err := s.readHeader()
		if err != nil {
			return nil, n, err
		}
		if length < 0 {
			s.writeError(nil, jsonrpc2.ParseError, "missing or invalid Content-Length header")
			continue
		}
		if length > maxMessageBytes {
			if _, err := io.CopyN(io.Discard, s.in, length); err != nil {
				return nil, n, fmt.Errorf("skip oversized message: %w", err)
			}
			s.writeError(nil, jsonrpc2.InvalidRequest, fmt.Sprintf("message of %d bytes is over the %d byte limit", length, maxMessageBytes))
			continue
		}
		data := make([]byte, length)
		if _, err := io.ReadFull(s.in, data); err != nil {
			return nil, n, fmt.Errorf("read message: %w", err)
		}
		n += length
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

// Bounds of a header block. LSP headers are a line or two of a few dozen
// bytes; anything longer is garbage (the tail of a message whose
// Content-Length was wrong) and is skipped without being kept in memory.
const (
	maxHeaderLine  = 4 << 10
	maxHeaderLines = 32
)

// contentLengthHeader is searched case-insensitively inside header lines.
const contentLengthHeader = "content-length:"

// readHeader reads one header block; length is -1 when it has no usable
// Content-Length. Blank lines before a header are skipped. A
// "Content-Length:" found after garbage on a line starts the header there:
// when a Content-Length was too short, the rest of that message runs into
// the next header, and this is where the stream finds its footing again.
func (s *stream) readHeader() (length, n int64, err error) {
	length = -1
	seen := false
	lines := 0
	for {
		line, ln, err := s.readLine()
		n += ln
		if err != nil {
			if errors.Is(err, io.EOF) && n == 0 {
				return 0, n, io.EOF
			}
			return 0, n, fmt.Errorf("read header: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			if !seen {
				continue
			}
			return length, n, nil
		}
		if i := lastIndexFoldASCII(line, contentLengthHeader); i > 0 {
			line, length, lines = line[i:], -1, 0 // garbage before it: a new block starts here
		}
		seen = true
		lines++
		if lines > maxHeaderLines {
			length = -1
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			v, perr := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if perr == nil && v > 0 {
				length = v
			} else {
				length = -1
			}
		}
	}
}

// lastIndexFoldASCII is strings.LastIndex ignoring ASCII case; unlike
// lowering the line first, it keeps byte offsets valid whatever the bytes.
func lastIndexFoldASCII(s, lowerSub string) int {
	for i := len(s) - len(lowerSub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(lowerSub)], lowerSub) {
			return i
		}
	}
	return -1
}

// readLine reads one line and returns at most its last maxHeaderLine bytes
// (where a glued header would be); n counts every byte read.
func (s *stream) readLine() (string, int64, error) {
	var n int64
	var tail []byte
	for {
		frag, err := s.in.ReadSlice('\n')
		n += int64(len(frag))
		tail = append(tail, frag...)
		if len(tail) > maxHeaderLine {
			tail = append(tail[:0], tail[len(tail)-maxHeaderLine:]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return string(tail), n, err
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
	s.buf = append(s.buf[:0], "Content-Length: "...)
	s.buf = strconv.AppendInt(s.buf, int64(len(data)), 10)
	s.buf = append(s.buf, "\r\n\r\n"...)
	s.buf = append(s.buf, data...)
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
