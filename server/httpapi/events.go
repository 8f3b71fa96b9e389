package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/store"
)

// Bounds of the /v1/events fields: every one is stored and later printed
// by `serval stats`, so none may be large or carry control characters.
const (
	maxEventIDBytes       = 128 // completion_id, view_id (Tabby's are ~40)
	maxEventLanguageBytes = 64
	maxEventKindBytes     = 32 // select_kind ("line")
	maxEventChoiceIndex   = 1024
	maxEventElapsed       = 24 * time.Hour
)

// checkEvent rejects an event with a field out of bounds, naming the field.
func checkEvent(ev *api.LogEventRequest) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"completion_id", ev.CompletionID, maxEventIDBytes},
		{"view_id", ev.ViewID, maxEventIDBytes},
		{"language", ev.Language, maxEventLanguageBytes},
		{"select_kind", ev.SelectKind, maxEventKindBytes},
	} {
		if len(f.value) > f.max {
			return httpx.BadRequest("", fmt.Sprintf("%s: %d bytes, over the %d-byte limit", f.name, len(f.value), f.max))
		}
		for _, c := range []byte(f.value) {
			if c < 0x21 || c > 0x7e {
				return httpx.BadRequest("", fmt.Sprintf("%s: only printable ASCII without spaces is accepted", f.name))
			}
		}
	}
	if ev.ChoiceIndex < 0 || ev.ChoiceIndex >= maxEventChoiceIndex {
		return httpx.BadRequest("", fmt.Sprintf("choice_index: %d is outside 0..%d", ev.ChoiceIndex, maxEventChoiceIndex-1))
	}
	if ev.Elapsed != nil && (*ev.Elapsed < 0 || *ev.Elapsed > maxEventElapsed.Milliseconds()) {
		return httpx.BadRequest("", fmt.Sprintf("elapsed: %d ms is outside 0..%d", *ev.Elapsed, maxEventElapsed.Milliseconds()))
	}
	return nil
}

// eventSink accounts for events the store could not take (a full disk, a
// read-only or broken data directory). Events are the least important
// writes: completions go on, the client gets a 503 it may ignore, the
// drop is counted, and the outage is logged once when it starts and once
// when it ends, not once per event.
type eventSink struct {
	log     *slog.Logger
	counter prometheus.Counter

	mu      sync.Mutex
	failing bool
}

func newEventSink(reg *prometheus.Registry, log *slog.Logger) *eventSink {
	e := &eventSink{log: log, counter: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "serval_events_dropped_total",
		Help: "Events (/v1/events) that could not be stored, for example on a full disk.",
	})}
	reg.MustRegister(e.counter)
	return e
}

// dropped counts an event the store refused and answers 503.
func (e *eventSink) dropped(w http.ResponseWriter, err error) {
	e.counter.Inc()
	e.mu.Lock()
	first := !e.failing
	e.failing = true
	e.mu.Unlock()
	if first {
		e.log.Error("events are not being stored (dropped and counted in serval_events_dropped_total until the store takes writes again); completions are unaffected", "err", err)
	}
	msg := "event not stored: the server cannot write to its data directory now; completions are unaffected"
	if errors.Is(err, store.ErrUnavailable) {
		msg = "event not stored: the server's database is unavailable; completions are unaffected"
	}
	w.Header().Set("Retry-After", "60")
	writeError(w, http.StatusServiceUnavailable, msg)
}

// stored notes a successful write, ending an outage.
func (e *eventSink) stored() {
	e.mu.Lock()
	recovered := e.failing
	e.failing = false
	e.mu.Unlock()
	if recovered {
		e.log.Info("events are stored again")
	}
}
