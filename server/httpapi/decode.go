package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/servalhq/serval/server/api"
)

// requestError is a client error with its status and message.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

// decodeJSON reads one JSON object from r's body into v. Errors name the
// offending field (400) or the size limit (413).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	// One object only: trailing garbage is a malformed body.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return &requestError{http.StatusBadRequest, "body: unexpected data after the JSON object"}
	}
	return nil
}

func tooLarge() error {
	return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than the %d-byte limit", MaxBodyBytes)}
}

func decodeError(err error) error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &requestError{http.StatusRequestTimeout, "body: not received in time; send the whole body at once"}
	case errors.Is(err, io.EOF):
		return &requestError{http.StatusBadRequest, "body: empty; expected a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{http.StatusBadRequest, "body: truncated JSON"}
	case errors.As(err, &syntax):
		return &requestError{http.StatusBadRequest, fmt.Sprintf("body: not valid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return &requestError{http.StatusBadRequest, fmt.Sprintf("%s: expected %s, got JSON %s", field, typ.Type, typ.Value)}
	default:
		return &requestError{http.StatusBadRequest, "body: " + err.Error()}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // code is full of < and >; keep it readable
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.ErrorResponse{Error: msg})
}
