package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// auditMigration adds the audit log: one row per security event, never
// changed once written (a trigger refuses updates); only PruneAudit deletes,
// and only rows older than the retention.
const auditMigration = `
CREATE TABLE audit (
	id         INTEGER PRIMARY KEY,
	created_at INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	target     TEXT    NOT NULL DEFAULT '',
	address    TEXT    NOT NULL DEFAULT '',
	outcome    TEXT    NOT NULL,
	detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_created ON audit(created_at);
CREATE INDEX audit_actor ON audit(actor, id);
CREATE INDEX audit_action ON audit(action, id);
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`

// Audit actions: what happened. The outcome says whether it succeeded.
const (
	AuditSignIn         = "sign-in"
	AuditSignOut        = "sign-out"
	AuditPasswordChange = "password.change"
	AuditTokenCreate    = "token.create"
	AuditTokenRotate    = "token.rotate"
	AuditTokenRevoke    = "token.revoke"
	AuditUserCreate     = "user.create"
	AuditUserDisable    = "user.disable"
	AuditUserEnable     = "user.enable"
	AuditUserAdmin      = "user.admin"
	AuditUserUnadmin    = "user.unadmin"
	AuditInviteCreate   = "invitation.create"
	AuditInviteUse      = "invitation.use"
	AuditInviteRevoke   = "invitation.revoke"
	AuditResetIssue     = "reset-link.issue"
	AuditResetUse       = "reset-link.use"
	AuditDeviceApprove  = "device.approve"
	AuditDeviceDeny     = "device.deny"
	AuditServerStart    = "server.start"

	AuditOutcomeSuccess = "success"
	AuditOutcomeFailure = "failure"

	// DefaultAuditPageSize is a page of the admin page.
	DefaultAuditPageSize = 50
	maxAuditPageSize     = 1000
	maxAuditField        = 200
	maxAuditDetail       = 1000
)

// AuditEvent is one row of the audit log. Actor is who did it (an account
// name, "cli", or what a failed sign-in typed), Target what it was done to,
// Address the client's address, Detail the method and reason in words.
// Nothing secret goes in any field: callers pass names, never codes,
// tokens or passwords.
type AuditEvent struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Address string    `json:"address"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
}

// Audit appends e to the audit log. A zero Time is now, an empty Outcome
// success, an empty Actor "-". Fields are cut to a bounded length and
// control characters replaced: what a failed sign-in typed is hostile.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	if e.Action == "" {
		return errors.New("audit: the action is empty")
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.Outcome == "" {
		e.Outcome = AuditOutcomeSuccess
	}
	if e.Actor == "" {
		e.Actor = "-"
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO audit(created_at, actor, action, target, address, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixMilli(), cleanAuditField(e.Actor, maxAuditField), cleanAuditField(e.Action, maxAuditField),
		cleanAuditField(e.Target, maxAuditField), cleanAuditField(e.Address, maxAuditField),
		cleanAuditField(e.Outcome, maxAuditField), cleanAuditField(e.Detail, maxAuditDetail))
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// cleanAuditField keeps at most max bytes of valid text without control
// characters, so a log line or page row cannot be forged or blown up.
func cleanAuditField(v string, max int) string {
	v = strings.ToValidUTF8(v, "�")
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
	if len(v) <= max {
		return v
	}
	cut := max
	for cut > 0 && !utf8RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// AuditFilter selects audit events; zero fields select everything.
type AuditFilter struct {
	Since   time.Time // events at or after
	Actor   string    // exact, any case
	Action  string    // exact, or a prefix ending in "." ("user.")
	Outcome string
	Before  int64 // only events with a smaller ID (the next page)
	Limit   int   // at most this many (0: DefaultAuditPageSize; capped)
	// All lifts the cap on Limit (the CLI's export); Limit 0 then means all.
	All bool
}

// AuditEvents returns the events f selects, newest first.
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, `created_at >= ?`), append(args, f.Since.UnixMilli())
	}
	if f.Actor != "" {
		where, args = append(where, `lower(actor) = lower(?)`), append(args, f.Actor)
	}
	switch {
	case strings.HasSuffix(f.Action, "."):
		where, args = append(where, `substr(action, 1, ?) = ?`), append(args, len(f.Action), f.Action)
	case f.Action != "":
		where, args = append(where, `action = ?`), append(args, f.Action)
	}
	if f.Outcome != "" {
		where, args = append(where, `outcome = ?`), append(args, f.Outcome)
	}
	if f.Before > 0 {
		where, args = append(where, `id < ?`), append(args, f.Before)
	}
	q := `SELECT id, created_at, actor, action, target, address, outcome, detail FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC`
	limit := f.Limit
	switch {
	case f.All && limit <= 0:
		limit = -1
	case limit <= 0:
		limit = DefaultAuditPageSize
	case !f.All && limit > maxAuditPageSize:
		limit = maxAuditPageSize
	}
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var ms int64
		if err := rows.Scan(&e.ID, &ms, &e.Actor, &e.Action, &e.Target, &e.Address, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneAudit deletes the events older than before (the retention) and
// returns how many.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM audit WHERE created_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return res.RowsAffected()
}
