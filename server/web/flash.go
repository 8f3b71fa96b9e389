package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Post/Redirect/Get: every form post that succeeds answers 303 to the page it
// acted on, so the address bar never keeps a POST URL and reloading never
// repeats the action. What the post wants that page to say (a notice, or a
// secret shown once: a new token, an invitation or reset link) waits here,
// in memory, under a random id the browser holds in a short-lived cookie.
// The secret itself never travels in a cookie or a URL. The flash belongs to
// the account that posted, is read once, and expires after flashTTL. (With
// several serval instances behind a balancer without sticky sessions, a
// flash can land on another instance: the page then shows no secret, and
// the token can be rotated again.)

const (
	flashCookie = "serval_flash"
	flashTTL    = 2 * time.Minute
	maxFlashes  = 10_000
)

// flash is what the next page shows once.
type flash struct {
	Notice    string // "Token “laptop” revoked."
	Secret    string // a token or link, shown once
	SecretFor string // what the secret is for: the token's name, the user's
	userID    int64
	expires   time.Time
}

type flashes struct {
	mu sync.Mutex
	m  map[string]flash
}

// put stores f and returns its id; "" when too many are waiting.
func (fs *flashes) put(f flash, now time.Time) string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ""
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = map[string]flash{}
	}
	if len(fs.m) >= maxFlashes/2 {
		for k, v := range fs.m {
			if now.After(v.expires) {
				delete(fs.m, k)
			}
		}
	}
	if len(fs.m) >= maxFlashes {
		return ""
	}
	f.expires = now.Add(flashTTL)
	fs.m[id] = f
	return id
}

// take removes and returns the flash id, if it is the account's and fresh.
func (fs *flashes) take(id string, userID int64, now time.Time) (flash, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.m[id]
	if !ok || f.userID != userID {
		return flash{}, false
	}
	delete(fs.m, id)
	if !now.Before(f.expires) {
		return flash{}, false
	}
	return f, true
}

// redirectWith answers a successful post: 303 to path, the page showing f once.
func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, req *request, path string, f flash) {
	f.userID = req.user.ID
	if id := s.flashes.put(f, s.now()); id != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: id, Path: "/", MaxAge: int(flashTTL / time.Second),
			HttpOnly: true, Secure: s.overTLS(r), SameSite: http.SameSiteStrictMode})
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// takeFlash returns what the last post left for this page, once.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request, req *request) flash {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return flash{}
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.overTLS(r), SameSite: http.SameSiteStrictMode})
	f, ok := s.flashes.take(c.Value, req.user.ID, s.now())
	if !ok {
		return flash{}
	}
	return f
}
