package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

// Post/Redirect/Get: every form post that succeeds answers 303 to the page it
// acted on, so the address bar never keeps a POST URL and reloading never
// repeats the action. What the post wants that page to say (a notice, or a
// secret shown once: a new token, an invitation or reset link) travels in a
// short-lived cookie, sealed (AES-256-GCM) under a key derived from the
// browser's session id, so the page can be served by any replica (the load
// balancer need not be sticky) and nothing is kept in memory or the
// database. Only the session's holder can open it: the server stores only
// the session id's hash, and the cookie without the session cookie is
// noise. The flash belongs to the account and session that posted, is
// cleared by the page that shows it, and expires after flashTTL.

const (
	flashCookie = "serval_flash"
	flashTTL    = 2 * time.Minute
	// maxFlashCookie bounds what takeFlash decodes: a sealed flash is a few
	// hundred bytes, a browser's cookie at most 4 KiB.
	maxFlashCookie = 4096
)

// flash is what the next page shows once.
type flash struct {
	Notice    string `json:"n,omitempty"` // "Token “laptop” revoked."
	Secret    string `json:"s,omitempty"` // a token or link, shown once
	SecretFor string `json:"f,omitempty"` // what the secret is for: the token's name, the user's
	UserID    int64  `json:"u"`
	Expires   int64  `json:"e"` // Unix seconds
}

// flashAEAD is the cipher that seals the flashes of the session whose
// cookie value is session.
func flashAEAD(session string) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, []byte(session))
	mac.Write([]byte("serval flash v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealFlash returns f sealed for session, as a cookie value.
func sealFlash(session string, f flash) (string, error) {
	aead, err := flashAEAD(session)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(flashCookie))), nil
}

// openFlash opens a cookie value sealed for session; ok is false when it
// was not (another session's, altered, or not a flash).
func openFlash(session, value string) (flash, bool) {
	aead, err := flashAEAD(session)
	if err != nil {
		return flash{}, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < aead.NonceSize()+aead.Overhead() {
		return flash{}, false
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(flashCookie))
	if err != nil {
		return flash{}, false
	}
	var f flash
	if json.Unmarshal(plain, &f) != nil {
		return flash{}, false
	}
	return f, true
}

// redirectWith answers a successful post: 303 to path, the page showing f once.
func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, req *request, path string, f flash) {
	f.UserID = req.user.ID
	f.Expires = s.now().Add(flashTTL).Unix()
	if value, err := sealFlash(req.session, f); err == nil {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: value, Path: "/", MaxAge: int(flashTTL / time.Second),
			HttpOnly: true, Secure: s.overTLS(r), SameSite: http.SameSiteStrictMode})
	} else {
		s.log.Error("flash", "err", err) // the action is done; the page just cannot say so
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// takeFlash returns what the last post left for this page, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request, req *request) flash {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" || len(c.Value) > maxFlashCookie {
		return flash{}
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.overTLS(r), SameSite: http.SameSiteStrictMode})
	f, ok := openFlash(req.session, c.Value)
	if !ok || f.UserID != req.user.ID || s.now().Unix() >= f.Expires {
		return flash{}
	}
	return f
}
