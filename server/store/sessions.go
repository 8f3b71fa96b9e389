package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// newSecretCode returns 32 random bytes, URL-safe base64 (43 characters):
// session ids, invitation and reset codes.
func newSecretCode() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateSession starts a browser session for the user, valid for ttl, and
// returns its id (the cookie's value). Only its hash is stored.
func (s *Store) CreateSession(ctx context.Context, userID int64, ttl time.Duration) (string, error) {
	id, err := newSecretCode()
	if err != nil {
		return "", err
	}
	now := s.now()
	// Expired sessions go when a new one starts: the table stays small
	// without a background sweeper.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now.Unix()); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions(id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		HashToken(id), userID, now.Unix(), now.Add(ttl).Unix())
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return id, nil
}

// SessionUser returns the active account of an unexpired session, or
// ErrNotFound (unknown, ended or expired session, or deactivated account).
func (s *Store) SessionUser(ctx context.Context, sessionID string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT u.id, u.name, u.is_admin, u.disabled, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0`, HashToken(sessionID), s.now().Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("read session: %w", err)
	}
	return u, nil
}

// DeleteSession ends one session (logout); ending an unknown one is not an error.
func (s *Store) DeleteSession(ctx context.Context, sessionID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, HashToken(sessionID)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// DeleteOtherSessions ends every session of the user but keep (after a
// password change the current browser stays signed in, the others not).
func (s *Store) DeleteOtherSessions(ctx context.Context, userID int64, keep string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, userID, HashToken(keep)); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}
