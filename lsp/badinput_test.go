package lsp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
)

func TestHugeAndBinaryDocumentsGetNoCompletion(t *testing.T) {
	f := newFakeServer(t, "should not be asked")
	s := newSession(t, f.URL)
	s.initialize(nil, true)
	size := 50 << 20
	if raceEnabled {
		size = 12 << 20 // still over the 8 MB limit
	}
	huge := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", size/64)
	s.open("file:///huge.txt", "plaintext", huge)
	s.open("file:///bin.dat", "plaintext", "ELF\x00\x01\x02 binary")
	for _, uri := range []string{"file:///huge.txt", "file:///bin.dat"} {
		s.insert(uri, 2, 0, 1, "x")
		res, err := s.inline(uri, 0, 2, 1)
		if err != nil || len(res.Items) != 0 {
			t.Fatalf("%s: %+v %v", uri, res, err)
		}
	}
	if f.completes.Load() != 0 {
		t.Fatalf("%d completion requests for huge/binary documents", f.completes.Load())
	}
	// The huge document stays in sync.
	d := s.server.Store().Get("file:///huge.txt")
	if len(d.Text) != len(huge)+1 || !d.Oversized || d.Text[1] != 'x' {
		t.Fatalf("huge document: %d bytes, oversized %v", len(d.Text), d.Oversized)
	}
}

func TestRapidEditsKeepGoroutinesBounded(t *testing.T) {
	f := newFakeServer(t, "x")
	f.block.Store(true) // every request that reaches the server hangs until cancelled
	s := newSession(t, f.URL)
	s.initialize(nil, true)
	uri := "file:///rapid.go"
	s.open(uri, "go", "package rapid\n\n")
	base := runtime.NumGoroutine()
	ctx := ctxT(t)
	peak := 0
	for i := 0; i < 10000; i++ {
		pos := protocol.Position{Line: 2, Character: uint32(i)}
		s.insert(uri, 2+i, 2, uint32(i), "a")
		if i%10 == 0 {
			// An automatic request now and then, never awaited (as editors do).
			s.client.CallAsync(ctx, MethodInlineCompletion, map[string]any{
				"textDocument": map[string]any{"uri": uri},
				"position":     protocol.Position{Line: pos.Line, Character: pos.Character + 1},
				"context":      map[string]any{"triggerKind": 2}}, nil)
		}
		if i%1000 == 0 {
			peak = max(peak, runtime.NumGoroutine())
		}
	}
	// A final request answers normally once the server does.
	f.block.Store(false)
	res, err := s.inline(uri, 2, 10000, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = res
	if d := s.server.Store().Get(uri); len(d.Text) != len("package rapid\n\n")+10000 {
		t.Fatalf("document out of sync: %d bytes", len(d.Text))
	}
	t.Logf("goroutines: %d at start, peak %d", base, peak)
	// Each pending request costs a few goroutines (the test client's own
	// waiters included); 1,000 requests were sent, so unbounded growth would
	// show thousands.
	if peak > base+maxConcurrentCompletions*4+200 {
		t.Fatalf("goroutines grew from %d to %d", base, peak)
	}
}

// FuzzServerInput feeds arbitrary bytes to the server after a valid
// initialize: it must neither panic nor stop answering.
func FuzzServerInput(f *testing.F) {
	f.Add([]byte("Content-Length: 5\r\n\r\n{\"a\":"))
	f.Add([]byte("Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}"))
	f.Add([]byte("Content-Length: -1\r\n\r\n"))
	f.Add([]byte("\r\n\r\n\r\nContent-Length: 2\r\n\r\n[]"))
	f.Add([]byte(`Content-Length: 95` + "\r\n\r\n" + `{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"contentChanges":[{"range":7}]}}`))
	f.Fuzz(func(t *testing.T, input []byte) {
		a, err := agent.New(agent.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		srv := NewServer(a, Options{})
		init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}`
		open := `{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///f","languageId":"go","version":1,"text":"a\nb"}}}`
		final := `{"jsonrpc":"2.0","id":99,"method":"shutdown"}`
		var in bytes.Buffer
		for _, m := range []string{init, open} {
			fmt.Fprintf(&in, "Content-Length: %d\r\n\r\n%s", len(m), m)
		}
		in.Write(input)
		// Whatever the input left half-read, a well-formed shutdown follows
		// on a fresh header once the input is consumed.
		fmt.Fprintf(&in, "\r\n\r\nContent-Length: %d\r\n\r\n%s", len(final), final)
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Run(ctx, io.NopCloser(&in), &out, nil)
		if ctx.Err() != nil {
			t.Fatal("server hung on input")
		}
	})
}
