package web

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/servalhq/serval/server/store"
)

// CookieName is the session cookie.
const CookieName = "serval_session"

// SessionTTL is how long a browser stays signed in.
const SessionTTL = 14 * 24 * time.Hour

// request is a signed-in request: its account and session id.
type request struct {
	user    store.User
	session string
}

// currentUser returns the signed-in account of r, if any.
func (s *Server) currentUser(r *http.Request) (*request, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	u, err := s.store.SessionUser(r.Context(), c.Value)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &request{user: u, session: c.Value}, nil
}

type signedInHandler func(http.ResponseWriter, *http.Request, *request)

// signedIn runs h for a signed-in account; others go to the login page
// (GET) or get 401 (anything else).
func (s *Server) signedIn(h signedInHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := s.currentUser(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if req == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
				return
			}
			s.message(w, r, http.StatusUnauthorized, nil, "Signed out", "Your session has ended: sign in again.")
			return
		}
		h(w, r, req)
	})
}

// adminOnly runs h for a signed-in admin; other accounts get 403.
func (s *Server) adminOnly(h signedInHandler) http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, req *request) {
		if !req.user.IsAdmin {
			s.message(w, r, http.StatusForbidden, req, "Admins only", "This page is for admins.")
			return
		}
		h(w, r, req)
	})
}

// startSession signs the account in with a new session id (never one the
// browser brought) and sets the cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	if old, err := r.Cookie(CookieName); err == nil && len(old.Value) <= 100 {
		if err := s.store.DeleteSession(r.Context(), old.Value); err != nil {
			return err
		}
	}
	id, err := s.store.CreateSession(r.Context(), u.ID, SessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.overTLS(r),
	})
	return nil
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.overTLS(r)})
}

// fromTrustedProxy reports whether r came through a proxy the admin declared.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	addr, ok := remoteAddr(r)
	return ok && s.trusted(addr)
}

// overTLS reports whether the browser reached the server over TLS.
func (s *Server) overTLS(r *http.Request) bool {
	return r.TLS != nil || (s.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

// clientAddr is the address login throttling counts against: the peer, or,
// from a trusted proxy, the rightmost X-Forwarded-For hop that is not a
// trusted proxy itself. Every X-Forwarded-For line counts (HAProxy's
// forwardfor adds a line of its own after the client's), in order, as one
// list: the entries left of the proxies' own are the client's to choose.
func (s *Server) clientAddr(r *http.Request) string {
	peer, ok := remoteAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	addr := peer
	for hops := slices.Clone(r.Header.Values("X-Forwarded-For")); s.trusted(addr) && len(hops) > 0; {
		last := hops[len(hops)-1]
		i := strings.LastIndexByte(last, ',')
		hop := strings.TrimSpace(last[i+1:])
		if i < 0 {
			hops = hops[:len(hops)-1]
		} else {
			hops[len(hops)-1] = last[:i]
		}
		if hop == "" {
			continue
		}
		a, err := netip.ParseAddr(hop)
		if err != nil {
			break // not an address a proxy wrote: the last trusted hop is the client's side
		}
		addr = a.Unmap()
	}
	return addr.String()
}

// trusted reports whether addr is one of the proxies the admin declared.
func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// SessionToken authenticates API requests from the web app's own pages (the
// playground) by the session cookie: it returns the name API requests of the
// account are counted under ("<user>/web"). Requests without the cookie, from
// another site, or of an ended session are refused.
func (s *Server) SessionToken(r *http.Request) (string, bool) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		return "", false
	}
	// Only browsers send cookies; they also say they are same-origin.
	if r.Header.Get("Sec-Fetch-Site") != "same-origin" && r.Header.Get("Origin") == "" {
		return "", false
	}
	req, err := s.currentUser(r)
	if err != nil || req == nil {
		return "", false
	}
	return store.OwnedTokenName(req.user.Name, "web"), true
}

// maxNextField bounds the page a login returns to.
const maxNextField = 256

// loginURL is the login page for a signed-out GET of r: after signing in,
// the browser comes back to r's page (an editor's sign-in link keeps its code).
func loginURL(r *http.Request) string {
	next := r.URL.RequestURI()
	if next == "/" || len(next) > maxNextField || !localPath(next) {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

// localPath reports whether next is a path on this server ("/device?..."),
// not a URL elsewhere ("//evil.example", "/\\evil.example", "https://..."):
// the login must not become an open redirect.
func localPath(next string) bool {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.ContainsAny(next, "\\\r\n")
}
