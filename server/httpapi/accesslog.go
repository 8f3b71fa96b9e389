package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/servalhq/serval/server/auth"
)

// The access log: one line per request, at info for the requests that ask the
// model (completions, chat, infill) and at debug for the rest (health polls,
// events, metrics). It names the token, never its secret, and never logs a
// body, query or header: code and credentials stay out of the log.

type accessNoteKey struct{}

// accessNote carries the token name from inside auth out to the log line.
type accessNote struct{ token string }

// logRequests wraps the whole API.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		note := &accessNote{}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), accessNoteKey{}, note)))
		level := slog.LevelDebug
		if asksModel(r) {
			level = slog.LevelInfo
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		token := note.token
		if token == "" {
			token = "-"
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.code),
			slog.Duration("latency", time.Since(start).Round(time.Microsecond)),
			slog.String("token", token))
	})
}

// noteToken records, for the access log, which token authenticated r.
func noteToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if note, ok := r.Context().Value(accessNoteKey{}).(*accessNote); ok {
			note.token = auth.TokenName(r.Context())
		}
		next.ServeHTTP(w, r)
	})
}

// asksModel reports whether r is a request that runs the model.
func asksModel(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	return strings.HasSuffix(p, "/completions") || p == "/infill" || strings.HasSuffix(p, "/infill")
}
