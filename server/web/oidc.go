package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/servalhq/serval/server/oidc"
	"github.com/servalhq/serval/server/store"
)

// OpenID Connect sign-in: GET /auth/oidc/{provider} sends the browser to
// the provider (authorization code flow with PKCE, state and nonce), GET
// /auth/oidc/{provider}/callback finishes it. The flow waits in the store
// (any replica can finish it, and a state is used once); the browser holds
// the state in a cookie too, so a callback URL planted in someone else's
// browser signs nobody in. The account is the one linked to the provider's
// subject, made at the first sign-in; the provider's admin group is
// applied at every sign-in; an account deactivated here stays out.

// flowCookie binds a sign-in at a provider to the browser that started it.
const flowCookie = "serval_oidc_state"

var (
	oidcStartQuery    = map[string]int{"next": maxNextField}
	oidcCallbackQuery = map[string]int{"code": 2048, "state": maxCodeField, "error": maxCodeField,
		"error_description": 1024, "iss": 1024, "session_state": 1024, "scope": 1024, "authuser": maxShortField, "hd": maxNameField, "prompt": maxNameField}
)

// loginProvider is a "Sign in with" button of the login page.
type loginProvider struct{ Name, Label string }

// loginData is what the login page shows besides the password form.
type loginData struct {
	Providers []loginProvider
	Password  bool // the username/password form (local accounts or LDAP)
}

func (s *Server) loginData() loginData {
	d := loginData{Password: !s.cfg.PasswordDisabled || s.cfg.LDAP != nil}
	for _, p := range s.cfg.OIDC {
		c := p.Config()
		d.Providers = append(d.Providers, loginProvider{Name: c.Name, Label: c.Label()})
	}
	return d
}

func (s *Server) provider(name string) *oidc.Provider {
	for _, p := range s.cfg.OIDC {
		if p.Config().Name == name {
			return p
		}
	}
	return nil
}

// oidcRefused shows the login page with why a sign-in at a provider failed
// and records it.
func (s *Server) oidcRefused(w http.ResponseWriter, r *http.Request, status int, method, actor, why, msg string) {
	s.auditSignIn(r, actor, method, false, why)
	s.render(w, r, status, "login", nil, page{Title: "Sign in", Error: msg})
}

// handleOIDCStart serves GET /auth/oidc/{provider}[?next=].
func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request) {
	p := s.provider(r.PathValue("provider"))
	if p == nil {
		s.message(w, r, http.StatusNotFound, nil, "Sign in", "There is no such sign-in provider.")
		return
	}
	q, ferr := decodeForm(w, r, oidcStartQuery)
	if ferr != nil || !localPath(q["next"]) {
		q = map[string]string{}
	}
	c := p.Config()
	redirect := s.baseURL(r) + "/auth/oidc/" + c.Name + "/callback"
	authURL, flow, err := p.Start(r.Context(), redirect)
	if err != nil {
		s.log.Warn("sign-in provider unavailable", "provider", c.Name, "err", err)
		s.oidcRefused(w, r, http.StatusServiceUnavailable, "oidc:"+c.Name, "-", "provider unreachable", s.unavailableMessage(c.Label()))
		return
	}
	err = s.store.CreateSignInFlow(r.Context(), store.SignInFlow{
		State: flow.State, Provider: c.Name, Nonce: flow.Nonce, Verifier: flow.Verifier, Redirect: flow.Redirect, Next: q["next"],
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: flowCookie, Value: flow.State, Path: "/auth/oidc/", MaxAge: int(store.SignInFlowTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.overTLS(r),
	})
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// unavailableMessage is the login page's words for a provider that does not answer.
func (s *Server) unavailableMessage(label string) string {
	msg := label + " is not answering right now: try again in a few minutes"
	if s.loginData().Password {
		return msg + ", or sign in with your username and password."
	}
	return msg + "."
}

// handleOIDCCallback serves GET /auth/oidc/{provider}/callback?code=&state=.
func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	p := s.provider(r.PathValue("provider"))
	if p == nil {
		s.message(w, r, http.StatusNotFound, nil, "Sign in", "There is no such sign-in provider.")
		return
	}
	c := p.Config()
	method := "oidc:" + c.Name
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.overTLS(r)})
	q, ferr := decodeForm(w, r, oidcCallbackQuery)
	if ferr != nil {
		s.oidcRefused(w, r, http.StatusBadRequest, method, "-", "malformed callback", "The provider's answer was malformed: start the sign-in again.")
		return
	}
	if q["error"] != "" {
		s.oidcRefused(w, r, http.StatusUnauthorized, method, "-", "provider said "+q["error"], c.Label()+" did not sign you in ("+q["error"]+").")
		return
	}
	cookie, err := r.Cookie(flowCookie)
	if err != nil || q["state"] == "" || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(q["state"])) != 1 {
		s.oidcRefused(w, r, http.StatusBadRequest, method, "-", "state mismatch",
			"This sign-in was not started in this browser (or it took too long): start it again from the login page.")
		return
	}
	f, err := s.store.TakeSignInFlow(r.Context(), q["state"])
	if errors.Is(err, store.ErrCodeInvalid) || (err == nil && f.Provider != c.Name) {
		s.oidcRefused(w, r, http.StatusBadRequest, method, "-", "unknown, used or expired state",
			"This sign-in expired or was already used: start it again from the login page.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := p.Finish(r.Context(), oidc.Flow{State: f.State, Nonce: f.Nonce, Verifier: f.Verifier, Redirect: f.Redirect}, q["code"])
	if err != nil {
		s.oidcFailed(w, r, c, id, err)
		return
	}
	res, err := s.store.SignInExternal(r.Context(), store.ExternalIdentity{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Username: id.Username, Admin: id.Admin,
	})
	if errors.Is(err, store.ErrUserNotActive) {
		s.oidcRefused(w, r, http.StatusForbidden, method, res.User.Name, "account deactivated",
			"Your Serval account is deactivated: ask an admin to reactivate it.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditExternal(r, method, res)
	if err := s.startSession(w, r, res.User); err != nil {
		s.fail(w, r, err)
		return
	}
	next := "/"
	if localPath(f.Next) {
		next = f.Next
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// auditExternal records a provider's sign-in and what it changed.
func (s *Server) auditExternal(r *http.Request, method string, res store.ExternalSignIn) {
	name := res.User.Name
	if res.Created {
		role := "user"
		if res.User.IsAdmin {
			role = "admin"
		}
		s.audit(r, method, store.AuditUserCreate, name, "", "just in time at the first sign-in, "+role)
	}
	if res.AdminChanged {
		action := store.AuditUserUnadmin
		if res.User.IsAdmin {
			action = store.AuditUserAdmin
		}
		s.audit(r, method, action, name, "", "the provider's admin group")
	}
	if res.KeptLastAdmin {
		s.audit(r, method, store.AuditUserUnadmin, name, store.AuditOutcomeFailure, "left the admin group, but is the last active admin")
	}
	s.auditSignIn(r, name, method, true, "")
}

// oidcFailed answers a sign-in the provider package refused.
func (s *Server) oidcFailed(w http.ResponseWriter, r *http.Request, c oidc.Config, id oidc.Identity, err error) {
	method, label := "oidc:"+c.Name, c.Label()
	actor := "-"
	if id.Email != "" {
		actor = id.Email
	}
	why := err.Error()
	if i := strings.Index(why, ": "); i >= 0 {
		why = why[i+2:]
	}
	switch {
	case errors.Is(err, oidc.ErrUnavailable):
		s.log.Warn("sign-in provider unavailable", "provider", c.Name, "err", err)
		s.oidcRefused(w, r, http.StatusServiceUnavailable, method, actor, "provider unreachable", s.unavailableMessage(label))
	case errors.Is(err, oidc.ErrNotAllowed):
		s.oidcRefused(w, r, http.StatusForbidden, method, actor, why, "Your "+label+" account may not sign in here: "+why+".")
	case errors.Is(err, oidc.ErrRefused):
		s.log.Error("sign-in provider refused the code exchange", "provider", c.Name, "err", err)
		s.oidcRefused(w, r, http.StatusBadGateway, method, actor, why, label+" refused the sign-in; the server's log says why. Start it again, or tell an admin if it keeps failing.")
	default: // ErrInvalidToken
		s.log.Warn("sign-in refused: invalid ID token", "provider", c.Name, "err", err)
		s.oidcRefused(w, r, http.StatusUnauthorized, method, actor, why, "The sign-in at "+label+" could not be verified: start it again.")
	}
}
