// Package frame owns LSP's base protocol: messages framed by a
// Content-Length header. It is the one framer of the agent's LSP stream,
// the test client (integration/testsupport/lspclient) and serval-bench.
// The reader survives bad input: a header block without a usable length,
// or a message over the limit, is reported and reading goes on at the next
// message.
package frame

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxMessage bounds one message by default; a 50 MB document fits.
const MaxMessage = 256 << 20

// ErrNoLength means a header block had no usable Content-Length. The
// reader has moved past it; the next Read looks for the next message.
var ErrNoLength = errors.New("missing or invalid Content-Length header")

// TooLargeError means a message was longer than the reader's limit. Its
// body has been skipped; the next Read reads the next message.
type TooLargeError struct {
	Length, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes is over the %d byte limit", e.Length, e.Max)
}

// Reader reads framed messages.
type Reader struct {
	in  *bufio.Reader
	max int64
}

// NewReader returns a Reader of r with the MaxMessage limit.
func NewReader(r io.Reader) *Reader {
	return &Reader{in: bufio.NewReaderSize(r, 64<<10), max: MaxMessage}
}

// SetMax changes the longest message Read accepts.
func (r *Reader) SetMax(n int64) { r.max = n }

// Read returns the next message's body and the bytes read for it, header
// included. ErrNoLength and *TooLargeError leave the reader ready for the
// next message; any other error (io.EOF at a message boundary) ends it.
func (r *Reader) Read() (body []byte, n int64, err error) {
	length, n, err := r.readHeader()
	if err != nil {
		return nil, n, err
	}
	if length < 0 {
		return nil, n, ErrNoLength
	}
	if length > r.max {
		skipped, err := io.CopyN(io.Discard, r.in, length)
		n += skipped
		if err != nil {
			return nil, n, fmt.Errorf("skip oversized message: %w", err)
		}
		return nil, n, &TooLargeError{Length: length, Max: r.max}
	}
	body = make([]byte, length)
	read, err := io.ReadFull(r.in, body)
	n += int64(read)
	if err != nil {
		return nil, n, fmt.Errorf("read message: %w", err)
	}
	return body, n, nil
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
func (r *Reader) readHeader() (length, n int64, err error) {
	length = -1
	seen := false
	lines := 0
	for {
		line, ln, err := r.readLine()
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
func (r *Reader) readLine() (string, int64, error) {
	var n int64
	var tail []byte
	for {
		frag, err := r.in.ReadSlice('\n')
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

// Append appends body, framed, to buf: the Content-Length header, then the
// body. One Write of the result sends one whole message.
func Append(buf, body []byte) []byte {
	buf = append(buf, "Content-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...)
}
