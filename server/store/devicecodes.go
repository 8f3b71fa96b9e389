package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Editor sign-in without copying a token (RFC 8628, the OAuth device
// authorization grant): the agent asks for a device code and a short user
// code, the user approves the user code in the browser, and the agent's
// next poll with the device code gets a personal token, once. Both codes
// are stored hashed. The device's token is named after the device, and a
// new sign-in of the same device (same user, same device name) gives that
// token a new secret instead of adding another token: the old secret stops
// working. The editor may cancel a sign-in it no longer waits for; its
// code is then refused on the browser page.

// deviceCodesMigration adds the pending editor sign-ins.
const deviceCodesMigration = `
CREATE TABLE device_codes (
	id               INTEGER PRIMARY KEY,
	device_code_hash TEXT    NOT NULL UNIQUE,
	user_code_hash   TEXT    NOT NULL UNIQUE,
	client_id        TEXT    NOT NULL,
	device_name      TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	interval_s       INTEGER NOT NULL,
	last_poll_ms     INTEGER,
	prev_poll_ms     INTEGER,
	state            TEXT    NOT NULL DEFAULT 'pending',
	user_id          INTEGER REFERENCES users(id) ON DELETE CASCADE,
	decided_at       INTEGER
);
CREATE INDEX device_codes_expires ON device_codes(expires_at);
`

// Device sign-in parameters (RFC 8628 §3.2's expires_in and interval).
const (
	DeviceCodeTTL      = 10 * time.Minute
	DevicePollInterval = 5 * time.Second
	// DeviceSlowDownStep is what a too-early poll adds to the interval (§3.5).
	DeviceSlowDownStep = 5 * time.Second
	// MaxPendingDeviceCodes bounds the live codes anyone can make without
	// an account: the table stays small whatever a stranger sends.
	MaxPendingDeviceCodes = 1000
	// deviceCodeKeep is how long a code's row stays after it expired, so
	// that a late poll hears expired_token rather than invalid_grant.
	deviceCodeKeep = 24 * time.Hour
)

// UserCodeAlphabet is RFC 8628 §6.1's: 20 consonants, no vowels (no
// words), no digits (nothing to confuse with O, I, L).
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is the user code's length without its dash: 20^8 ≈ 2.6e10.
const UserCodeLen = 8

// States of a device code.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceUsed     = "used"
	// DeviceCancelled: the editor stopped waiting (the user cancelled it there).
	DeviceCancelled = "cancelled"
)

// ErrDeviceCancelled is a code the editor cancelled before it got its token.
var ErrDeviceCancelled = errors.New("the editor cancelled this sign-in")

// ErrTooManyDeviceCodes refuses a new code while MaxPendingDeviceCodes are live.
var ErrTooManyDeviceCodes = errors.New("too many editor sign-ins are in progress; try again in a few minutes")

// DeviceAuth is one editor sign-in.
type DeviceAuth struct {
	ID         int64
	ClientID   string
	DeviceName string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	Interval   time.Duration
	State      string
}

// NewDeviceAuth is what CreateDeviceAuth returns: the codes, shown only now.
type NewDeviceAuth struct {
	DeviceCode string // the agent's secret, 43 characters
	UserCode   string // canonical: UserCodeLen characters of UserCodeAlphabet
	DeviceAuth
}

// newUserCode returns UserCodeLen uniformly random characters of UserCodeAlphabet.
func newUserCode() (string, error) {
	out := make([]byte, 0, UserCodeLen)
	buf := make([]byte, 16)
	for len(out) < UserCodeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, c := range buf {
			// Rejection sampling keeps every character equally likely.
			if int(c) >= 256-256%len(UserCodeAlphabet) || len(out) == UserCodeLen {
				continue
			}
			out = append(out, UserCodeAlphabet[int(c)%len(UserCodeAlphabet)])
		}
	}
	return string(out), nil
}

// CreateDeviceAuth starts an editor sign-in for clientID on the device
// called deviceName and returns its codes. The live codes are counted and
// the new one inserted in one transaction under the table's write lock, so
// that concurrent requests cannot all pass the count (MaxPendingDeviceCodes
// is a bound, not a hint).
func (s *Store) CreateDeviceAuth(ctx context.Context, clientID, deviceName string) (NewDeviceAuth, error) {
	now := s.now()
	n := NewDeviceAuth{DeviceAuth: DeviceAuth{
		ClientID: clientID, DeviceName: deviceName, CreatedAt: now, ExpiresAt: now.Add(DeviceCodeTTL),
		Interval: DevicePollInterval, State: DevicePending,
	}}
	// Housekeeping first, outside the locked transaction, which stays short.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM device_codes WHERE expires_at <= ?`, now.Add(-deviceCodeKeep).Unix()); err != nil {
		return NewDeviceAuth{}, fmt.Errorf("device code: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.dialect.lockTableSQL("device_codes")); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM device_codes WHERE expires_at > ? AND state = ?`,
			now.Unix(), DevicePending).Scan(&live); err != nil {
			return err
		}
		if live >= MaxPendingDeviceCodes {
			return ErrTooManyDeviceCodes
		}
		// A user code equal to a kept one is unlikely (1 in 2.6e10 per kept
		// code) but refused by the UNIQUE index: draw again. Each try is a
		// savepoint, since a failed statement aborts a PostgreSQL transaction.
		for attempt := 0; ; attempt++ {
			var err error
			if n.DeviceCode, err = newSecretCode(); err != nil {
				return err
			}
			if n.UserCode, err = newUserCode(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT new_code`); err != nil {
				return err
			}
			err = tx.QueryRowContext(ctx, `INSERT INTO device_codes(device_code_hash, user_code_hash, client_id, device_name, created_at, expires_at, interval_s)
				VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				HashToken(n.DeviceCode), HashToken(n.UserCode), clientID, deviceName, now.Unix(), n.ExpiresAt.Unix(),
				int64(DevicePollInterval/time.Second)).Scan(&n.ID)
			if err == nil {
				_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT new_code`)
				return err
			}
			if !isUnique(err) || attempt == 3 {
				return err
			}
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT new_code`); err != nil {
				return err
			}
		}
	})
	if errors.Is(err, ErrTooManyDeviceCodes) {
		return NewDeviceAuth{}, err
	}
	if err != nil {
		return NewDeviceAuth{}, fmt.Errorf("device code: %w", err)
	}
	return n, nil
}

// PendingDeviceAuth returns the pending, unexpired sign-in with the
// canonical userCode; ErrDeviceCancelled when the editor cancelled it,
// otherwise ErrCodeInvalid.
func (s *Store) PendingDeviceAuth(ctx context.Context, userCode string) (DeviceAuth, error) {
	var d DeviceAuth
	var created, expires, interval int64
	err := s.db.QueryRowContext(ctx, `SELECT id, client_id, device_name, created_at, expires_at, interval_s, state FROM device_codes
		WHERE user_code_hash = ? AND expires_at > ?`, HashToken(userCode), s.now().Unix()).
		Scan(&d.ID, &d.ClientID, &d.DeviceName, &created, &expires, &interval, &d.State)
	if errors.Is(err, sql.ErrNoRows) {
		return DeviceAuth{}, ErrCodeInvalid
	}
	if err != nil {
		return DeviceAuth{}, fmt.Errorf("read device code: %w", err)
	}
	switch d.State {
	case DevicePending:
	case DeviceCancelled:
		return DeviceAuth{}, ErrDeviceCancelled
	default:
		return DeviceAuth{}, ErrCodeInvalid
	}
	d.CreatedAt, d.ExpiresAt, d.Interval = time.Unix(created, 0), time.Unix(expires, 0), time.Duration(interval)*time.Second
	return d, nil
}

// DecideDeviceAuth approves (for the user) or denies the pending,
// unexpired sign-in with the canonical userCode; one the editor cancelled
// is ErrDeviceCancelled, anything else ErrCodeInvalid. A decision is final.
func (s *Store) DecideDeviceAuth(ctx context.Context, userCode string, userID int64, approve bool) error {
	state := DeviceDenied
	if approve {
		state = DeviceApproved
	}
	now := s.now().Unix()
	err := affectOne(s.db.ExecContext(ctx, `UPDATE device_codes SET state = ?, user_id = ?, decided_at = ?
		WHERE user_code_hash = ? AND state = ? AND expires_at > ?`, state, userID, now, HashToken(userCode), DevicePending, now))
	if errors.Is(err, ErrNotFound) {
		// Say why when the editor cancelled it meanwhile (the page was open).
		if _, err := s.PendingDeviceAuth(ctx, userCode); errors.Is(err, ErrDeviceCancelled) {
			return ErrDeviceCancelled
		}
		return ErrCodeInvalid
	}
	if err != nil {
		return fmt.Errorf("decide device code: %w", err)
	}
	return nil
}

// CancelDeviceAuth cancels clientID's sign-in with deviceCode, pending or
// approved but not yet exchanged: no token will be issued for it, and the
// browser page says the editor cancelled it. ErrCodeInvalid: no such
// sign-in waits (unknown, another client's, used, decided against).
func (s *Store) CancelDeviceAuth(ctx context.Context, deviceCode, clientID string) error {
	err := affectOne(s.db.ExecContext(ctx, `UPDATE device_codes SET state = ? WHERE device_code_hash = ? AND client_id = ? AND state IN (?, ?)`,
		DeviceCancelled, HashToken(deviceCode), clientID, DevicePending, DeviceApproved))
	if errors.Is(err, ErrNotFound) {
		return ErrCodeInvalid
	}
	if err != nil {
		return fmt.Errorf("cancel device code: %w", err)
	}
	return nil
}

// DevicePoll is the outcome of one poll with a device code. Outcome is
// empty on success (Token and TokenName are set) or one of RFC 8628 §3.5's
// error codes: authorization_pending, slow_down, access_denied,
// expired_token, or RFC 6749's invalid_grant for a code that is unknown,
// of another client, or already exchanged.
type DevicePoll struct {
	Outcome   string
	Interval  time.Duration // the interval from now on
	Token     string
	TokenName string // as its owner sees it
	User      string
	// Replaced: the device already had this token, which got a new secret
	// (the old one stopped working) instead of a second token being made.
	Replaced bool
}

// The outcomes of a poll.
const (
	PollPending      = "authorization_pending"
	PollSlowDown     = "slow_down"
	PollAccessDenied = "access_denied"
	PollExpired      = "expired_token"
	PollInvalidGrant = "invalid_grant"
)

// PollDeviceAuth answers a poll of clientID with deviceCode. A poll sooner
// than the interval after the previous one is slow_down and lengthens the
// interval by DeviceSlowDownStep. Once approved, the first poll gets the
// approving user's token named after the device: a new one, or the one an
// earlier sign-in of the device made with a new secret; the code is then used.
// A new token past maxTokens (insertUserToken) is an error wrapping
// ErrTooManyTokens, and the code stays approved until it expires.
func (s *Store) PollDeviceAuth(ctx context.Context, deviceCode, clientID string, maxTokens int) (DevicePoll, error) {
	now := s.now()
	var p DevicePoll
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The transaction starts with its write, so that it takes the write
		// lock (waiting for others) before it reads anything.
		var id, expires, interval int64
		var client, device, state string
		var userID, prevPoll sql.NullInt64
		err := tx.QueryRowContext(ctx, `UPDATE device_codes SET prev_poll_ms = last_poll_ms, last_poll_ms = ?
			WHERE device_code_hash = ?
			RETURNING id, client_id, device_name, state, user_id, expires_at, interval_s, prev_poll_ms`,
			now.UnixMilli(), HashToken(deviceCode)).Scan(&id, &client, &device, &state, &userID, &expires, &interval, &prevPoll)
		if errors.Is(err, sql.ErrNoRows) {
			p.Outcome = PollInvalidGrant
			return nil
		}
		if err != nil {
			return err
		}
		p.Interval = time.Duration(interval) * time.Second
		switch {
		case client != clientID || state == DeviceUsed || state == DeviceCancelled:
			p.Outcome = PollInvalidGrant
			return nil
		case !now.Before(time.Unix(expires, 0)):
			p.Outcome = PollExpired
			return nil
		case prevPoll.Valid && now.UnixMilli()-prevPoll.Int64 < p.Interval.Milliseconds():
			p.Outcome = PollSlowDown
			p.Interval += DeviceSlowDownStep
			_, err := tx.ExecContext(ctx, `UPDATE device_codes SET interval_s = ? WHERE id = ?`, int64(p.Interval/time.Second), id)
			return err
		case state == DevicePending:
			p.Outcome = PollPending
			return nil
		case state == DeviceDenied:
			p.Outcome = PollAccessDenied
			return nil
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, userID.Int64))
		if errors.Is(err, sql.ErrNoRows) || err == nil && u.Disabled {
			p.Outcome = PollAccessDenied // the approving account is gone or deactivated
			return nil
		}
		if err != nil {
			return err
		}
		name := deviceTokenName(device)
		secret, replaced, err := deviceToken(ctx, tx, u, name, now, maxTokens)
		if err != nil {
			return err
		}
		if err := affectOne(tx.ExecContext(ctx, `UPDATE device_codes SET state = ? WHERE id = ? AND state = ?`, DeviceUsed, id, DeviceApproved)); err != nil {
			return fmt.Errorf("use device code: %w", err)
		}
		p.Token, p.TokenName, p.User, p.Replaced = secret, name, u.Name, replaced
		return nil
	})
	if err != nil {
		return DevicePoll{}, fmt.Errorf("poll device code: %w", err)
	}
	return p, nil
}

// deviceTokenName makes a token name of a device name: spaces and control
// characters become '-', at most 48 bytes of whole characters.
func deviceTokenName(device string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(device) {
		if r <= ' ' || r == 0x7f || r == '/' {
			r = '-'
		}
		if b.Len()+len(string(r)) > 48 {
			break
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "editor"
	}
	return b.String()
}

// deviceToken gives the user's token called name a new secret, or makes
// it when the user has none of that name, and returns the secret.
func deviceToken(ctx context.Context, tx *sql.Tx, u User, name string, now time.Time, maxTokens int) (secret string, replaced bool, err error) {
	secret, err = NewTokenSecret()
	if err != nil {
		return "", false, err
	}
	err = affectOne(tx.ExecContext(ctx, `UPDATE tokens SET hash = ?, last_used_at = NULL WHERE name = ? AND user_id = ?`,
		HashToken(secret), OwnedTokenName(u.Name, name), u.ID))
	if err == nil {
		return secret, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", false, fmt.Errorf("replace device token: %w", err)
	}
	secret, err = insertUserToken(ctx, tx, u, name, now, maxTokens)
	return secret, false, err
}
