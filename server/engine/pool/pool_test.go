package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// fakeUpstream is a scripted member: it fails while down, can fail after
// emitting text, and counts the requests it served.
type fakeUpstream struct {
	name      string
	down      atomic.Bool
	failAfter atomic.Bool // emit one piece, then fail
	served    atomic.Int64
	inFlight  atomic.Int64
	block     chan struct{} // when set, Complete waits on it (to hold load)
}

func (f *fakeUpstream) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	if f.down.Load() {
		return engine.Usage{}, fmt.Errorf("%s: %w: connection refused", f.name, engine.ErrUnavailable)
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return engine.Usage{}, ctx.Err()
		}
	}
	if err := emit(f.name); err != nil {
		return engine.Usage{}, err
	}
	if f.failAfter.Load() {
		return engine.Usage{}, fmt.Errorf("%s: %w: closed mid-stream", f.name, engine.ErrUnavailable)
	}
	f.served.Add(1)
	return engine.Usage{GeneratedTokens: 1}, nil
}

func (f *fakeUpstream) Check(context.Context) error {
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}
func (f *fakeUpstream) Info() engine.Info { return engine.Info{Model: "m"} }
func (f *fakeUpstream) Close() error      { return nil }
func (f *fakeUpstream) Name() string      { return f.name }
func (f *fakeUpstream) InFlight() int     { return int(f.inFlight.Load()) }

func newPool(t *testing.T, ups ...*fakeUpstream) *Pool {
	t.Helper()
	var ms []Member
	for _, u := range ups {
		ms = append(ms, u)
	}
	p, err := New(context.Background(), ms, Config{CheckInterval: 50 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func complete(p *Pool) (string, engine.Usage, error) {
	got := ""
	u, err := p.Generate(context.Background(), engine.Request{Prompt: "x"}, func(s string) error { got += s; return nil })
	return got, u, err
}

func healthy(p *Pool) map[string]bool {
	m := map[string]bool{}
	for _, u := range p.Info().Upstreams {
		m[u.Name] = u.Healthy
	}
	return m
}

// waitFor polls cond for up to 30 s (generous: a loaded machine is slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDownAtStartIsReportedAndSkipped(t *testing.T) {
	a, b := &fakeUpstream{name: "a"}, &fakeUpstream{name: "b"}
	a.down.Store(true)
	p := newPool(t, a, b)
	if h := healthy(p); h["a"] || !h["b"] {
		t.Fatalf("health after start: %v", h)
	}
	for i := 0; i < 5; i++ {
		if got, u, err := complete(p); err != nil || got != "b" || u.Upstream != "b" {
			t.Fatalf("request %d: %q %+v %v", i, got, u, err)
		}
	}
}

func TestFailoverRetriesOnceBeforeAnyText(t *testing.T) {
	a, b := &fakeUpstream{name: "a"}, &fakeUpstream{name: "b"}
	p := newPool(t, a, b)
	a.down.Store(true) // dies after the health check saw it alive
	b.down.Store(false)
	for i := 0; i < 4; i++ {
		if got, _, err := complete(p); err != nil || got != "b" {
			t.Fatalf("request %d: %q %v", i, got, err)
		}
	}
	if h := healthy(p); h["a"] {
		t.Fatalf("a still healthy after failing: %v", h)
	}
	// It rejoins once its check passes after the backoff.
	a.down.Store(false)
	waitFor(t, "a to rejoin", func() bool { return healthy(p)["a"] })
}

func TestNoRetryAfterText(t *testing.T) {
	a := &fakeUpstream{name: "a"} // ties go to the first member, so a is picked
	a.failAfter.Store(true)
	b := &fakeUpstream{name: "b"}
	p := newPool(t, a, b)
	got, _, err := complete(p)
	if err == nil || got != "a" || b.served.Load() != 0 {
		t.Fatalf("got %q, err %v, b served %d: a failure after text must not be retried (the client already has text)", got, err, b.served.Load())
	}
}

func TestAllDownIsUnavailable(t *testing.T) {
	a, b := &fakeUpstream{name: "a"}, &fakeUpstream{name: "b"}
	a.down.Store(true)
	b.down.Store(true)
	p := newPool(t, a, b)
	if _, _, err := complete(p); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	b.down.Store(false)
	waitFor(t, "b to come back", func() bool { _, _, err := complete(p); return err == nil })
}

func TestLeastLoaded(t *testing.T) {
	a, b := &fakeUpstream{name: "a", block: make(chan struct{})}, &fakeUpstream{name: "b", block: make(chan struct{})}
	p := newPool(t, a, b)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); complete(p) }()
		waitFor(t, "request to start", func() bool { return a.InFlight()+b.InFlight() == i+1 })
	}
	if a.InFlight() != 3 || b.InFlight() != 3 {
		t.Fatalf("in flight a=%d b=%d, want 3 each", a.InFlight(), b.InFlight())
	}
	close(a.block)
	close(b.block)
	wg.Wait()
}

func TestCloseStopsChecks(t *testing.T) {
	before := runtime.NumGoroutine()
	a := &fakeUpstream{name: "a"}
	p, err := New(context.Background(), []Member{a}, Config{CheckInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
