package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of one-time links.
const (
	LinkInvite = "invite" // /register?invite=CODE makes a new account
	LinkReset  = "reset"  // /reset?code=CODE sets a user's password
	// LinkSetup is the first run's one-time setup code: stored like the
	// other links so that every replica on one database accepts it; all of
	// them are used up when the first account is made (CreateFirstAdmin).
	LinkSetup = "setup"
)

// SetupLinkTTL is how long a setup code printed at start stays valid.
const SetupLinkTTL = 7 * 24 * time.Hour

// Link is an invitation or a password-reset link; its code is never stored.
type Link struct {
	ID        int64
	Kind      string
	UserID    int64  // reset links: whose password
	UserName  string // reset links
	Note      string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// State is "used", "revoked", "expired" or "open" at now.
func (l Link) State(now time.Time) string {
	switch {
	case l.UsedAt != nil:
		return "used"
	case l.RevokedAt != nil:
		return "revoked"
	case !now.Before(l.ExpiresAt):
		return "expired"
	}
	return "open"
}

// MaxNoteLen bounds an invitation's note.
const MaxNoteLen = 200

// CreateLink issues a one-time link of kind (LinkInvite, or LinkReset for
// userID) valid for ttl and returns its code, shown only now.
func (s *Store) CreateLink(ctx context.Context, kind string, userID int64, note string, createdBy int64, ttl time.Duration) (string, error) {
	if kind != LinkInvite && kind != LinkReset && kind != LinkSetup {
		return "", fmt.Errorf("link kind %q", kind)
	}
	if len(note) > MaxNoteLen {
		return "", fmt.Errorf("note is longer than %d characters", MaxNoteLen)
	}
	code, err := newSecretCode()
	if err != nil {
		return "", err
	}
	now := s.now()
	var user, by any
	if userID != 0 {
		user = userID
	}
	if createdBy != 0 {
		by = createdBy
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO invitations(code_hash, kind, user_id, note, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, HashToken(code), kind, user, note, by, now.Unix(), now.Add(ttl).Unix())
	if err != nil {
		return "", fmt.Errorf("create link: %w", err)
	}
	return code, nil
}

// CheckLink returns the open link of kind with code, or ErrCodeInvalid.
func (s *Store) CheckLink(ctx context.Context, kind, code string) (Link, error) {
	return s.openLink(ctx, s.db, kind, code)
}

func (s *Store) openLink(ctx context.Context, db execer, kind, code string) (Link, error) {
	var l Link
	var user sql.NullInt64
	var created, expires int64
	err := db.QueryRowContext(ctx, `SELECT id, kind, user_id, note, created_at, expires_at FROM invitations
		WHERE code_hash = ? AND kind = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		HashToken(code), kind, s.now().Unix()).Scan(&l.ID, &l.Kind, &user, &l.Note, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Link{}, ErrCodeInvalid
	}
	if err != nil {
		return Link{}, fmt.Errorf("read link: %w", err)
	}
	l.UserID, l.CreatedAt, l.ExpiresAt = user.Int64, time.Unix(created, 0), time.Unix(expires, 0)
	return l, nil
}

// useLink marks the open link used inside tx, or returns ErrCodeInvalid.
func (s *Store) useLink(ctx context.Context, tx *sql.Tx, kind, code string) (Link, error) {
	l, err := s.openLink(ctx, tx, kind, code)
	if err != nil {
		return Link{}, err
	}
	if err := affectOne(tx.ExecContext(ctx, `UPDATE invitations SET used_at = ? WHERE id = ? AND used_at IS NULL`, s.now().Unix(), l.ID)); err != nil {
		return Link{}, ErrCodeInvalid
	}
	return l, nil
}

// Register makes a new account from an open invitation, which is used up in
// the same transaction: one invitation, one account.
func (s *Store) Register(ctx context.Context, code, name, passwordHash string) (User, error) {
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.useLink(ctx, tx, LinkInvite, code); err != nil {
			return err
		}
		var err error
		u, err = s.createUser(ctx, tx, name, passwordHash, false)
		return err
	})
	return u, err
}

// ResetPassword sets a password from an open reset link, used up in the same
// transaction; the account's sessions end and its other reset links are
// revoked (setPassword).
func (s *Store) ResetPassword(ctx context.Context, code, passwordHash string) (User, error) {
	var userID int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		l, err := s.useLink(ctx, tx, LinkReset, code)
		if err != nil {
			return err
		}
		userID = l.UserID
		return s.setPassword(ctx, tx, userID, passwordHash)
	})
	if err != nil {
		return User{}, err
	}
	return s.UserByID(ctx, userID)
}

// RevokeLink revokes an open link; revoking a used or unknown one is ErrNotFound.
func (s *Store) RevokeLink(ctx context.Context, id int64) error {
	return affectOne(s.db.ExecContext(ctx, `UPDATE invitations SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL`, s.now().Unix(), id))
}

// ListLinks returns every invitation and reset link, newest first.
func (s *Store) ListLinks(ctx context.Context) ([]Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT i.id, i.kind, coalesce(i.user_id, 0), coalesce(t.name, ''), i.note,
		coalesce(c.name, ''), i.created_at, i.expires_at, i.used_at, i.revoked_at
		FROM invitations i LEFT JOIN users t ON t.id = i.user_id LEFT JOIN users c ON c.id = i.created_by
		WHERE i.kind <> ? ORDER BY i.id DESC`, LinkSetup)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	defer rows.Close()
	var links []Link
	for rows.Next() {
		var l Link
		var created, expires int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&l.ID, &l.Kind, &l.UserID, &l.UserName, &l.Note, &l.CreatedBy, &created, &expires, &used, &revoked); err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		l.CreatedAt, l.ExpiresAt = time.Unix(created, 0), time.Unix(expires, 0)
		l.UsedAt, l.RevokedAt = optTime(used), optTime(revoked)
		links = append(links, l)
	}
	return links, rows.Err()
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(v.Int64, 0)
	return &t
}
