package agent

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/servalhq/serval/server/api"
)

// StatusKind is the agent's connection state, as the editor shows it.
type StatusKind string

// The states. Only Ready and Slow send completion requests; the others
// answer empty at once until the health check (with backoff) says otherwise.
const (
	StatusStarting     StatusKind = "starting"
	StatusReady        StatusKind = "ready"
	StatusDisconnected StatusKind = "disconnected"
	StatusUnauthorized StatusKind = "unauthorized"
	StatusRateLimited  StatusKind = "rateLimited"
	StatusSlow         StatusKind = "slow"
	StatusNoModel      StatusKind = "noModel"
)

// Status is the state with a message for the user.
type Status struct {
	Kind    StatusKind `json:"status"`
	Message string     `json:"message,omitempty"`
}

// tokenHelp says how to fix an unauthorized status.
const tokenHelp = "the server rejected the token (or none is set): sign in from the editor (VS Code: Serval: Sign In; Neovim: :ServalSignIn; " +
	"JetBrains: Tools > Serval > Sign In), or create one on the server with `serval token create --name NAME` and set it as " +
	"[server] token in ~/.config/serval/agent.toml, SERVAL_TOKEN, or initializationOptions.server.token"

// busyMessage is the status message while the server answers 503 with
// Retry-After (overloaded).
const busyMessage = "the server is busy: completions pause for the few seconds it asks, then resume"

// Slow detection, as Tabby does it: the average of the last 10 latencies
// over 5 s, or more than half of them timed out.
const (
	slowWindow       = 10
	slowAverage      = 5 * time.Second
	healthBackoff0   = 500 * time.Millisecond
	healthBackoffMax = 5 * time.Second
	healthReadyPoll  = 30 * time.Second
)

// statusTracker holds the status and decides transitions.
type statusTracker struct {
	notify func(Status)
	// endpointHint says where the endpoint came from; added to "disconnected".
	endpointHint func() string

	mu         sync.Mutex
	cur        Status
	retryAfter time.Time // rate limited until
	lat        [slowWindow]time.Duration
	timedOut   [slowWindow]bool
	n          int
}

func (s *statusTracker) get() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// set changes the status and notifies on a change.
func (s *statusTracker) set(st Status) {
	if st.Kind == StatusDisconnected && s.endpointHint != nil {
		st.Message += " (" + s.endpointHint() + ")"
	}
	s.mu.Lock()
	changed := st != s.cur
	s.cur = st
	s.mu.Unlock()
	if changed && s.notify != nil {
		s.notify(st)
	}
}

// canRequest reports whether completions should go to the server now.
func (s *statusTracker) canRequest(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.cur.Kind {
	case StatusReady, StatusSlow, StatusStarting:
		return true
	case StatusRateLimited:
		return now.After(s.retryAfter)
	}
	return false
}

// observe records a completion's outcome and returns the status it implies
// (ok: no change implied).
func (s *statusTracker) observe(latency time.Duration, err error, now time.Time) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	timedOut := errors.Is(err, context.DeadlineExceeded)
	if err == nil || timedOut {
		s.lat[s.n%slowWindow] = latency
		s.timedOut[s.n%slowWindow] = timedOut
		s.n++
	}
	if err != nil && !timedOut {
		return errorStatus(err, now, &s.retryAfter)
	}
	n := min(s.n, slowWindow)
	var sum time.Duration
	var outs int
	for i := 0; i < n; i++ {
		sum += s.lat[i]
		if s.timedOut[i] {
			outs++
		}
	}
	if n >= 3 && (sum/time.Duration(n) > slowAverage || outs*2 > n) {
		return Status{Kind: StatusSlow, Message: "completions are slow: the server takes over 5 s on average or times out"}, true
	}
	return Status{Kind: StatusReady}, true
}

// errorStatus maps a request error to a status; ok is false for errors that
// say nothing about the server (a cancelled request, a garbled answer).
func errorStatus(err error, now time.Time, retryAfter *time.Time) (Status, bool) {
	if errors.Is(err, context.Canceled) {
		return Status{}, false
	}
	var se *api.StatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return Status{Kind: StatusUnauthorized, Message: tokenHelp}, true
		case http.StatusTooManyRequests:
			wait := se.RetryAfter
			if wait <= 0 {
				wait = 10 * time.Second
			}
			*retryAfter = now.Add(wait)
			return Status{Kind: StatusRateLimited, Message: "rate limited by the server; completions resume in " + wait.Round(time.Second).String()}, true
		case http.StatusServiceUnavailable:
			if se.RetryAfter <= 0 {
				return Status{}, false // no advice: the next request may fare better
			}
			// The server is overloaded and says for how long: ask nothing
			// until then (the cache and typed-ahead still answer), and say it
			// once, with a message that does not change with each wait.
			*retryAfter = now.Add(se.RetryAfter)
			return Status{Kind: StatusRateLimited, Message: busyMessage}, true
		case http.StatusNotImplemented:
			return Status{Kind: StatusNoModel, Message: "the server has no completion model configured"}, true
		}
		return Status{}, false
	}
	var stream *api.StreamError
	if errors.As(err, &stream) || errors.Is(err, api.ErrStreamTruncated) {
		return Status{}, false
	}
	if isDecodeError(err) {
		return Status{}, false
	}
	return Status{Kind: StatusDisconnected, Message: "cannot reach the server: " + err.Error()}, true
}

// healthStatus maps a health check's answer to a status.
func healthStatus(h *api.HealthState, err error) Status {
	if err != nil {
		if st, ok := errorStatus(err, time.Now(), new(time.Time)); ok {
			return st
		}
		return Status{Kind: StatusDisconnected, Message: "the server's health check failed: " + err.Error()}
	}
	if h.Model == "" || h.Device == "" {
		return Status{Kind: StatusNoModel, Message: "the server reports no completion model"}
	}
	return Status{Kind: StatusReady}
}
