package lsp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"go.lsp.dev/jsonrpc2"
)

func framed(body string) string { return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body) }

// readCalls reads every message of input and returns the ids of the calls
// among them and the error responses the stream wrote back.
func readCalls(t *testing.T, input io.Reader) (ids []string, errorsWritten int) {
	t.Helper()
	var out bytes.Buffer
	s := newStream(input, &out, nil)
	for range 100 {
		msg, _, err := s.Read(context.Background())
		if err != nil {
			break
		}
		if c, ok := msg.(*jsonrpc2.Call); ok {
			ids = append(ids, fmt.Sprint(c.ID()))
		}
	}
	return ids, strings.Count(out.String(), `"error"`)
}

// A wrong Content-Length costs the message it belongs to, not the session:
// the stream finds the next header and goes on.
func TestStreamResynchronisesAfterWrongLength(t *testing.T) {
	call := func(id int) string { return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, id) }
	for _, tt := range []struct {
		name, input, want string
	}{
		{"too short", "Content-Length: 10\r\n\r\n" + call(1) + framed(call(2)) + framed(call(3)), "[2 3]"},
		{"too long", fmt.Sprintf("Content-Length: %d\r\n\r\n", len(call(1))+5) + call(1) + framed(call(2)) + framed(call(3)) + framed(call(4)), "[1 3 4]"},
		{"garbage", "\x00\x01 not a header at all\r\n\r\n" + framed(call(2)) + framed(call(3)), "[2 3]"},
	} {
		ids, errs := readCalls(t, strings.NewReader(tt.input))
		if fmt.Sprint(ids) != tt.want {
			t.Errorf("%s: read calls %v, want %s: the calls after the bad message were lost", tt.name, ids, tt.want)
		}
		if errs == 0 {
			t.Errorf("%s: no error response for the bad message", tt.name)
		}
	}
}

// endless yields n bytes of 'a' without holding them, then tail.
type endless struct {
	n    int
	tail io.Reader
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		return e.tail.Read(p)
	}
	k := min(len(p), e.n)
	for i := range k {
		p[i] = 'a'
	}
	e.n -= k
	return k, nil
}

// A 64 MiB header line is skipped without being held in memory, and the
// message after it is read.
func TestStreamHugeHeaderLineStaysSmall(t *testing.T) {
	input := &endless{n: 64 << 20, tail: strings.NewReader("\r\n\r\n" + framed(`{"jsonrpc":"2.0","id":7,"method":"ping"}`))}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ids, _ := readCalls(t, input)
	runtime.ReadMemStats(&after)
	if len(ids) != 1 || ids[0] != "7" {
		t.Errorf("calls after the huge line: %v", ids)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("reading a 64 MiB header line allocated %d MiB", grown>>20)
	}
}

func FuzzStreamRead(f *testing.F) {
	f.Add([]byte(framed(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)))
	f.Add([]byte("Content-Length: 3\r\n\r\n{}}Content-Length: 2\r\n\r\n{}"))
	f.Add([]byte("content-length:-1\r\nX: y\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever comes before it, a well-framed call on a fresh line is read.
		input := io.MultiReader(bytes.NewReader(data), strings.NewReader("\r\n\r\n"+framed(`{"jsonrpc":"2.0","id":424242,"method":"ping"}`)))
		var out bytes.Buffer
		s := newStream(input, &out, nil)
		for range 10000 {
			msg, _, err := s.Read(context.Background())
			if err != nil {
				return // the fuzz data announced more bytes than exist: EOF is right
			}
			if c, ok := msg.(*jsonrpc2.Call); ok && fmt.Sprint(c.ID()) == "424242" {
				return
			}
		}
		t.Fatal("reading never ended")
	})
}
