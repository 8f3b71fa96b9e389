package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// The bounds of issue 27's findings, on both dialects: concurrent callers
// cannot pass a count made before any of them inserted.

func TestConcurrentDeviceCodesStopAtTheBound(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		d, err := s.CreateDeviceAuth(ctx, "serval-agent", "box")
		if err != nil {
			t.Fatal(err)
		}
		// 990 pending codes now, then 40 at once: exactly 10 fit.
		_, err = s.db.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM i WHERE n < ?)
			INSERT INTO device_codes(device_code_hash, user_code_hash, client_id, device_name, created_at, expires_at, interval_s)
			SELECT 'd'||n, 'u'||n, 'serval-agent', 'x', CAST(? AS BIGINT), CAST(? AS BIGINT), 5 FROM i`, MaxPendingDeviceCodes-11, d.CreatedAt.Unix(), d.ExpiresAt.Unix())
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		made, refused := 0, 0
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				_, err := s.CreateDeviceAuth(ctx, "serval-agent", "box")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					made++
				case errors.Is(err, ErrTooManyDeviceCodes):
					refused++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if made != 10 || refused != 30 {
			t.Fatalf("40 at once with room for 10: %d made, %d refused", made, refused)
		}
	})
}

func TestConcurrentTokensStopAtTheLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u, err := s.CreateUser(ctx, "alice", "not-a-real-hash", false)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		made, refused := 0, 0
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				_, err := s.CreateUserToken(ctx, u, fmt.Sprintf("t%d", i), 5)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					made++
				case errors.Is(err, ErrTooManyTokens):
					refused++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if made != 5 || refused != 15 {
			t.Fatalf("20 at once with a limit of 5: %d made, %d refused", made, refused)
		}
	})
}

func TestPasswordChangeRevokesResetLinks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u, err := s.CreateUser(ctx, "alice", "hash-1", false)
		if err != nil {
			t.Fatal(err)
		}
		link := func() string {
			code, err := s.CreateLink(ctx, LinkReset, u.ID, "", 0, DeviceCodeTTL)
			if err != nil {
				t.Fatal(err)
			}
			return code
		}
		older, newer := link(), link()
		if _, err := s.ResetPassword(ctx, newer, "hash-2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResetPassword(ctx, older, "hash-3"); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("older link after a reset: %v", err)
		}
		pending := link()
		if err := s.SetPassword(ctx, u.ID, "hash-4"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckLink(ctx, LinkReset, pending); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("link after a password change: %v", err)
		}
	})
}

func TestDeactivationDeniesApprovedCodes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.CreateUser(ctx, "admin", "hash", true); err != nil {
			t.Fatal(err)
		}
		u, err := s.CreateUser(ctx, "bob", "hash", false)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.CreateDeviceAuth(ctx, "serval-agent", "box")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DecideDeviceAuth(ctx, d.UserCode, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		p, err := s.PollDeviceAuth(ctx, d.DeviceCode, "serval-agent", 0)
		if err != nil || p.Outcome != PollAccessDenied || p.Token != "" {
			t.Fatalf("poll after deactivation and reactivation: %+v, %v", p, err)
		}
	})
}
