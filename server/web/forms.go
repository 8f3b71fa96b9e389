package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"
)

// maxFormBytes bounds a form body; every form here is a few short fields.
const maxFormBytes = 16 << 10

// Field limits, in bytes.
const (
	maxNameField     = 64
	maxPasswordField = 256
	maxCodeField     = 128
	maxNoteField     = 200
	maxShortField    = 16
)

// formError is a form the server refuses: its status and what to show.
type formError struct {
	status int
	msg    string
}

func (e *formError) Error() string { return e.msg }

// decodeForm reads an application/x-www-form-urlencoded body (or the query
// of a GET) and returns exactly the fields of spec, each checked against
// its byte limit and for valid UTF-8 without control characters. Missing
// fields are "". Repeated
// fields are refused: a field means one thing.
func decodeForm(w http.ResponseWriter, r *http.Request, spec map[string]int) (map[string]string, *formError) {
	var values url.Values
	if r.Method == http.MethodGet {
		values = r.URL.Query()
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return nil, &formError{http.StatusUnsupportedMediaType, "forms are sent as application/x-www-form-urlencoded"}
		}
		if err := r.ParseForm(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The server's body read deadline passed: a trickled body
				// (slowloris) is cut off, and told why.
				return nil, &formError{http.StatusRequestTimeout, "the form was not received in time: send it at once"}
			}
			if strings.Contains(err.Error(), "too large") {
				// 400 like any other too-long field (the contract).
				return nil, &formError{http.StatusBadRequest, fmt.Sprintf("the form is larger than %d bytes", maxFormBytes)}
			}
			return nil, &formError{http.StatusBadRequest, "the form could not be read"}
		}
		values = r.PostForm
	}
	return checkFields(values, spec)
}

// checkFields applies spec to values (the part of decodeForm fuzzed alone).
func checkFields(values url.Values, spec map[string]int) (map[string]string, *formError) {
	out := make(map[string]string, len(spec))
	for name, limit := range spec {
		vs := values[name]
		if len(vs) > 1 {
			return nil, &formError{http.StatusBadRequest, fmt.Sprintf("%s: given more than once", name)}
		}
		if len(vs) == 0 {
			out[name] = ""
			continue
		}
		v := vs[0]
		if len(v) > limit {
			return nil, &formError{http.StatusBadRequest, fmt.Sprintf("%s: longer than %d bytes", name, limit)}
		}
		if !utf8.ValidString(v) {
			return nil, &formError{http.StatusBadRequest, fmt.Sprintf("%s: not valid UTF-8", name)}
		}
		for _, c := range v {
			if c < ' ' || c == 0x7f {
				return nil, &formError{http.StatusBadRequest, fmt.Sprintf("%s: contains a control character", name)}
			}
		}
		out[name] = v
	}
	return out, nil
}
