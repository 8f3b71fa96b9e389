package httpapi

import (
	"net/http"

	"github.com/servalhq/serval/server/internal/httpx"
)

// decodeJSON reads one JSON object of at most MaxBodyBytes from r's body
// into v; errors are *httpx.Error values naming the field or the limit.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return httpx.Decode(w, r, MaxBodyBytes, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) { httpx.WriteJSON(w, code, v) }

// writeError writes msg in Tabby's error shape.
func writeError(w http.ResponseWriter, code int, msg string) {
	httpx.WriteError(w, httpx.Tabby, &httpx.Error{Status: code, Message: msg})
}
