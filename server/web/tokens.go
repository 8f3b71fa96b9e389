package web

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"

	"github.com/servalhq/serval/server/store"
)

var tokenForm = map[string]int{"name": maxNameField}

// homeData is the home page: the account's tokens and editor snippets.
type homeData struct {
	Tokens   []store.OwnedToken
	NewToken string // a secret shown once, after create or rotate
	NewName  string
	Notice   string // what the last action did
	BaseURL  string
}

// baseURL is this server as the browser reached it, for editor snippets.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if s.overTLS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) renderHome(w http.ResponseWriter, r *http.Request, req *request, status int, errMsg string, created *homeData) {
	tokens, err := s.store.UserTokens(r.Context(), req.user.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := homeData{Tokens: tokens, BaseURL: s.baseURL(r)}
	notice := ""
	if created != nil {
		d.NewToken, d.NewName = created.NewToken, created.NewName
		notice = created.Notice
	}
	s.render(w, r, status, "home", req, page{Title: "Your tokens", Nav: "home", Notice: notice, Error: errMsg, Data: d})
}

// handleCreateToken serves POST /tokens (name): the page shows the new
// secret once.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, req *request) {
	f, ferr := decodeForm(w, r, tokenForm)
	if ferr != nil {
		s.renderHome(w, r, req, ferr.status, ferr.msg, nil)
		return
	}
	secret, err := s.store.CreateUserToken(r.Context(), req.user, f["name"], s.cfg.MaxTokensPerUser)
	switch {
	case errors.Is(err, store.ErrTokenExists):
		s.renderHome(w, r, req, http.StatusConflict, "You already have a token with this name: pick another or rotate it.", nil)
		return
	case errors.Is(err, store.ErrTooManyTokens):
		s.renderHome(w, r, req, http.StatusConflict, s.tooManyTokens(), nil)
		return
	case err != nil && store.ValidateTokenName(f["name"]) != nil:
		s.renderHome(w, r, req, http.StatusBadRequest, err.Error(), nil)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.audit(r, req.user.Name, store.AuditTokenCreate, store.OwnedTokenName(req.user.Name, f["name"]), "", "")
	s.redirectWith(w, r, req, "/", flash{Secret: secret, SecretFor: f["name"],
		Notice: errorf("Token “%s” created: copy it now, it is shown only once.", f["name"])})
}

// tokenOwner is whose tokens req may change: its own, or (admin) any (0).
func tokenOwner(req *request) int64 {
	if req.user.IsAdmin {
		return 0
	}
	return req.user.ID
}

// tokenID reads the {id} path value; ok false has answered 404.
func (s *Server) tokenID(w http.ResponseWriter, r *http.Request, req *request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.message(w, r, http.StatusNotFound, req, "No such token", "There is no such token.")
		return 0, false
	}
	return id, true
}

// handleRotateToken serves POST /tokens/{id}/rotate: a new secret, shown
// once; the old one stops working at once.
func (s *Server) handleRotateToken(w http.ResponseWriter, r *http.Request, req *request) {
	id, ok := s.tokenID(w, r, req)
	if !ok {
		return
	}
	name := s.tokenName(r, req, id)
	secret, err := s.store.RotateToken(r.Context(), id, tokenOwner(req))
	if errors.Is(err, store.ErrNotFound) {
		s.message(w, r, http.StatusNotFound, req, "No such token", "There is no such token.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, req.user.Name, store.AuditTokenRotate, name, "", "token id "+strconv.FormatInt(id, 10))
	s.redirectWith(w, r, req, "/", flash{Secret: secret, SecretFor: name,
		Notice: errorf("Token “%s” rotated: the old secret stopped working; copy the new one now, it is shown only once.", name)})
}

// handleRevokeToken serves POST /tokens/{id}/revoke.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, req *request) {
	id, ok := s.tokenID(w, r, req)
	if !ok {
		return
	}
	name := s.tokenName(r, req, id)
	err := s.store.RevokeTokenID(r.Context(), id, tokenOwner(req))
	if errors.Is(err, store.ErrNotFound) {
		s.message(w, r, http.StatusNotFound, req, "No such token", "There is no such token.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, req.user.Name, store.AuditTokenRevoke, "token id "+strconv.FormatInt(id, 10), "", "")
	back := "/"
	if r.URL.Query().Get("back") == "admin" && req.user.IsAdmin {
		back = "/admin/tokens"
	}
	s.redirectWith(w, r, req, back, flash{Notice: errorf("Token “%s” revoked: editors using it get 401 from now on.", name)})
}

// tokenName is the name of token id as req may see it ("" when it may not).
func (s *Server) tokenName(r *http.Request, req *request, id int64) string {
	tokens, err := s.store.UserTokens(r.Context(), tokenOwner(req))
	if err != nil {
		return ""
	}
	for _, t := range tokens {
		if t.ID == id {
			return t.Name
		}
	}
	return ""
}

// tooManyTokens tells a user at the token limit what to do.
func (s *Server) tooManyTokens() string {
	return errorf("You hold %d tokens, the most this server allows one account: revoke one you no longer use first.", cmp.Or(s.cfg.MaxTokensPerUser, store.DefaultMaxUserTokens))
}
