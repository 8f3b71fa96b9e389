package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every token Serval issues.
const TokenPrefix = "srv_"

// tokenAlphabet is URL- and shell-safe; 62^32 is about 190 bits of entropy.
const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

const tokenRandomLen = 32

// Token is a stored token's metadata; the secret itself is never stored.
type Token struct {
	Name      string
	CreatedAt time.Time
}

// ErrTokenExists is returned by CreateToken when the name is taken.
var ErrTokenExists = errors.New("a token with this name already exists")

// NewTokenSecret returns a fresh random token: TokenPrefix + 32 characters.
func NewTokenSecret() (string, error) {
	var b strings.Builder
	b.WriteString(TokenPrefix)
	buf := make([]byte, tokenRandomLen)
	// Rejection sampling keeps every character equally likely.
	for b.Len() < len(TokenPrefix)+tokenRandomLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, c := range buf {
			if int(c) >= 256-256%len(tokenAlphabet) {
				continue
			}
			b.WriteByte(tokenAlphabet[int(c)%len(tokenAlphabet)])
			if b.Len() == len(TokenPrefix)+tokenRandomLen {
				break
			}
		}
	}
	return b.String(), nil
}

// HashToken is the stored form of a token. Tokens are long random strings, so
// a fast hash is enough: there is nothing to brute-force from the hash.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken issues a new token called name and returns its secret. Only the
// hash is stored, so the secret can never be shown again.
func (s *Store) CreateToken(ctx context.Context, name string) (string, error) {
	if err := ValidateTokenName(name); err != nil {
		return "", err
	}
	secret, err := NewTokenSecret()
	if err != nil {
		return "", err
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO tokens(name, hash, created_at) VALUES (?, ?, ?)`,
		name, HashToken(secret), s.now().Unix())
	if err != nil {
		if isUnique(err) { // the name: a hash collision of 190-bit secrets does not happen
			return "", fmt.Errorf("token %q: %w", name, ErrTokenExists)
		}
		return "", fmt.Errorf("store token: %w", err)
	}
	return secret, nil
}

// ValidateTokenName accepts 1-64 printable characters without spaces.
func ValidateTokenName(name string) error {
	if name == "" {
		return errors.New("token name is empty (use --name NAME)")
	}
	if len(name) > 64 {
		return errors.New("token name is longer than 64 characters")
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("token name %q contains a space or control character", name)
		}
	}
	return nil
}

// LookupToken returns the name of the token whose secret is given, or
// ErrNotFound (also when its owner's account is deactivated).
func (s *Store) LookupToken(ctx context.Context, secret string) (string, error) {
	return s.lookupActiveToken(ctx, secret)
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, created_at FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var tokens []Token
	for rows.Next() {
		var t Token
		var created int64
		if err := rows.Scan(&t.Name, &created); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt = time.Unix(created, 0)
		tokens = append(tokens, t)
	}
	return tokens, rows.Err()
}

// CountTokens returns how many tokens exist.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n)
	return n, err
}

// RevokeToken deletes the token called name; it stops working at once for new
// lookups (servers cache lookups for a few seconds, see server/auth).
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q: %w", name, ErrNotFound)
	}
	return nil
}
