package web

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/servalhq/serval/server/store"
)

// The audit log from the web app's side: audit records what a request did,
// and GET /admin/audit shows the log with filters and paging. Every call
// passes names, never codes, tokens or passwords.

// audit appends one event for r: its actor (the signed-in account, or who
// a failed sign-in claimed to be), the client address, outcome and detail.
// The event is logged too (a failure at warn), so that sign-ins, device
// approvals and every other audited action reach the server's log and
// whatever collects it. A failure to write is logged: the request it
// describes has happened.
func (s *Server) audit(r *http.Request, actor, action, target, outcome, detail string) {
	addr := s.clientAddr(r)
	level := slog.LevelInfo
	if outcome == store.AuditOutcomeFailure {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "web: "+action, "actor", actor, "target", target, "address", addr, "outcome", cmp.Or(outcome, store.AuditOutcomeSuccess), "detail", detail)
	err := s.store.Audit(r.Context(), store.AuditEvent{
		Actor: actor, Action: action, Target: target, Address: addr, Outcome: outcome, Detail: detail,
	})
	if err != nil {
		s.log.Error("audit log write failed", "action", action, "err", err)
	}
}

// auditSignIn records a sign-in attempt by method ("password", "oidc:<name>", "ldap").
func (s *Server) auditSignIn(r *http.Request, actor, method string, ok bool, why string) {
	outcome, detail := store.AuditOutcomeSuccess, "method "+method
	if !ok {
		outcome = store.AuditOutcomeFailure
		if why != "" {
			detail += ": " + why
		}
	}
	s.audit(r, actor, store.AuditSignIn, "", outcome, detail)
}

var auditQuery = map[string]int{"actor": maxNameField, "action": maxNameField, "outcome": maxShortField, "since": maxShortField, "before": maxShortField}

type auditData struct {
	Events  []store.AuditEvent
	Filter  map[string]string
	Actions []string
	Next    string // the next (older) page's URL; "" on the last
}

// auditActions are the action filter's choices; "user." selects all user.* actions.
var auditActions = []string{
	store.AuditSignIn, store.AuditSignOut, store.AuditPasswordChange, "token.", "user.", "invitation.", "reset-link.", "device.", store.AuditServerStart,
}

// handleAudit serves GET /admin/audit?actor=&action=&outcome=&since=&before=.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, req *request) {
	q, ferr := decodeForm(w, r, auditQuery)
	if ferr != nil {
		s.render(w, r, ferr.status, "audit", req, page{Title: "Audit log", Nav: "admin", Error: ferr.msg, Data: auditData{Actions: auditActions}})
		return
	}
	f := store.AuditFilter{Actor: q["actor"], Action: q["action"], Outcome: q["outcome"], Limit: store.DefaultAuditPageSize}
	bad := func(msg string) {
		s.render(w, r, http.StatusBadRequest, "audit", req, page{Title: "Audit log", Nav: "admin", Error: msg, Data: auditData{Filter: q, Actions: auditActions}})
	}
	if q["since"] != "" {
		d, err := ParseAge(q["since"])
		if err != nil {
			bad("since: " + err.Error())
			return
		}
		f.Since = s.now().Add(-d)
	}
	if q["before"] != "" {
		n, err := strconv.ParseInt(q["before"], 10, 64)
		if err != nil || n < 1 {
			bad("before: a positive event id")
			return
		}
		f.Before = n
	}
	events, err := s.store.AuditEvents(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := auditData{Events: events, Filter: q, Actions: auditActions}
	if len(events) == f.Limit {
		next := url.Values{}
		for k, v := range q {
			if v != "" && k != "before" {
				next.Set(k, v)
			}
		}
		next.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
		d.Next = "/admin/audit?" + next.Encode()
	}
	s.render(w, r, http.StatusOK, "audit", req, page{Title: "Audit log", Nav: "admin", Data: d})
}

// ParseAge reads an age as Go writes durations ("36h", "90m") or in whole
// days ("30d"): the audit page's and `serval audit --since`'s filter and
// the retention setting.
func ParseAge(v string) (time.Duration, error) {
	if n := len(v); n > 1 && v[n-1] == 'd' {
		days, err := strconv.Atoi(v[:n-1])
		if err != nil || days < 1 || days > 100*365 {
			return 0, errAge
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errAge
	}
	return d, nil
}

var errAge = errors.New(`an age such as "30d", "12h" or "90m"`)
