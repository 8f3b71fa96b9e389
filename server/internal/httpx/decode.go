package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Decode reads one JSON object of at most limit bytes from r's body into v.
// Its errors are *Error values: 413 over the limit, 400 otherwise, naming
// the offending field when the JSON has the wrong type for it.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	// One object only: trailing garbage is a malformed body.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return BadRequest("", "body: unexpected data after the JSON object")
	}
	return nil
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("body: larger than the %d-byte limit", limit)}
}

func decodeError(err error, limit int64) *Error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The server's body read deadline passed (a trickled body).
		return &Error{Status: http.StatusRequestTimeout, Message: "body: not received in time; send the whole body at once"}
	case errors.Is(err, io.EOF):
		return BadRequest("", "body: empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("", "body: truncated JSON")
	case errors.As(err, &syntax):
		return BadRequest("", fmt.Sprintf("body: not valid JSON at byte %d: %v", syntax.Offset, err))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return BadRequest("", fmt.Sprintf("body: expected %s, got JSON %s", typ.Type, typ.Value))
		}
		return BadRequest(typ.Field, fmt.Sprintf("%s: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value))
	default:
		return BadRequest("", "body: "+err.Error())
	}
}
