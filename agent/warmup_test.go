package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// warmOutcomes makes a's warm-ups report their outcome on the returned channel.
func warmOutcomes(a *Agent) chan error {
	ch := make(chan error, 4)
	a.warm.mu.Lock()
	a.warm.done = func(_ string, err error) { ch <- err }
	a.warm.mu.Unlock()
	return ch
}

func waitOutcome(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the warm-up never ended")
		return nil
	}
}

var warmDoc = Document{URI: "file:///tmp/w.go", LanguageID: "go", Version: 1, Text: []byte("package w\n\nfunc f() {\n\t\n}\n")}

func TestWarmSendsTheCompletionsPrompt(t *testing.T) {
	srv := newTestServer(t, "x")
	a := newTestAgent(t, srv.URL, Config{})
	done := warmOutcomes(a)
	a.DidOpen(warmDoc)
	off := strings.Index(string(warmDoc.Text), "\t\n") + 1
	a.Warm(warmDoc, off)
	if err := waitOutcome(t, done); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	last := srv.last
	srv.mu.Unlock()
	if srv.requests.Load() != 1 || !last.Warmup || last.Segments == nil || last.Segments.Prefix != string(warmDoc.Text[:off]) {
		t.Fatalf("%d requests, last %+v", srv.requests.Load(), last)
	}
	// The completion at that place then asks for the same prompt, not a warm-up.
	if _, err := a.Suggest(t.Context(), Request{Document: warmDoc, Offset: off, Trigger: Invoked}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	real := srv.last
	srv.mu.Unlock()
	if real.Warmup || real.Segments.Prefix != last.Segments.Prefix || real.Segments.Suffix != last.Segments.Suffix {
		t.Errorf("completion %+v after warm-up %+v", real.Segments, last.Segments)
	}
}

func TestWarmOfAChangedDocumentIsDropped(t *testing.T) {
	srv := newTestServer(t, "x")
	a := newTestAgent(t, srv.URL, Config{})
	done := warmOutcomes(a)
	a.DidOpen(warmDoc)
	v2 := warmDoc
	v2.Version, v2.Text = 2, append([]byte("// edited\n"), warmDoc.Text...)
	a.DidChange(v2, []Edit{{StartByte: 0, OldEndByte: 0, NewEndByte: 10}})
	a.Warm(warmDoc, 3) // the editor's focus event for the old text
	if err := waitOutcome(t, done); !errors.Is(err, errEdited) {
		t.Fatalf("outcome %v, want %v", err, errEdited)
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests for a stale document", n)
	}
}

func TestWarmCancelledByTypingAndByCompletions(t *testing.T) {
	srv := newTestServer(t, "x")
	srv.block = make(chan struct{})
	defer close(srv.block)
	a := newTestAgent(t, srv.URL, Config{})
	done := warmOutcomes(a)
	a.DidOpen(warmDoc)
	atServer := func(n int32) {
		for i := 0; i < 5000 && srv.requests.Load() < n; i++ {
			time.Sleep(2 * time.Millisecond)
		}
	}

	a.Warm(warmDoc, 3)
	atServer(1)
	v2 := warmDoc
	v2.Version = 2
	a.DidChange(v2, []Edit{{StartByte: 3, OldEndByte: 3, NewEndByte: 4}})
	if err := waitOutcome(t, done); !errors.Is(err, errEdited) {
		t.Fatalf("typing: outcome %v", err)
	}

	a.Warm(v2, 3)
	atServer(2)
	go a.Suggest(t.Context(), Request{Document: v2, Offset: 4, Trigger: Invoked})
	if err := waitOutcome(t, done); !errors.Is(err, errWarmReplaced) {
		t.Fatalf("completion: outcome %v", err)
	}
	for i := 0; i < 5000 && srv.cancelled.Load() < 2; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if srv.cancelled.Load() < 2 {
		t.Errorf("%d warm-up requests aborted at the server, want 2", srv.cancelled.Load())
	}
}

func TestWarmupCanBeTurnedOff(t *testing.T) {
	srv := newTestServer(t, "x")
	off := false
	a := newTestAgent(t, srv.URL, Config{Completion: CompletionConfig{Warmup: &off}})
	a.DidOpen(warmDoc)
	a.Warm(warmDoc, 3)
	a.warm.mu.Lock()
	started := a.warm.cancel != nil
	a.warm.mu.Unlock()
	if started {
		t.Error("a warm-up started with warm-ups off")
	}
}
