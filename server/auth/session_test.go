package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSessionFallback(t *testing.T) {
	var asked int
	a, _, _ := newTestAuth(Config{Session: func(r *http.Request) (string, bool) {
		asked++
		c, err := r.Cookie("s")
		if err != nil || c.Value != "ok" {
			return "", false
		}
		return "alice/web", true
	}})
	run := func(cookie, header string) *httptest.ResponseRecorder {
		h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello " + TokenName(r.Context())))
		}))
		req := httptest.NewRequest("POST", "/v1/completions", nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "s", Value: cookie})
		}
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := run("ok", ""); rec.Code != 200 || rec.Body.String() != "hello alice/web" {
		t.Fatalf("session: %d %s", rec.Code, rec.Body)
	}
	if rec := run("bad", ""); rec.Code != 401 {
		t.Fatalf("bad session: %d", rec.Code)
	}
	// A bad Authorization header is not rescued by a good cookie.
	n := asked
	if rec := run("ok", "Bearer srv_bad"); rec.Code != 401 || asked != n {
		t.Fatalf("bad bearer with a session: %d (session asked %d times)", rec.Code, asked-n)
	}
}
