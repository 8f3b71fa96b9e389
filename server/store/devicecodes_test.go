package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDeviceCodesAreBoundedAndHashed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		d, err := s.CreateDeviceAuth(ctx, "serval-agent", "box")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.UserCode) != UserCodeLen || strings.Trim(d.UserCode, UserCodeAlphabet) != "" {
			t.Fatalf("user code %q", d.UserCode)
		}
		// Neither code is stored as such.
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM device_codes WHERE device_code_hash IN (?, ?) OR user_code_hash IN (?, ?)`,
			d.DeviceCode, d.UserCode, d.DeviceCode, d.UserCode).Scan(&n); err != nil || n != 0 {
			t.Fatalf("a code stored in the clear: %d, %v", n, err)
		}
		// Fill the table up to the bound (one statement: 999 more pending codes).
		_, err = s.db.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM i WHERE n < ?)
			INSERT INTO device_codes(device_code_hash, user_code_hash, client_id, device_name, created_at, expires_at, interval_s)
			SELECT 'd'||n, 'u'||n, 'serval-agent', 'x', CAST(? AS BIGINT), CAST(? AS BIGINT), 5 FROM i`, MaxPendingDeviceCodes-1, d.CreatedAt.Unix(), d.ExpiresAt.Unix())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDeviceAuth(ctx, "serval-agent", "box"); !errors.Is(err, ErrTooManyDeviceCodes) {
			t.Fatalf("code %d: %v, want ErrTooManyDeviceCodes", MaxPendingDeviceCodes+1, err)
		}
		// Decided codes no longer count.
		u, err := s.CreateUser(ctx, "alice", "not-a-real-hash", true)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DecideDeviceAuth(ctx, d.UserCode, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDeviceAuth(ctx, "serval-agent", "box"); err != nil {
			t.Fatalf("after one was decided: %v", err)
		}
	})
}

func TestDeviceTokenName(t *testing.T) {
	for in, want := range map[string]string{
		"laptop":                    "laptop",
		" alice laptop (VS Code) ":  "alice-laptop-(VS-Code)",
		"a/b\tc":                    "a-b-c",
		"":                          "editor",
		strings.Repeat("é", 40):     strings.Repeat("é", 24),
		"<script>alert(1)</script>": "<script>alert(1)<-script>",
	} {
		got := deviceTokenName(in)
		if got != want || ValidateTokenName(got) != nil {
			t.Errorf("deviceTokenName(%q) = %q (valid: %v), want %q", in, got, ValidateTokenName(got), want)
		}
	}
}

// TestDeviceSignInAgainCancelAndSignOut: on both dialects, a device signing
// in again gets its token with a new secret, a cancelled code is refused
// on the page and issues nothing, and a token revokes itself (an account's,
// not a server token).
func TestDeviceSignInAgainCancelAndSignOut(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u, err := s.CreateUser(ctx, "alice", "not-a-real-hash", true)
		if err != nil {
			t.Fatal(err)
		}
		signIn := func() DevicePoll {
			t.Helper()
			d, err := s.CreateDeviceAuth(ctx, "serval-agent", "vm (Neovim)")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DecideDeviceAuth(ctx, d.UserCode, u.ID, true); err != nil {
				t.Fatal(err)
			}
			p, err := s.PollDeviceAuth(ctx, d.DeviceCode, "serval-agent", 50)
			if err != nil || p.Outcome != "" {
				t.Fatalf("poll: %+v %v", p, err)
			}
			return p
		}
		first, second := signIn(), signIn()
		if first.Replaced || !second.Replaced || first.TokenName != "vm-(Neovim)" || second.TokenName != first.TokenName {
			t.Fatalf("signing in twice: %+v then %+v", first, second)
		}
		if _, err := s.LookupToken(ctx, first.Token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the first secret after the second sign-in: %v", err)
		}
		if tokens, _ := s.UserTokens(ctx, u.ID); len(tokens) != 1 {
			t.Fatalf("tokens after two sign-ins of one device: %+v", tokens)
		}

		// Cancelled pending, and cancelled after approval.
		d, _ := s.CreateDeviceAuth(ctx, "serval-agent", "vm (VS Code)")
		if err := s.CancelDeviceAuth(ctx, d.DeviceCode, "another-client"); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("cancel by another client: %v", err)
		}
		if err := s.CancelDeviceAuth(ctx, d.DeviceCode, "serval-agent"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PendingDeviceAuth(ctx, d.UserCode); !errors.Is(err, ErrDeviceCancelled) {
			t.Fatalf("page lookup of a cancelled code: %v", err)
		}
		if err := s.DecideDeviceAuth(ctx, d.UserCode, u.ID, true); !errors.Is(err, ErrDeviceCancelled) {
			t.Fatalf("approving a cancelled code: %v", err)
		}
		d2, _ := s.CreateDeviceAuth(ctx, "serval-agent", "vm (VS Code)")
		s.DecideDeviceAuth(ctx, d2.UserCode, u.ID, true)
		if err := s.CancelDeviceAuth(ctx, d2.DeviceCode, "serval-agent"); err != nil {
			t.Fatal(err)
		}
		if p, err := s.PollDeviceAuth(ctx, d2.DeviceCode, "serval-agent", 50); err != nil || p.Outcome != PollInvalidGrant || p.Token != "" {
			t.Fatalf("poll of a code cancelled after approval: %+v %v", p, err)
		}

		// Sign-out: the token revokes itself; a server token does not.
		tok, err := s.RevokeOwnToken(ctx, second.Token)
		if err != nil || tok.Owner != "alice" || tok.Name != "vm-(Neovim)" {
			t.Fatalf("revoke: %+v %v", tok, err)
		}
		if _, err := s.LookupToken(ctx, second.Token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a revoked token: %v", err)
		}
		if _, err := s.RevokeOwnToken(ctx, second.Token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking again: %v", err)
		}
		server, _ := s.CreateToken(ctx, "ci")
		if _, err := s.RevokeOwnToken(ctx, server); !errors.Is(err, ErrServerToken) {
			t.Fatalf("revoking a server token: %v", err)
		}
		if _, err := s.LookupToken(ctx, server); err != nil {
			t.Fatalf("the server token: %v", err)
		}
	})
}
