package web

import (
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/store"
)

// Invitations last this long unless the admin says otherwise.
const (
	DefaultInviteDays = 7
	maxInviteDays     = 365
	resetLinkTTL      = 24 * time.Hour
)

var invitationForm = map[string]int{"note": maxNoteField, "days": maxShortField}

type usersData struct {
	Users     []store.User
	ResetLink string
	ResetFor  string
}

// handleUsers serves GET /admin/users.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, req *request) {
	s.renderUsers(w, r, req, http.StatusOK, "", usersData{})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, req *request, status int, errMsg string, d usersData) {
	users, err := s.store.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Users = users
	s.render(w, r, status, "users", req, page{Title: "Users", Nav: "admin", Error: errMsg, Data: d})
}

// handleUserAction serves POST /users/{name}/{action}: disable, enable,
// admin, unadmin, reset (a one-time password-reset link).
func (s *Server) handleUserAction(w http.ResponseWriter, r *http.Request, req *request) {
	u, err := s.store.UserByName(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		s.message(w, r, http.StatusNotFound, req, "No such user", "There is no such user.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch r.PathValue("action") {
	case "disable":
		if u.ID == req.user.ID {
			s.renderUsers(w, r, req, http.StatusBadRequest, "You cannot deactivate your own account.", usersData{})
			return
		}
		err = s.store.SetDisabled(r.Context(), u.ID, true)
	case "enable":
		err = s.store.SetDisabled(r.Context(), u.ID, false)
	case "admin":
		err = s.store.SetAdmin(r.Context(), u.ID, true)
	case "unadmin":
		err = s.store.SetAdmin(r.Context(), u.ID, false)
	case "reset":
		code, err := s.store.CreateLink(r.Context(), store.LinkReset, u.ID, "", req.user.ID, resetLinkTTL)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.renderUsers(w, r, req, http.StatusOK, "", usersData{ResetLink: s.baseURL(r) + "/reset?code=" + code, ResetFor: u.Name})
		return
	default:
		s.message(w, r, http.StatusNotFound, req, "Not found", "Unknown action.")
		return
	}
	if errors.Is(err, store.ErrLastAdmin) {
		s.renderUsers(w, r, req, http.StatusConflict, "The last active admin must stay an active admin.", usersData{})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

// handleAllTokens serves GET /admin/tokens: every token, with its owner.
func (s *Server) handleAllTokens(w http.ResponseWriter, r *http.Request, req *request) {
	tokens, err := s.store.UserTokens(r.Context(), 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "tokens", req, page{Title: "All tokens", Nav: "admin", Data: tokens})
}

type invitationsData struct {
	Links   []store.Link
	NewLink string
	Now     time.Time
}

// handleInvitations serves GET /admin/invitations.
func (s *Server) handleInvitations(w http.ResponseWriter, r *http.Request, req *request) {
	s.renderInvitations(w, r, req, http.StatusOK, "", "")
}

func (s *Server) renderInvitations(w http.ResponseWriter, r *http.Request, req *request, status int, errMsg, link string) {
	links, err := s.store.ListLinks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "invitations", req, page{Title: "Invitations", Nav: "admin", Error: errMsg,
		Data: invitationsData{Links: links, NewLink: link, Now: s.now()}})
}

// handleCreateInvitation serves POST /invitations (note, days): the page
// shows the /register?invite= link once.
func (s *Server) handleCreateInvitation(w http.ResponseWriter, r *http.Request, req *request) {
	f, ferr := decodeForm(w, r, invitationForm)
	if ferr != nil {
		s.renderInvitations(w, r, req, ferr.status, ferr.msg, "")
		return
	}
	days := DefaultInviteDays
	if f["days"] != "" {
		n, err := strconv.Atoi(f["days"])
		if err != nil || n < 1 || n > maxInviteDays {
			s.renderInvitations(w, r, req, http.StatusBadRequest, errorf("days: a whole number from 1 to %d", maxInviteDays), "")
			return
		}
		days = n
	}
	code, err := s.store.CreateLink(r.Context(), store.LinkInvite, 0, f["note"], req.user.ID, time.Duration(days)*24*time.Hour)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderInvitations(w, r, req, http.StatusOK, "", s.baseURL(r)+"/register?invite="+code)
}

// handleRevokeInvitation serves POST /invitations/{id}/revoke.
func (s *Server) handleRevokeInvitation(w http.ResponseWriter, r *http.Request, req *request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		err = s.store.RevokeLink(r.Context(), id)
	}
	if err != nil {
		s.renderInvitations(w, r, req, http.StatusNotFound, "No open invitation with this id.", "")
		return
	}
	http.Redirect(w, r, "/admin/invitations", http.StatusSeeOther)
}

type systemData struct {
	Version   string
	Uptime    time.Duration
	GoVersion string
	Engines   []systemEngine
	Users     int
}

type systemEngine struct {
	Role string
	engine.Info
}

// handleSystem serves GET /admin/system: engines, pool members, slots,
// queue, version, uptime.
func (s *Server) handleSystem(w http.ResponseWriter, r *http.Request, req *request) {
	n, err := s.store.CountUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := systemData{Version: s.cfg.Version, Uptime: s.now().Sub(s.started).Truncate(time.Second), GoVersion: runtime.Version(), Users: n}
	for _, e := range s.cfg.Engines {
		d.Engines = append(d.Engines, systemEngine{Role: e.Role, Info: e.Engine.Info()})
	}
	s.render(w, r, http.StatusOK, "system", req, page{Title: "System", Nav: "admin", Data: d})
}
