// Package httpx is the one place Serval's HTTP routes decode JSON bodies,
// write JSON answers, stream server-sent events, and turn errors into status
// codes and error bodies. Each API family answers errors in its own Shape
// (Tabby's {"error": "..."} or OpenAI's {"error": {"message", "type",
// "param"}}), so a client of /openai/* parses every error it gets, auth and
// rate-limit errors included.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/prompt"
	"github.com/servalhq/serval/server/store"
)

// Shape is how an error body is written.
type Shape int

const (
	// Tabby is {"error": "message"} (Tabby's API and Serval's /v1 routes).
	Tabby Shape = iota
	// OpenAI is {"error": {"message": ..., "type": ..., "param": ...}}.
	OpenAI
	// Llama is llama.cpp server's {"error": {"code": 400, "message": ..., "type": ...}} (/infill).
	Llama
)

// StatusClientClosed is recorded (nginx's 499) when the client disconnected
// before the answer; nothing is written then.
const StatusClientClosed = 499

// Error is an answer to a request that failed: its status, a message for
// the client and, when known, the offending request field.
type Error struct {
	Status     int
	Message    string
	Param      string        // the request field at fault ("max_tokens", "segments.prefix")
	RetryAfter time.Duration // > 0: sent as Retry-After (whole seconds)
	Err        error         // the error it stands for, if any
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// BadRequest is a 400 naming param (may be "").
func BadRequest(param, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Message: msg, Param: param}
}

// FromError maps any error of a request to its answer, in one place for
// every route: an *Error as is; a *prompt.FieldError 400 naming the field;
// the engine's queue-full, queue-timeout and unavailable errors 503 with
// Retry-After; a request superseded by its client's newer one 409; a
// prompt over the context 400 naming promptField (the request field that
// holds the prompt: "segments", "prompt", "messages"); the client going
// away 499; a deadline 408; anything else 500 with its message.
func FromError(r *http.Request, err error, promptField string) *Error {
	var (
		he *Error
		fe *prompt.FieldError
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Message: fe.Error(), Param: fe.Field, Err: err}
	case errors.Is(err, engine.ErrQueueFull):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Err: err,
			Message: "server busy: every slot is in use and the queue is full; retry shortly"}
	case errors.Is(err, engine.ErrQueueTimeout), errors.Is(err, engine.ErrPreempted):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Err: err,
			Message: "server busy: the request waited too long for a slot; retry shortly"}
	case errors.Is(err, engine.ErrSuperseded):
		return &Error{Status: http.StatusConflict, Err: err,
			Message: "superseded by a newer request from the same client"}
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 2 * time.Second, Err: err,
			Message: "the server's database is unavailable; retry shortly"}
	case errors.Is(err, engine.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second, Message: err.Error(), Err: err}
	case errors.Is(err, engine.ErrPromptTooLong):
		return &Error{Status: http.StatusBadRequest, Message: promptField + ": " + err.Error(), Param: promptField, Err: err}
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		return &Error{Status: StatusClientClosed, Message: "client closed the request", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusRequestTimeout, Message: "completion timed out", Err: err}
	default:
		return &Error{Status: http.StatusInternalServerError, Message: err.Error(), Err: err}
	}
}

// WriteError writes e in shape. A client that went away gets nothing but
// the recorded status.
func WriteError(w http.ResponseWriter, shape Shape, e *Error) {
	if e.Status == StatusClientClosed {
		w.WriteHeader(StatusClientClosed)
		return
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	WriteJSON(w, e.Status, ErrorBody(shape, e))
}

// ErrorBody is e as shape's JSON value (also for an error event in a stream).
func ErrorBody(shape Shape, e *Error) any {
	if shape == Llama {
		return LlamaError{Error: LlamaErrorBody{Code: e.Status, Message: e.Message, Type: llamaErrorType(e.Status)}}
	}
	if shape == OpenAI {
		kind := "invalid_request_error"
		if e.Status >= 500 {
			kind = "server_error"
		}
		return OpenAIError{Error: OpenAIErrorBody{Message: e.Message, Type: kind, Param: e.Param}}
	}
	return TabbyError{Error: e.Message}
}

// TabbyError is Tabby's error body (the same as api.ErrorResponse).
type TabbyError struct {
	Error string `json:"error"`
}

// OpenAIError is OpenAI's error body, which OpenAI clients parse.
type OpenAIError struct {
	Error OpenAIErrorBody `json:"error"`
}

// OpenAIErrorBody explains an error; Param names the offending field.
type OpenAIErrorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param,omitempty"`
}

// LlamaError is llama.cpp server's error body, which llama.vim and llama.vscode parse.
type LlamaError struct {
	Error LlamaErrorBody `json:"error"`
}

// LlamaErrorBody explains an error with its status and llama.cpp's error type name.
type LlamaErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Type    string `json:"type"`
}

// llamaErrorType is the type name llama-server gives a status.
func llamaErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusNotImplemented:
		return "not_supported_error"
	case status == http.StatusServiceUnavailable:
		return "unavailable_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// WriteJSON writes v as the JSON body with status code. HTML characters are
// not escaped: code is full of < and >.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
