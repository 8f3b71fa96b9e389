// Package completiontest provides a scripted engine.Engine for tests and
// benchmarks of the layers above the engine (the completion service and the
// HTTP API): it answers instantly with fixed text, so what is measured or
// checked is the server's own work.
package completiontest

import (
	"context"
	"sync"
	"time"

	"github.com/servalhq/serval/server/engine"
)

// Engine is a scripted engine. Set its fields before use; it is safe for
// concurrent Complete calls.
type Engine struct {
	// Deltas are emitted in order by every Complete call.
	Deltas []string
	// Script, when set, gives the deltas of each request instead of
	// Deltas (to tell candidates apart by their seeds, say).
	Script func(req engine.Request) []string
	// Usage is returned by Complete (StopReason defaults to "eos").
	Usage engine.Usage
	// Err, when set, is returned at once, before anything is emitted.
	Err error
	// Hold, when not nil, makes Complete wait after the first delta until
	// Hold is closed or ctx is done (to test cancellation).
	Hold chan struct{}
	// Model names the engine in Info.
	Model string
	// Queued is the number of waiting requests Info reports.
	Queued int

	mu       sync.Mutex
	requests []engine.Request
	inFlight int
	released int // Generate calls that returned
}

// Generate emits Deltas through emit.
func (e *Engine) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	e.mu.Lock()
	e.requests = append(e.requests, req)
	e.inFlight++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inFlight--
		e.released++
		e.mu.Unlock()
	}()
	u := e.Usage
	if u.StopReason == "" {
		u.StopReason = engine.StopEOS
	}
	if e.Err != nil {
		u.StopReason = engine.StopError
		return u, e.Err
	}
	deltas := e.Deltas
	if e.Script != nil {
		deltas = e.Script(req)
	}
	for i, d := range deltas {
		if err := ctx.Err(); err != nil {
			u.StopReason = engine.StopCancelled
			return u, err
		}
		if err := emit(d); err != nil {
			u.StopReason = engine.StopWord
			return u, err
		}
		if i == 0 && e.Hold != nil {
			select {
			case <-e.Hold:
			case <-ctx.Done():
				u.StopReason = engine.StopCancelled
				return u, ctx.Err()
			}
		}
	}
	return u, nil
}

// Info describes the fake engine.
func (e *Engine) Info() engine.Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	model := e.Model
	if model == "" {
		model = "fake"
	}
	return engine.Info{Model: model, Device: "cpu", ContextSize: 2048, Slots: 1, Busy: e.inFlight, Queued: e.Queued, MaxQueue: 4}
}

// Close does nothing.
func (e *Engine) Close() error { return nil }

// Requests returns the requests received so far.
func (e *Engine) Requests() []engine.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.Request(nil), e.requests...)
}

// InFlight returns how many Complete calls are running.
func (e *Engine) InFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inFlight
}

// WaitIdle waits until no Complete call runs and at least n have returned,
// or timeout passes; it reports whether that happened.
func (e *Engine) WaitIdle(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		ok := e.inFlight == 0 && e.released >= n
		e.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
