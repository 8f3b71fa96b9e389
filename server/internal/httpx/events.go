package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"net/http"
)

// Events writes server-sent events ("data: <json>" and a blank line), each
// flushed at once. The response (200, text/event-stream) starts with the
// first event, so an error before it still gets a real status.
type Events struct {
	w       http.ResponseWriter
	started bool
	buf     bytes.Buffer
}

// NewEvents returns an event writer on w; nothing is written yet.
func NewEvents(w http.ResponseWriter) *Events { return &Events{w: w} }

// Started reports whether the response has begun.
func (e *Events) Started() bool { return e.started }

// Start sends the response header if it was not sent yet.
func (e *Events) Start() {
	if e.started {
		return
	}
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	e.w.WriteHeader(http.StatusOK)
}

// Send writes v as one event.
func (e *Events) Send(v any) error {
	e.Start()
	e.buf.Reset()
	e.buf.WriteString("data: ")
	enc := json.NewEncoder(&e.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends the line with \n
		return err
	}
	e.buf.WriteByte('\n')
	return e.write(e.buf.Bytes())
}

// Done ends the stream with "data: [DONE]".
func (e *Events) Done() error {
	e.Start()
	return e.write([]byte("data: [DONE]\n\n"))
}

func (e *Events) write(b []byte) error {
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := http.NewResponseController(e.w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}
