package frame

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadFrames(t *testing.T) {
	in := "Content-Length: 2\r\nContent-Type: x\r\n\r\n{}content-length: 4\r\n\r\nnull"
	r := NewReader(strings.NewReader(in))
	for _, want := range []string{"{}", "null"} {
		got, _, err := r.Read()
		if err != nil || string(got) != want {
			t.Fatalf("frame %q, %v; want %q", got, err, want)
		}
	}
	if _, _, err := r.Read(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	for _, bad := range []string{"\r\nx\r\n\r\n", "Content-Length: -1\r\n\r\n", "Content-Length: x\r\n\r\n"} {
		if _, _, err := NewReader(strings.NewReader(bad)).Read(); !errors.Is(err, ErrNoLength) {
			t.Errorf("%q: %v, want ErrNoLength", bad, err)
		}
	}
	if _, _, err := NewReader(strings.NewReader("Content-Length: 10\r\n\r\n{}")).Read(); err == nil || errors.Is(err, ErrNoLength) {
		t.Errorf("truncated body: %v", err)
	}
}

// A header without a length and a message over the limit are reported,
// and the next message is read as if nothing had happened.
func TestReaderGoesOnAfterBadMessages(t *testing.T) {
	in := "Content-Type: x\r\n\r\n" + string(Append(nil, []byte(strings.Repeat("x", 100)))) + string(Append(nil, []byte("{}")))
	r := NewReader(strings.NewReader(in))
	r.SetMax(50)
	if _, _, err := r.Read(); !errors.Is(err, ErrNoLength) {
		t.Fatalf("first: %v, want ErrNoLength", err)
	}
	var tooLarge *TooLargeError
	if _, _, err := r.Read(); !errors.As(err, &tooLarge) || tooLarge.Length != 100 {
		t.Fatalf("second: %v, want TooLargeError of 100 bytes", err)
	}
	if body, _, err := r.Read(); err != nil || string(body) != "{}" {
		t.Fatalf("third: %q %v", body, err)
	}
}

func TestAppendRoundTrips(t *testing.T) {
	var buf []byte
	bodies := []string{"{}", "", `{"a":"日本"}`, strings.Repeat("y", 70000)}
	for _, b := range bodies {
		buf = Append(buf, []byte(b))
	}
	if !bytes.HasPrefix(buf, []byte("Content-Length: 2\r\n\r\n{}")) {
		t.Fatalf("framing %q", buf[:30])
	}
	r := NewReader(bytes.NewReader(buf))
	for _, want := range bodies {
		got, _, err := r.Read()
		if want == "" { // a zero length is no usable length
			if !errors.Is(err, ErrNoLength) {
				t.Fatalf("empty body: %v", err)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(want))
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("Content-Length: 2\r\n\r\n{}"))
	f.Add([]byte("garbageContent-Length: 3\r\n\r\nabc\r\n"))
	f.Add([]byte("Content-Length: 99999999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		r.SetMax(1 << 16)
		var total int64
		for range 100 {
			body, n, err := r.Read()
			total += n
			if total > int64(len(b)) {
				t.Fatalf("counted %d bytes read of %d", total, len(b))
			}
			var tooLarge *TooLargeError
			if errors.Is(err, ErrNoLength) || errors.As(err, &tooLarge) {
				continue
			}
			if err != nil {
				return
			}
			if int64(len(body)) > n {
				t.Fatalf("a body of %d bytes from %d bytes read", len(body), n)
			}
		}
	})
}
