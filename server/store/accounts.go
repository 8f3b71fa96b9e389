package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// accountsMigration adds the web app's accounts: users, their browser
// sessions, invitations and password-reset links, and the owner and last use
// of each token. Tokens made before it (owner NULL) keep working as server
// tokens.
const accountsMigration = `
CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	password_hash TEXT    NOT NULL,
	is_admin      INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
	id_hash    TEXT    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE invitations (
	id         INTEGER PRIMARY KEY,
	code_hash  TEXT    NOT NULL UNIQUE,
	kind       TEXT    NOT NULL,
	user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
	note       TEXT    NOT NULL DEFAULT '',
	created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,
	revoked_at INTEGER
);
ALTER TABLE tokens ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
CREATE INDEX tokens_user ON tokens(user_id);
ALTER TABLE events ADD COLUMN latency_ms INTEGER;
CREATE INDEX events_created ON events(created_at);
CREATE INDEX events_token_created ON events(token_name, created_at);
`

// User is an account of the web app.
type User struct {
	ID        int64
	Name      string
	IsAdmin   bool
	Disabled  bool
	CreatedAt time.Time
}

// Errors of account operations.
var (
	ErrUserExists     = errors.New("this username is taken")
	ErrSetupDone      = errors.New("the first account already exists")
	ErrLastAdmin      = errors.New("the last active admin cannot lose admin rights or be deactivated")
	ErrCodeInvalid    = errors.New("this link is invalid, used, revoked or expired")
	ErrUserNotActive  = errors.New("this account is deactivated")
	errPasswordHashNo = errors.New("password hash is empty")
)

const userColumns = `id, name, is_admin, disabled, created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Name, &u.IsAdmin, &u.Disabled, &created)
	u.CreatedAt = time.Unix(created, 0)
	return u, err
}

// CountUsers returns how many accounts exist (active or not).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// CreateUser adds an account with an already hashed password. The name must
// have passed ValidateUsername.
func (s *Store) CreateUser(ctx context.Context, name, passwordHash string, admin bool) (User, error) {
	return s.createUser(ctx, s.db, name, passwordHash, admin)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) createUser(ctx context.Context, db execer, name, passwordHash string, admin bool) (User, error) {
	if err := ValidateUsername(name); err != nil {
		return User{}, err
	}
	if passwordHash == "" {
		return User{}, errPasswordHashNo
	}
	now := s.now()
	var id int64
	err := db.QueryRowContext(ctx,
		`INSERT INTO users(name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		name, passwordHash, admin, now.Unix()).Scan(&id)
	if err != nil {
		if isUnique(err) {
			return User{}, ErrUserExists
		}
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return User{ID: id, Name: name, IsAdmin: admin, CreatedAt: time.Unix(now.Unix(), 0)}, nil
}

// CreateFirstAdmin creates the first account, as admin, only while there is
// none; otherwise it returns ErrSetupDone. The check and the insert are one
// transaction, so two setups racing (in one process or on two replicas)
// cannot both win. Every setup code (LinkSetup) is used up with it.
func (s *Store) CreateFirstAdmin(ctx context.Context, name, passwordHash string) (User, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("create first admin: %w", err)
	}
	defer tx.Rollback()
	// The write lock is taken before the count is read.
	if _, err := tx.ExecContext(ctx, s.dialect.lockTableSQL("users")); err != nil {
		return User{}, fmt.Errorf("create first admin: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return User{}, fmt.Errorf("create first admin: %w", err)
	}
	if n > 0 {
		return User{}, ErrSetupDone
	}
	u, err := s.createUser(ctx, tx, name, passwordHash, true)
	if err != nil {
		return User{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = ? WHERE kind = ? AND used_at IS NULL`,
		s.now().Unix(), LinkSetup); err != nil {
		return User{}, fmt.Errorf("create first admin: %w", err)
	}
	return u, tx.Commit()
}

// UserByName returns the account called name (any case), or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	return s.userWhere(ctx, `name = ?`, name)
}

// UserByID returns the account with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return s.userWhere(ctx, `id = ?`, id)
}

func (s *Store) userWhere(ctx context.Context, where string, arg any) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// PasswordHash returns the stored password hash of the account called name
// with the account, or ErrNotFound.
func (s *Store) PasswordHash(ctx context.Context, name string) (User, string, error) {
	var hash string
	var created int64
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.IsAdmin, &u.Disabled, &created, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", ErrNotFound
	}
	if err != nil {
		return User{}, "", fmt.Errorf("read user: %w", err)
	}
	u.CreatedAt = time.Unix(created, 0)
	return u, hash, nil
}

// ListUsers returns every account, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// SetPassword replaces the account's password hash, ends all its sessions
// and revokes its open reset links.
func (s *Store) SetPassword(ctx context.Context, userID int64, passwordHash string) error {
	if passwordHash == "" {
		return errPasswordHashNo
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.setPassword(ctx, tx, userID, passwordHash) })
}

// setPassword replaces the password hash inside tx. What the old password
// stood for goes with it: the account's sessions end, and its open reset
// links are revoked, so that an older link (or one an attacker requested)
// cannot set the password again after the owner changed or reset it.
func (s *Store) setPassword(ctx context.Context, tx *sql.Tx, userID int64, passwordHash string) error {
	if err := affectOne(tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, userID)); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = ? WHERE kind = ? AND user_id = ? AND used_at IS NULL AND revoked_at IS NULL`,
		s.now().Unix(), LinkReset, userID); err != nil {
		return fmt.Errorf("revoke reset links: %w", err)
	}
	return nil
}

// SetDisabled deactivates (or reactivates) an account. Deactivating ends its
// sessions at once, denies the editor sign-ins it approved that have not
// been collected, and its tokens stop authenticating (LookupToken skips
// them). The last active admin cannot be deactivated.
func (s *Store) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if disabled {
			if err := lastAdminGuard(ctx, tx, userID); err != nil {
				return err
			}
		}
		if err := affectOne(tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, userID)); err != nil {
			return fmt.Errorf("set disabled: %w", err)
		}
		if disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
			// An editor sign-in the account approved but has not collected
			// yet must not yield a token once the account is reactivated.
			if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET state = ? WHERE user_id = ? AND state = ?`,
				DeviceDenied, userID, DeviceApproved); err != nil {
				return fmt.Errorf("deny approved editor sign-ins: %w", err)
			}
		}
		return nil
	})
}

// SetAdmin grants or removes admin rights; the last active admin keeps them.
func (s *Store) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if !admin {
			if err := lastAdminGuard(ctx, tx, userID); err != nil {
				return err
			}
		}
		if err := affectOne(tx.ExecContext(ctx, `UPDATE users SET is_admin = ? WHERE id = ?`, admin, userID)); err != nil {
			return fmt.Errorf("set admin: %w", err)
		}
		return nil
	})
}

// lastAdminGuard refuses a change that would leave no active admin, when
// userID is one.
func lastAdminGuard(ctx context.Context, tx *sql.Tx, userID int64) error {
	var others, self int
	err := tx.QueryRowContext(ctx, `SELECT
		count(CASE WHEN id <> ? THEN 1 END), count(CASE WHEN id = ? THEN 1 END)
		FROM users WHERE is_admin = 1 AND disabled = 0`, userID, userID).Scan(&others, &self)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if self == 1 && others == 0 {
		return ErrLastAdmin
	}
	return nil
}

func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// affectOne turns an update that changed no row into ErrNotFound.
func affectOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Username rules: what a token's owner prefix and a URL path segment can carry.
const (
	MaxUsernameLen = 32
	usernameChars  = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
)

// ValidateUsername accepts 1-32 letters, digits, '.', '_' and '-', starting
// with a letter or digit.
func ValidateUsername(name string) error {
	if name == "" {
		return errors.New("username is empty")
	}
	if len(name) > MaxUsernameLen {
		return fmt.Errorf("username is longer than %d characters", MaxUsernameLen)
	}
	for i := 0; i < len(name); i++ {
		if !strings.ContainsRune(usernameChars, rune(name[i])) {
			return errors.New("username may contain only letters, digits, '.', '_' and '-'")
		}
	}
	if strings.ContainsRune("._-", rune(name[0])) {
		return errors.New("username must start with a letter or a digit")
	}
	return nil
}

// SetClock replaces the store's clock (tests of expiry, in this and other
// packages); nil restores time.Now.
func (s *Store) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.now = now
}
