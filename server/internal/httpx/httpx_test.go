package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
)

// Every route maps errors to statuses here; this is the table.
func TestFromError(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	gone := r.WithContext(cancelled)
	for _, c := range []struct {
		r       *http.Request
		err     error
		status  int
		param   string
		retry   time.Duration
		message string
	}{
		{r, BadRequest("x", "bad x"), 400, "x", 0, "bad x"},
		{r, fmt.Errorf("wrapped: %w", &prompt.FieldError{Field: "temperature", Reason: "too hot"}), 400, "temperature", 0, "temperature: too hot"},
		{r, engine.ErrQueueFull, 503, "", time.Second, "server busy"},
		{r, fmt.Errorf("pool: %w", engine.ErrUnavailable), 503, "", 5 * time.Second, "pool:"},
		{r, fmt.Errorf("%w: 9000 tokens", engine.ErrPromptTooLong), 400, "prompt", 0, "prompt: "},
		{gone, context.Canceled, StatusClientClosed, "", 0, ""},
		{r, context.DeadlineExceeded, 408, "", 0, "timed out"},
		{r, errors.New("boom"), 500, "", 0, "boom"},
	} {
		e := FromError(c.r, c.err, "prompt")
		if e.Status != c.status || e.Param != c.param || e.RetryAfter != c.retry || !strings.Contains(e.Message, c.message) {
			t.Errorf("%v: %+v", c.err, e)
		}
	}
}

func TestWriteErrorShapes(t *testing.T) {
	e := &Error{Status: 503, Message: "busy", RetryAfter: 1500 * time.Millisecond}
	w := httptest.NewRecorder()
	WriteError(w, Tabby, e)
	if w.Code != 503 || w.Header().Get("Retry-After") != "2" || strings.TrimSpace(w.Body.String()) != `{"error":"busy"}` {
		t.Errorf("tabby: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, OpenAI, BadRequest("top_p", "top_p: <= 1"))
	var o OpenAIError
	if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil || o.Error.Type != "invalid_request_error" || o.Error.Param != "top_p" || o.Error.Message != "top_p: <= 1" {
		t.Errorf("openai: %s", w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, Llama, e)
	if w.Code != 503 || strings.TrimSpace(w.Body.String()) != `{"error":{"code":503,"message":"busy","type":"unavailable_error"}}` {
		t.Errorf("llama: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, OpenAI, &Error{Status: StatusClientClosed})
	if w.Code != StatusClientClosed || w.Body.Len() != 0 {
		t.Errorf("client gone: %d %q", w.Code, w.Body)
	}
}

func TestEvents(t *testing.T) {
	w := httptest.NewRecorder()
	ev := NewEvents(w)
	if ev.Started() {
		t.Fatal("started before the first event")
	}
	ev.Send(map[string]string{"text": "<a>"})
	ev.Done()
	if w.Header().Get("Content-Type") != "text/event-stream" || w.Body.String() != "data: {\"text\":\"<a>\"}\n\ndata: [DONE]\n\n" || !w.Flushed {
		t.Errorf("%q %q", w.Header().Get("Content-Type"), w.Body)
	}
}
