package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestFixtureGainsAccounts: a data directory of the first release opens with
// accounts; its tokens stay server tokens that work, and accounts' tokens
// and usage sit beside them.
func TestFixtureGainsAccounts(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, copyFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFixtureData(t, s)
	tokens, err := s.UserTokens(ctx, 0)
	if err != nil || len(tokens) != 2 {
		t.Fatalf("tokens = %+v, %v", tokens, err)
	}
	for _, tk := range tokens {
		if tk.Owner != "" || tk.Name != tk.FullName {
			t.Errorf("old token %+v got an owner", tk)
		}
	}
	u, err := s.CreateFirstAdmin(ctx, "root", "$argon2id$x")
	if err != nil || !u.IsAdmin {
		t.Fatalf("first admin: %+v, %v", u, err)
	}
	secret, err := s.CreateUserToken(ctx, u, "alice", 0) // the same name as a server token: fine
	if err != nil {
		t.Fatal(err)
	}
	if name, err := s.LookupToken(ctx, secret); err != nil || name != "root/alice" {
		t.Fatalf("lookup = %q, %v", name, err)
	}
	rows, err := s.Usage(ctx, "", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(rows) == 0 || rows[0].Owner != "" {
		t.Fatalf("usage of the old events = %+v, %v", rows, err)
	}
}

func TestFirstAdminOnlyOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.CreateFirstAdmin(ctx, "admin"+string(rune('a'+i)), "$argon2id$x")
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, ErrSetupDone) && !errors.Is(err, ErrUserExists) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n, _ := s.CountUsers(ctx); won != 1 || n != 1 {
			t.Fatalf("%d setups won, %d users; want 1", won, n)
		}
	})
}

func TestInvitationUsedOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		code, err := s.CreateLink(ctx, LinkInvite, 0, "n", 0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Register(ctx, code, "user"+string(rune('a'+i)), "$argon2id$x"); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, ErrCodeInvalid) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d registrations with one invitation", won)
		}
		if _, err := s.CheckLink(ctx, LinkReset, code); !errors.Is(err, ErrCodeInvalid) {
			t.Fatal("an invitation code works as a reset code")
		}
	})
}

func TestUsernameRules(t *testing.T) {
	for name, ok := range map[string]bool{
		"alice": true, "a.b-c_d": true, "9lives": true, "": false, "-x": false, "a b": false,
		"a/b": false, "<script>": false, "ünï": false, "x'--": false, "abcdefghijklmnopqrstuvwxyz0123456": false,
	} {
		if err := ValidateUsername(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}
