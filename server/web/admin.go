package web

import (
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
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
	Me        int64 // the admin looking: no "Deactivate" on their own row
	ResetLink string
	ResetFor  string
	Notice    string
}

// handleUsers serves GET /admin/users.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, req *request) {
	f := s.takeFlash(w, r, req)
	s.renderUsers(w, r, req, http.StatusOK, "", usersData{ResetLink: f.Secret, ResetFor: f.SecretFor, Notice: f.Notice})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, req *request, status int, errMsg string, d usersData) {
	users, err := s.store.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Users, d.Me = users, req.user.ID
	s.render(w, r, status, "users", req, page{Title: "Users", Nav: "admin", Error: errMsg, Notice: d.Notice, Data: d})
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
	var notice string
	switch r.PathValue("action") {
	case "disable":
		if u.ID == req.user.ID {
			s.renderUsers(w, r, req, http.StatusBadRequest, "You cannot deactivate your own account.", usersData{})
			return
		}
		err = s.store.SetDisabled(r.Context(), u.ID, true)
		notice = errorf("%s deactivated: signed out everywhere, and their tokens get 401 from now on.", u.Name)
	case "enable":
		err = s.store.SetDisabled(r.Context(), u.ID, false)
		notice = errorf("%s reactivated: they can sign in again, and their tokens work again.", u.Name)
	case "admin":
		err = s.store.SetAdmin(r.Context(), u.ID, true)
		notice = errorf("%s is now an admin.", u.Name)
	case "unadmin":
		err = s.store.SetAdmin(r.Context(), u.ID, false)
		notice = errorf("%s is no longer an admin.", u.Name)
	case "reset":
		code, err := s.store.CreateLink(r.Context(), store.LinkReset, u.ID, "", req.user.ID, resetLinkTTL)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.audit(r, req.user.Name, store.AuditResetIssue, u.Name, "", "")
		s.redirectWith(w, r, req, "/admin/users", flash{Secret: s.baseURL(r) + "/reset?code=" + code, SecretFor: u.Name})
		return
	default:
		s.message(w, r, http.StatusNotFound, req, "Not found", "Unknown action.")
		return
	}
	if action, ok := userActionAudit[r.PathValue("action")]; ok {
		outcome, detail := auditOutcome(err)
		s.audit(r, req.user.Name, action, u.Name, outcome, detail)
	}
	if errors.Is(err, store.ErrLastAdmin) {
		s.renderUsers(w, r, req, http.StatusConflict, "The last active admin must stay an active admin.", usersData{})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.redirectWith(w, r, req, "/admin/users", flash{Notice: notice})
}

// handleAllTokens serves GET /admin/tokens: every token, with its owner.
func (s *Server) handleAllTokens(w http.ResponseWriter, r *http.Request, req *request) {
	tokens, err := s.store.UserTokens(r.Context(), 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := s.takeFlash(w, r, req)
	s.render(w, r, http.StatusOK, "tokens", req, page{Title: "All tokens", Nav: "admin", Notice: f.Notice, Data: tokens})
}

type invitationsData struct {
	Links   []store.Link
	NewLink string
	Now     time.Time
}

// handleInvitations serves GET /admin/invitations.
func (s *Server) handleInvitations(w http.ResponseWriter, r *http.Request, req *request) {
	f := s.takeFlash(w, r, req)
	s.renderInvitations(w, r, req, http.StatusOK, "", f.Secret, f.Notice)
}

func (s *Server) renderInvitations(w http.ResponseWriter, r *http.Request, req *request, status int, errMsg, link string, notice ...string) {
	links, err := s.store.ListLinks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "invitations", req, page{Title: "Invitations", Nav: "admin", Error: errMsg, Notice: strings.Join(notice, ""),
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
	s.audit(r, req.user.Name, store.AuditInviteCreate, f["note"], "", errorf("valid %d days", days))
	s.redirectWith(w, r, req, "/admin/invitations", flash{Secret: s.baseURL(r) + "/register?invite=" + code,
		Notice: "Invitation created: send the link below; it is shown only now."})
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
	s.audit(r, req.user.Name, store.AuditInviteRevoke, "invitation id "+r.PathValue("id"), "", "")
	s.redirectWith(w, r, req, "/admin/invitations", flash{Notice: "Invitation revoked: its link no longer works."})
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

// userActionAudit maps the /users/{name}/{action} actions to audit actions.
var userActionAudit = map[string]string{
	"disable": store.AuditUserDisable, "enable": store.AuditUserEnable,
	"admin": store.AuditUserAdmin, "unadmin": store.AuditUserUnadmin,
}

// auditOutcome is the outcome and detail of an admin action's error.
func auditOutcome(err error) (string, string) {
	switch {
	case err == nil:
		return store.AuditOutcomeSuccess, ""
	case errors.Is(err, store.ErrLastAdmin):
		return store.AuditOutcomeFailure, "the last active admin"
	}
	return store.AuditOutcomeFailure, "server error"
}
