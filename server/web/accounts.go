package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/servalhq/serval/server/account"
	"github.com/servalhq/serval/server/store"
)

var (
	setupForm    = map[string]int{"code": maxCodeField, "username": maxNameField, "password": maxPasswordField}
	loginForm    = map[string]int{"username": maxNameField, "password": maxPasswordField, "next": maxNextField}
	nextQuery    = map[string]int{"next": maxNextField}
	registerForm = map[string]int{"invite": maxCodeField, "username": maxNameField, "password": maxPasswordField}
	resetForm    = map[string]int{"code": maxCodeField, "password": maxPasswordField}
	passwordForm = map[string]int{"current": maxPasswordField, "password": maxPasswordField}
	codeQuery    = map[string]int{"code": maxCodeField, "invite": maxCodeField}
)

// newAccountError checks a username and password for a new account; "" when fine.
func newAccountError(username, password string) string {
	if err := store.ValidateUsername(username); err != nil {
		return err.Error()
	}
	if err := account.ValidatePassword(username, password); err != nil {
		return err.Error()
	}
	return ""
}

// handleHome serves GET /: the signed-in account's tokens, else the way in.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	req, err := s.currentUser(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req == nil {
		n, err := s.store.CountUsers(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if n == 0 {
			s.message(w, r, http.StatusOK, nil, "Welcome to Serval",
				"No account exists yet. Open the setup link that `serval serve` printed (it is also in <data-dir>/setup-url) to create the first account, which becomes the admin.")
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	f := s.takeFlash(w, r, req)
	s.renderHome(w, r, req, http.StatusOK, "", &homeData{NewToken: f.Secret, NewName: f.SecretFor, Notice: f.Notice})
}

// handleSetupPage serves GET /setup?code=: the first account's form.
func (s *Server) handleSetupPage(w http.ResponseWriter, r *http.Request) {
	q, ferr := decodeForm(w, r, codeQuery)
	if ferr != nil {
		s.message(w, r, ferr.status, nil, "Setup", ferr.msg)
		return
	}
	if status, msg := s.setupRefusal(r, q["code"]); status != 0 {
		s.message(w, r, status, nil, "Setup", msg)
		return
	}
	s.render(w, r, http.StatusOK, "setup", nil, page{Title: "Create the admin account", Form: map[string]string{"code": q["code"]}})
}

// setupRefusal says why setup with code is refused (status 0: it is not).
func (s *Server) setupRefusal(r *http.Request, code string) (int, string) {
	n, err := s.store.CountUsers(r.Context())
	if err != nil {
		return http.StatusInternalServerError, "the database could not be read"
	}
	if n > 0 {
		return http.StatusForbidden, "Setup is done: the first account exists. Sign in, or ask an admin for an invitation."
	}
	_, err = s.store.CheckLink(r.Context(), store.LinkSetup, code)
	switch {
	case errors.Is(err, store.ErrCodeInvalid):
		return http.StatusForbidden, "This setup code is wrong. Use the link `serval serve` printed (also in <data-dir>/setup-url)."
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, "The server cannot reach its database right now; try again in a moment."
	case err != nil:
		return http.StatusInternalServerError, "the database could not be read"
	}
	return 0, ""
}

// handleSetup serves POST /setup (code, username, password).
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	f, ferr := decodeForm(w, r, setupForm)
	if ferr != nil {
		s.message(w, r, ferr.status, nil, "Setup", ferr.msg)
		return
	}
	if status, msg := s.setupRefusal(r, f["code"]); status != 0 {
		s.message(w, r, status, nil, "Setup", msg)
		return
	}
	redo := func(status int, msg string) {
		s.render(w, r, status, "setup", nil, page{Title: "Create the admin account", Error: msg,
			Form: map[string]string{"code": f["code"], "username": f["username"]}})
	}
	if msg := newAccountError(f["username"], f["password"]); msg != "" {
		redo(http.StatusBadRequest, msg)
		return
	}
	hash, err := account.Hash(r.Context(), f["password"])
	if err != nil {
		s.hashFailed(w, r, nil, "Setup", err)
		return
	}
	u, err := s.store.CreateFirstAdmin(r.Context(), f["username"], hash)
	if errors.Is(err, store.ErrSetupDone) {
		s.message(w, r, http.StatusForbidden, nil, "Setup", "Setup is done: the first account exists.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.finishSetup()
	s.audit(r, u.Name, store.AuditUserCreate, u.Name, "", "first account (setup), admin")
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	f, ferr := decodeForm(w, r, nextQuery)
	if ferr != nil || !localPath(f["next"]) {
		f = map[string]string{}
	}
	s.render(w, r, http.StatusOK, "login", nil, page{Title: "Sign in", Form: map[string]string{"next": f["next"]}, Notice: loginReason(f["next"])})
}

// loginReason says why the login page is in the way, for the links editors
// open: an editor's sign-in (/device) waits for this account's approval.
func loginReason(next string) string {
	if next == "/device" || strings.HasPrefix(next, "/device?") {
		return "An editor is asking to sign in to this server: sign in here, then approve the code it shows."
	}
	return ""
}

// loginFailed is the one message of every failed login: it does not say
// whether the account exists.
const loginFailed = "Wrong username or password."

// loginDeactivated is told only to someone who gave the account's password.
const loginDeactivated = "This account is deactivated: ask an admin to reactivate it."

// handleLogin serves POST /login (username, password).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	f, ferr := decodeForm(w, r, loginForm)
	if ferr != nil {
		s.render(w, r, ferr.status, "login", nil, page{Title: "Sign in", Error: ferr.msg})
		return
	}
	name, addr := f["username"], s.clientAddr(r)
	// The attempt is paid for before the password is checked (throttle.go).
	if wait := s.throttle.charge(r.Context(), name, addr); wait > 0 {
		secs := retrySeconds(wait)
		s.auditSignIn(r, name, "password", false, "throttled")
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.render(w, r, http.StatusTooManyRequests, "login", nil, page{Title: "Sign in",
			Error: errorf("Too many failed sign-ins: try again in %d seconds.", secs), Form: map[string]string{"username": name, "next": f["next"]}})
		return
	}
	if s.cfg.LDAP != nil && s.signInLDAP(w, r, f) {
		return
	}
	if s.cfg.PasswordDisabled {
		s.auditSignIn(r, name, "password", false, "password sign-in is off")
		s.render(w, r, http.StatusForbidden, "login", nil, page{Title: "Sign in", Error: "Sign-in with a password is turned off on this server: use a button above."})
		return
	}
	u, hash, err := s.store.PasswordHash(r.Context(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.throttle.refund(r.Context(), name, addr, false)
		s.fail(w, r, err)
		return
	}
	// An unknown account costs the same hashing as a wrong password.
	checked := hash
	if checked == store.ExternalPasswordHash { // no password: the same work as an unknown name
		checked = ""
	}
	passwordOK, err := account.Check(r.Context(), checked, f["password"])
	if err != nil {
		s.throttle.refund(r.Context(), name, addr, false) // not checked: not a guess
		s.hashFailed(w, r, nil, "Sign in", err)
		return
	}
	if !passwordOK || u.Disabled {
		s.auditSignIn(r, name, "password", false, loginFailureReason(hash, u))
		status, msg := http.StatusUnauthorized, loginFailed
		if passwordOK {
			// The right password of a deactivated account: its owner learns
			// why, and whom to ask; anyone else still sees loginFailed.
			status, msg = http.StatusForbidden, loginDeactivated
		}
		s.render(w, r, status, "login", nil, page{Title: "Sign in", Error: msg, Form: map[string]string{"username": name, "next": f["next"]}})
		return
	}
	s.throttle.refund(r.Context(), name, addr, true)
	s.auditSignIn(r, u.Name, "password", true, "")
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	next := "/"
	if localPath(f["next"]) {
		next = f["next"]
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleLogout serves POST /logout: the session ends on the server too.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if req, err := s.currentUser(r); err == nil && req != nil {
		s.audit(r, req.user.Name, store.AuditSignOut, "", "", "")
	}
	if c, err := r.Cookie(CookieName); err == nil && len(c.Value) <= 100 {
		if err := s.store.DeleteSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.clearCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// handleRegisterPage serves GET /register?invite=.
func (s *Server) handleRegisterPage(w http.ResponseWriter, r *http.Request) {
	q, ferr := decodeForm(w, r, codeQuery)
	if ferr != nil {
		s.message(w, r, ferr.status, nil, "Invitation", ferr.msg)
		return
	}
	if _, err := s.store.CheckLink(r.Context(), store.LinkInvite, q["invite"]); err != nil {
		s.linkRefused(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "register", nil, page{Title: "Create your account", Form: map[string]string{"invite": q["invite"]}})
}

func (s *Server) linkRefused(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrCodeInvalid) {
		s.message(w, r, http.StatusGone, nil, "Link refused", "This link is invalid, already used, revoked or expired. Ask an admin for a new one.")
		return
	}
	s.fail(w, r, err)
}

// handleRegister serves POST /register (invite, username, password).
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	f, ferr := decodeForm(w, r, registerForm)
	if ferr != nil {
		s.message(w, r, ferr.status, nil, "Invitation", ferr.msg)
		return
	}
	redo := func(status int, msg string) {
		s.render(w, r, status, "register", nil, page{Title: "Create your account", Error: msg,
			Form: map[string]string{"invite": f["invite"], "username": f["username"]}})
	}
	if _, err := s.store.CheckLink(r.Context(), store.LinkInvite, f["invite"]); err != nil {
		s.linkRefused(w, r, err)
		return
	}
	if msg := newAccountError(f["username"], f["password"]); msg != "" {
		redo(http.StatusBadRequest, msg)
		return
	}
	hash, err := account.Hash(r.Context(), f["password"])
	if err != nil {
		s.hashFailed(w, r, nil, "Invitation", err)
		return
	}
	u, err := s.store.Register(r.Context(), f["invite"], f["username"], hash)
	switch {
	case errors.Is(err, store.ErrUserExists):
		redo(http.StatusConflict, "This username is taken: pick another.")
		return
	case err != nil:
		s.linkRefused(w, r, err)
		return
	}
	s.audit(r, u.Name, store.AuditInviteUse, u.Name, "", "")
	s.audit(r, u.Name, store.AuditUserCreate, u.Name, "", "by invitation")
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// resetLinkUser checks a password-reset code and returns the account it
// belongs to; on a refused code or a store error it has answered already.
func (s *Server) resetLinkUser(w http.ResponseWriter, r *http.Request, code string) (store.User, bool) {
	l, err := s.store.CheckLink(r.Context(), store.LinkReset, code)
	if err != nil {
		s.linkRefused(w, r, err)
		return store.User{}, false
	}
	u, err := s.store.UserByID(r.Context(), l.UserID)
	if err != nil {
		s.fail(w, r, err)
		return store.User{}, false
	}
	return u, true
}

// handleResetPage serves GET /reset?code=: a password-reset link.
func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) {
	q, ferr := decodeForm(w, r, codeQuery)
	if ferr != nil {
		s.message(w, r, ferr.status, nil, "Password reset", ferr.msg)
		return
	}
	u, ok := s.resetLinkUser(w, r, q["code"])
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "reset", nil, page{Title: "Choose a new password", Form: map[string]string{"code": q["code"], "username": u.Name}})
}

// handleReset serves POST /reset (code, password).
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	f, ferr := decodeForm(w, r, resetForm)
	if ferr != nil {
		s.message(w, r, ferr.status, nil, "Password reset", ferr.msg)
		return
	}
	u, ok := s.resetLinkUser(w, r, f["code"])
	if !ok {
		return
	}
	if err := account.ValidatePassword(u.Name, f["password"]); err != nil {
		s.render(w, r, http.StatusBadRequest, "reset", nil, page{Title: "Choose a new password", Error: err.Error(),
			Form: map[string]string{"code": f["code"], "username": u.Name}})
		return
	}
	hash, err := account.Hash(r.Context(), f["password"])
	if err != nil {
		s.hashFailed(w, r, nil, "Password reset", err)
		return
	}
	if u, err = s.store.ResetPassword(r.Context(), f["code"], hash); err != nil {
		s.linkRefused(w, r, err)
		return
	}
	s.audit(r, u.Name, store.AuditResetUse, u.Name, "", "")
	if u.Disabled {
		s.message(w, r, http.StatusOK, nil, "Password set", "The password is set, but the account is deactivated: an admin can reactivate it.")
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleAccount serves GET /account: change password.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, req *request) {
	s.render(w, r, http.StatusOK, "account", req, page{Title: "Your account", Nav: "account"})
}

// handlePassword serves POST /password (current, password). Other browsers
// signed in as this account are signed out.
func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request, req *request) {
	redo := func(status int, msg string) {
		s.render(w, r, status, "account", req, page{Title: "Your account", Nav: "account", Error: msg})
	}
	f, ferr := decodeForm(w, r, passwordForm)
	if ferr != nil {
		redo(ferr.status, ferr.msg)
		return
	}
	// The current password is guessed against the login's budgets: a
	// stolen session must not make an unthrottled oracle of this form.
	name, addr := req.user.Name, s.clientAddr(r)
	if wait := s.throttle.charge(r.Context(), name, addr); wait > 0 {
		secs := retrySeconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		redo(http.StatusTooManyRequests, errorf("Too many wrong passwords: try again in %d seconds.", secs))
		return
	}
	_, hash, err := s.store.PasswordHash(r.Context(), name)
	if err != nil {
		s.throttle.refund(r.Context(), name, addr, false)
		s.fail(w, r, err)
		return
	}
	ok, err := account.Check(r.Context(), hash, f["current"])
	if err != nil {
		s.throttle.refund(r.Context(), name, addr, false)
		s.hashFailed(w, r, req, "Your account", err)
		return
	}
	if !ok {
		s.audit(r, req.user.Name, store.AuditPasswordChange, req.user.Name, store.AuditOutcomeFailure, "wrong current password")
		redo(http.StatusBadRequest, "The current password is wrong.")
		return
	}
	s.throttle.refund(r.Context(), name, addr, true)
	if err := account.ValidatePassword(name, f["password"]); err != nil {
		redo(http.StatusBadRequest, err.Error())
		return
	}
	newHash, err := account.Hash(r.Context(), f["password"])
	if err != nil {
		s.hashFailed(w, r, req, "Your account", err)
		return
	}
	if err := s.store.SetPassword(r.Context(), req.user.ID, newHash); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, req.user.Name, store.AuditPasswordChange, req.user.Name, "", "")
	// SetPassword ended every session; this browser gets a fresh one.
	if err := s.startSession(w, r, req.user); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "account", req, page{Title: "Your account", Nav: "account", Message: "Password changed; other browsers were signed out."})
}

// hashFailed answers a password hash or check that could not run: 503 with
// Retry-After when every hashing slot stayed busy (account.ErrBusy), nothing
// when the client went away, else a server error.
func (s *Server) hashFailed(w http.ResponseWriter, r *http.Request, req *request, title string, err error) {
	switch {
	case errors.Is(err, account.ErrBusy):
		w.Header().Set("Retry-After", "1")
		s.message(w, r, http.StatusServiceUnavailable, req, title, "The server is busy checking passwords: try again in a moment.")
	case r.Context().Err() != nil:
		w.WriteHeader(499)
	default:
		s.fail(w, r, err)
	}
}

// loginFailureReason is the audit log's word for a failed password sign-in
// (the page says the same thing for every cause).
func loginFailureReason(hash string, u store.User) string {
	switch {
	case hash == "":
		return "no such account"
	case u.Disabled:
		return "account deactivated"
	case hash == store.ExternalPasswordHash:
		return "account signs in at its provider"
	}
	return "wrong password"
}
