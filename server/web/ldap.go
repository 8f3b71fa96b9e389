package web

import (
	"errors"
	"net/http"

	"github.com/servalhq/serval/server/ldapauth"
	"github.com/servalhq/serval/server/store"
)

// LDAP sign-in through the login form: the username and password are
// checked against the directory first (server/ldapauth); an account linked
// to the directory entry is made at the first sign-in, and the directory's
// admin group is applied at every sign-in. A name the directory does not
// know falls through to the local accounts, unless password sign-in is off.

// signInLDAP tries the login form f against the directory. done reports
// that it answered (signed in, or refused for good); otherwise the local
// password check goes on.
func (s *Server) signInLDAP(w http.ResponseWriter, r *http.Request, f map[string]string) (done bool) {
	name, addr := f["username"], s.clientAddr(r)
	id, err := s.cfg.LDAP.Authenticate(r.Context(), name, f["password"])
	relogin := func(status int, msg string) {
		s.render(w, r, status, "login", nil, page{Title: "Sign in", Error: msg, Form: map[string]string{"username": name, "next": f["next"]}})
	}
	switch {
	case errors.Is(err, ldapauth.ErrInvalidCredentials):
		if !s.cfg.PasswordDisabled {
			return false
		}
		// The attempt was charged before the check (throttle.go): a failed guess keeps it.
		s.auditSignIn(r, name, "ldap", false, "wrong username or password")
		relogin(http.StatusUnauthorized, loginFailed)
		return true
	case errors.Is(err, ldapauth.ErrNotAllowed):
		s.throttle.refund(r.Context(), name, addr, false) // the right password: not a guess
		s.auditSignIn(r, name, "ldap", false, "not in the allowed group")
		relogin(http.StatusForbidden, "Your directory account is not in the group allowed to use Serval: ask an admin.")
		return true
	case err != nil:
		s.log.Error("LDAP sign-in", "err", err)
		if !s.cfg.PasswordDisabled {
			return false // a local account may still sign in
		}
		s.throttle.refund(r.Context(), name, addr, false) // not checked: not a guess
		s.auditSignIn(r, name, "ldap", false, "directory unreachable")
		relogin(http.StatusServiceUnavailable, "The directory is not answering right now: try again in a few minutes.")
		return true
	}
	res, err := s.store.SignInExternal(r.Context(), store.ExternalIdentity{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Username: id.Username, Admin: id.Admin,
	})
	if errors.Is(err, store.ErrUserNotActive) {
		s.auditSignIn(r, res.User.Name, "ldap", false, "account deactivated")
		relogin(http.StatusUnauthorized, loginFailed)
		return true
	}
	if err != nil {
		s.fail(w, r, err)
		return true
	}
	s.throttle.refund(r.Context(), name, addr, true)
	s.auditExternal(r, "ldap", res)
	if err := s.startSession(w, r, res.User); err != nil {
		s.fail(w, r, err)
		return true
	}
	next := "/"
	if localPath(f["next"]) {
		next = f["next"]
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return true
}
