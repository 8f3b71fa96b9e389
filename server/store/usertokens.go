package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// OwnedToken is a token with its owner and last use. Tokens of an account are
// stored under "<username>/<name>", which is the name the API, the rate
// limiter and the events see; tokens without an owner are server tokens made
// by `serval token create` (or before accounts existed).
type OwnedToken struct {
	ID         int64
	Name       string // as its owner named it
	FullName   string // the stored, unique name
	Owner      string // "" for server tokens
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// OwnedTokenName is the stored name of the user's token called name.
func OwnedTokenName(user, name string) string { return user + "/" + name }

// lastUsedEvery bounds the writes LookupToken makes: a token's last use is
// recorded at most once a minute.
const lastUsedEvery = 60

// DefaultMaxUserTokens is how many tokens one account may hold unless the
// server is told otherwise (--max-tokens-per-user): one per editor and
// machine is a handful; every token has its own rate-limit budget, so the
// bound is also a bound on one account's share of the server.
const DefaultMaxUserTokens = 50

// ErrTooManyTokens refuses a token that would take an account past its limit.
var ErrTooManyTokens = errors.New("the account holds the most tokens allowed")

// CreateUserToken issues a token called name for the user and returns its
// secret, shown only now. An account that holds limit tokens (limit ≤ 0:
// DefaultMaxUserTokens) gets an error wrapping ErrTooManyTokens.
func (s *Store) CreateUserToken(ctx context.Context, u User, name string, limit int) (string, error) {
	if err := ValidateTokenName(name); err != nil {
		return "", err
	}
	var secret string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		secret, err = insertUserToken(ctx, tx, u, name, s.now(), limit)
		return err
	})
	return secret, err
}

// insertUserToken stores a new token of the user called name and returns
// its secret, unless the user holds limit tokens already. The count and the
// insert are one step: the account's row is written first, which takes its
// lock (SQLite's database write lock, PostgreSQL's row lock) before the
// count, so that concurrent requests cannot all pass it.
func insertUserToken(ctx context.Context, tx *sql.Tx, u User, name string, now time.Time, limit int) (string, error) {
	if limit <= 0 {
		limit = DefaultMaxUserTokens
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET id = id WHERE id = ?`, u.ID); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	var held int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE user_id = ?`, u.ID).Scan(&held); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	if held >= limit {
		return "", fmt.Errorf("%s holds %d tokens, the most one account may hold (--max-tokens-per-user %d): revoke one first: %w", u.Name, held, limit, ErrTooManyTokens)
	}
	secret, err := NewTokenSecret()
	if err != nil {
		return "", err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO tokens(name, hash, created_at, user_id) VALUES (?, ?, ?, ?)`,
		OwnedTokenName(u.Name, name), HashToken(secret), now.Unix(), u.ID)
	if err != nil {
		if isUnique(err) {
			return "", fmt.Errorf("token %q: %w", name, ErrTokenExists)
		}
		return "", fmt.Errorf("store token: %w", err)
	}
	return secret, nil
}

// UserTokens returns the user's tokens (userID 0: every token), oldest first.
func (s *Store) UserTokens(ctx context.Context, userID int64) ([]OwnedToken, error) {
	q := `SELECT t.id, t.name, coalesce(u.name, ''), t.created_at, t.last_used_at
		FROM tokens t LEFT JOIN users u ON u.id = t.user_id`
	args := []any{}
	if userID != 0 {
		q += ` WHERE t.user_id = ?`
		args = append(args, userID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY t.created_at, t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var tokens []OwnedToken
	for rows.Next() {
		var t OwnedToken
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.FullName, &t.Owner, &created, &used); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Name = t.FullName
		if t.Owner != "" {
			t.Name = strings.TrimPrefix(t.FullName, t.Owner+"/")
		}
		t.CreatedAt, t.LastUsedAt = time.Unix(created, 0), optTime(used)
		tokens = append(tokens, t)
	}
	return tokens, rows.Err()
}

// RotateToken gives the token id a new secret (the old one stops working)
// and returns it. userID 0 rotates any token (admin); otherwise only the
// user's own.
func (s *Store) RotateToken(ctx context.Context, id, userID int64) (string, error) {
	secret, err := NewTokenSecret()
	if err != nil {
		return "", err
	}
	err = affectOne(s.db.ExecContext(ctx, `UPDATE tokens SET hash = ?, last_used_at = NULL WHERE id = ? AND (? = 0 OR user_id = ?)`,
		HashToken(secret), id, userID, userID))
	if err != nil {
		return "", fmt.Errorf("rotate token: %w", err)
	}
	return secret, nil
}

// RevokeTokenID deletes the token id; userID 0 revokes any token (admin),
// otherwise only the user's own.
func (s *Store) RevokeTokenID(ctx context.Context, id, userID int64) error {
	err := affectOne(s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id = ? AND (? = 0 OR user_id = ?)`, id, userID, userID))
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// lookupTokenSQL is the read every API request makes (prepared once: under
// load, compiling it again for each request was most of its cost).
const lookupTokenSQL = `SELECT t.id, t.name, t.last_used_at FROM tokens t
	LEFT JOIN users u ON u.id = t.user_id
	WHERE t.hash = ? AND coalesce(u.disabled, 0) = 0`

// lookupActiveToken finds the token with the secret's hash unless its owner
// is deactivated, and records its use at most once a minute.
func (s *Store) lookupActiveToken(ctx context.Context, secret string) (string, error) {
	var id int64
	var name string
	var used sql.NullInt64
	err := s.lookupToken.QueryRowContext(ctx, HashToken(secret)).Scan(&id, &name, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("look up token: %w", err)
	}
	now := s.now().Unix()
	if !used.Valid || now-used.Int64 >= lastUsedEvery {
		// The record of use is best effort: a database another process
		// holds write-locked (a backup, a long CLI command) must not turn
		// an authenticated request into an error. The next check retries.
		s.db.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, now, id)
	}
	return name, nil
}

// ErrServerToken refuses to act on a server token (one without an owner)
// where only an account's token is meant.
var ErrServerToken = errors.New("a server token, not an account's: revoke it with serval token revoke")

// RevokeOwnToken deletes the account token whose secret is given, as its
// holder signing out does, and returns it (its Owner and Name). A secret
// no token has is ErrNotFound; a server token's is ErrServerToken.
func (s *Store) RevokeOwnToken(ctx context.Context, secret string) (OwnedToken, error) {
	var t OwnedToken
	var owner sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT t.id, t.name, u.name FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = ?`,
		HashToken(secret)).Scan(&t.ID, &t.FullName, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return OwnedToken{}, ErrNotFound
	}
	if err != nil {
		return OwnedToken{}, fmt.Errorf("revoke token: %w", err)
	}
	if !owner.Valid {
		return OwnedToken{}, ErrServerToken
	}
	t.Owner, t.Name = owner.String, strings.TrimPrefix(t.FullName, owner.String+"/")
	// By hash, so that a token rotated meanwhile is not the one deleted.
	if err := affectOne(s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id = ? AND hash = ?`, t.ID, HashToken(secret))); err != nil {
		return OwnedToken{}, fmt.Errorf("revoke token: %w", err)
	}
	return t, nil
}
