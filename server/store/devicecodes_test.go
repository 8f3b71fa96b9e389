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
