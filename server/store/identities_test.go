package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSignInExternal(t *testing.T) { forEachDialect(t, testSignInExternal) }

func testSignInExternal(t *testing.T, s *Store) {
	ctx := context.Background()
	yes, no := true, false
	// A local account already called "ada": the new one gets another name.
	if _, err := s.CreateUser(ctx, "ada", "$argon2id$x", true); err != nil {
		t.Fatal(err)
	}
	id := ExternalIdentity{Issuer: "https://idp.example", Subject: "1234", Email: "ada@example.com", Username: "ada@example.com", Admin: &yes}
	first, err := s.SignInExternal(ctx, id)
	if err != nil || !first.Created || first.User.Name != "ada-2" || !first.User.IsAdmin {
		t.Fatalf("first sign-in = %+v, %v", first, err)
	}
	// Same subject, a new email: the same account; the group is gone: no admin.
	id.Email, id.Admin = "someone-else@example.com", &no
	again, err := s.SignInExternal(ctx, id)
	if err != nil || again.Created || again.User.ID != first.User.ID || again.User.IsAdmin || !again.AdminChanged {
		t.Fatalf("second sign-in = %+v, %v", again, err)
	}
	// Another subject with the first one's email is another account.
	other, err := s.SignInExternal(ctx, ExternalIdentity{Issuer: "https://idp.example", Subject: "999", Email: "ada@example.com", Username: "ada"})
	if err != nil || other.User.ID == first.User.ID || other.User.Name != "ada-3" {
		t.Fatalf("other subject = %+v, %v", other, err)
	}
	// The same subject at another issuer is another account too.
	elsewhere, err := s.SignInExternal(ctx, ExternalIdentity{Issuer: "ldap://dir", Subject: "1234", Username: "ada"})
	if err != nil || elsewhere.User.ID == first.User.ID {
		t.Fatalf("other issuer = %+v, %v", elsewhere, err)
	}
	// Disabled in Serval stays disabled.
	if err := s.SetDisabled(ctx, first.User.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignInExternal(ctx, id); !errors.Is(err, ErrUserNotActive) {
		t.Fatalf("disabled account signed in: %v", err)
	}
}

func TestSignInExternalKeepsLastAdmin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, solo *Store) {
		testKeepsLastAdmin(t, solo)
	})
}

// The last active admin keeps the rights the groups would remove.
func testKeepsLastAdmin(t *testing.T, solo *Store) {
	ctx := context.Background()
	yes, no := true, false
	boss, err := solo.SignInExternal(ctx, ExternalIdentity{Issuer: "i", Subject: "s", Username: "boss", Admin: &yes})
	if err != nil || !boss.User.IsAdmin {
		t.Fatal(boss, err)
	}
	kept, err := solo.SignInExternal(ctx, ExternalIdentity{Issuer: "i", Subject: "s", Username: "boss", Admin: &no})
	if err != nil || !kept.User.IsAdmin || !kept.KeptLastAdmin {
		t.Fatalf("last admin = %+v, %v", kept, err)
	}
}

func TestUsernameFrom(t *testing.T) {
	for in, want := range map[string]string{
		"ada.lovelace@example.com": "ada.lovelace",
		"Ada Lovelace":             "AdaLovelace",
		"__x":                      "x",
		"日本":                       "user",
		"":                         "user",
		"a234567890123456789012345678901234567890": "a2345678901234567890123456789012",
	} {
		if got := usernameFrom(in); got != want || ValidateUsername(got) != nil {
			t.Errorf("usernameFrom(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignInFlows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := SignInFlow{State: "state-1", Provider: "kc", Nonce: "n", Verifier: "v", Redirect: "http://x/cb", Next: "/device"}
		if err := s.CreateSignInFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		got, err := s.TakeSignInFlow(ctx, "state-1")
		if err != nil || got != f {
			t.Fatalf("take = %+v, %v", got, err)
		}
		if _, err := s.TakeSignInFlow(ctx, "state-1"); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("second take: %v", err)
		}
		if _, err := s.TakeSignInFlow(ctx, "other"); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("unknown state: %v", err)
		}
		f.State = "state-2"
		if err := s.CreateSignInFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		s.SetClock(func() time.Time { return time.Now().Add(SignInFlowTTL + time.Minute) })
		defer s.SetClock(nil)
		if _, err := s.TakeSignInFlow(ctx, "state-2"); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("expired: %v", err)
		}
	})
}
