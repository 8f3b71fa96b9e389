package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// identitiesMigration links accounts to identities at an OpenID provider or
// an LDAP directory: (issuer, subject) names one person there for good,
// unlike an email address, which can be reassigned. signin_flows holds the
// OpenID sign-ins between their two legs (state hashed; nonce and PKCE
// verifier, used once and for minutes).
const identitiesMigration = `
CREATE TABLE identities (
	issuer       TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	email        TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user ON identities(user_id);
CREATE TABLE signin_flows (
	state_hash TEXT    PRIMARY KEY,
	provider   TEXT    NOT NULL,
	nonce      TEXT    NOT NULL,
	verifier   TEXT    NOT NULL,
	redirect   TEXT    NOT NULL,
	next       TEXT    NOT NULL DEFAULT '',
	expires_at INTEGER NOT NULL
);
`

// ExternalPasswordHash is the password hash of an account made by a
// sign-in at a provider: no password matches it (account.CheckPassword
// refuses what is not an argon2id string) until the account sets one
// through a reset link.
const ExternalPasswordHash = "!external"

// ExternalIdentity is who a provider says signed in.
type ExternalIdentity struct {
	Issuer  string // the OpenID issuer URL, or "ldap:" and the directory URL
	Subject string // stable at the issuer: the ID token's sub, the entry's DN
	Email   string // informational; never used to link
	// Username is the account name wanted for a new account (preferred
	// username, the email's local part, the LDAP uid); made valid and
	// unique here.
	Username string
	// Admin, when not nil, is the admin right the provider's groups give:
	// applied at every sign-in, except that the last active admin keeps it.
	Admin *bool
}

// ExternalSignIn is what SignInExternal did.
type ExternalSignIn struct {
	User    User
	Created bool // the account was made now (just in time)
	// AdminChanged is set when the provider's groups granted or removed
	// admin rights at this sign-in.
	AdminChanged bool
	// KeptLastAdmin is set when the groups would remove the rights of the
	// last active admin, who keeps them.
	KeptLastAdmin bool
}

// SignInExternal finds the account linked to id, or creates one, and
// applies the admin right the provider gives. A deactivated account is
// refused with ErrUserNotActive; nothing is linked by email.
func (s *Store) SignInExternal(ctx context.Context, id ExternalIdentity) (ExternalSignIn, error) {
	if id.Issuer == "" || id.Subject == "" {
		return ExternalSignIn{}, errors.New("external sign-in: issuer and subject are required")
	}
	var out ExternalSignIn
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// A write first takes the write lock: two first sign-ins of one
		// person cannot both create an account.
		if _, err := tx.ExecContext(ctx, `UPDATE identities SET last_seen_at = ?, email = ? WHERE issuer = ? AND subject = ?`,
			now.Unix(), id.Email, id.Issuer, id.Subject); err != nil {
			return fmt.Errorf("external sign-in: %w", err)
		}
		var userID int64
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM identities WHERE issuer = ? AND subject = ?`, id.Issuer, id.Subject).Scan(&userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			admin := id.Admin != nil && *id.Admin
			u, err := s.createExternalUser(ctx, tx, id.Username, admin)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO identities(issuer, subject, user_id, email, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)`,
				id.Issuer, id.Subject, u.ID, id.Email, now.Unix(), now.Unix()); err != nil {
				return fmt.Errorf("link identity: %w", err)
			}
			out = ExternalSignIn{User: u, Created: true}
			return nil
		case err != nil:
			return fmt.Errorf("external sign-in: %w", err)
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, userID))
		if err != nil {
			return fmt.Errorf("external sign-in: %w", err)
		}
		out.User = u
		if u.Disabled {
			return ErrUserNotActive
		}
		if id.Admin == nil || *id.Admin == u.IsAdmin {
			return nil
		}
		if !*id.Admin {
			if err := lastAdminGuard(ctx, tx, u.ID); errors.Is(err, ErrLastAdmin) {
				out.KeptLastAdmin = true
				return nil
			} else if err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET is_admin = ? WHERE id = ?`, *id.Admin, u.ID); err != nil {
			return fmt.Errorf("set admin: %w", err)
		}
		out.User.IsAdmin, out.AdminChanged = *id.Admin, true
		return nil
	})
	if err != nil {
		return ExternalSignIn{User: out.User}, err
	}
	return out, nil
}

// createExternalUser makes an account called after want: made valid, and
// given a number when the name is taken ("ada", "ada-2", ...).
func (s *Store) createExternalUser(ctx context.Context, tx *sql.Tx, want string, admin bool) (User, error) {
	base := usernameFrom(want)
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			suffix := "-" + strconv.Itoa(i)
			name = base[:min(len(base), MaxUsernameLen-len(suffix))] + suffix
		}
		// A taken name fails only its savepoint: PostgreSQL would
		// otherwise abort the whole transaction.
		if _, err := tx.ExecContext(ctx, `SAVEPOINT new_user`); err != nil {
			return User{}, fmt.Errorf("create account: %w", err)
		}
		u, err := s.createUser(ctx, tx, name, ExternalPasswordHash, admin)
		if errors.Is(err, ErrUserExists) {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT new_user`); err != nil {
				return User{}, fmt.Errorf("create account: %w", err)
			}
			continue
		}
		if err != nil {
			return User{}, err
		}
		_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT new_user`)
		return u, err
	}
	return User{}, fmt.Errorf("create account for %q: %w", base, ErrUserExists)
}

// usernameFrom turns what a provider calls someone into a valid username:
// the local part of an email, allowed characters only, at most
// MaxUsernameLen; "user" when nothing is left.
func usernameFrom(want string) string {
	if at := strings.IndexByte(want, '@'); at >= 0 {
		want = want[:at]
	}
	var b strings.Builder
	for i := 0; i < len(want) && b.Len() < MaxUsernameLen; i++ {
		c := want[i]
		if strings.IndexByte(usernameChars, c) >= 0 {
			b.WriteByte(c)
		}
	}
	name := strings.TrimLeft(b.String(), "._-")
	if name == "" {
		return "user"
	}
	return name
}

// SignInFlow is an OpenID sign-in between the redirect to the provider and
// its return: kept in the store, so any replica can finish it and a state
// is used at most once.
type SignInFlow struct {
	State    string // only its hash is stored
	Provider string
	Nonce    string
	Verifier string
	Redirect string
	Next     string // the page to return to
}

// SignInFlowTTL is how long a sign-in at a provider may take.
const SignInFlowTTL = 10 * time.Minute

// CreateSignInFlow stores f until SignInFlowTTL, and drops expired flows.
func (s *Store) CreateSignInFlow(ctx context.Context, f SignInFlow) error {
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_flows WHERE expires_at < ?`, now.Unix()); err != nil {
			return fmt.Errorf("drop expired sign-ins: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signin_flows(state_hash, provider, nonce, verifier, redirect, next, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			HashToken(f.State), f.Provider, f.Nonce, f.Verifier, f.Redirect, f.Next, now.Add(SignInFlowTTL).Unix())
		if err != nil {
			return fmt.Errorf("store sign-in: %w", err)
		}
		return nil
	})
}

// TakeSignInFlow returns and deletes the unexpired flow of state; a
// second take, an unknown or an expired state is ErrCodeInvalid.
func (s *Store) TakeSignInFlow(ctx context.Context, state string) (SignInFlow, error) {
	f := SignInFlow{State: state}
	var expires int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM signin_flows WHERE state_hash = ? RETURNING provider, nonce, verifier, redirect, next, expires_at`,
		HashToken(state)).Scan(&f.Provider, &f.Nonce, &f.Verifier, &f.Redirect, &f.Next, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return SignInFlow{}, ErrCodeInvalid
	}
	if err != nil {
		return SignInFlow{}, fmt.Errorf("read sign-in: %w", err)
	}
	if s.now().Unix() > expires {
		return SignInFlow{}, ErrCodeInvalid
	}
	return f, nil
}
