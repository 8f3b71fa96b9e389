package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func TestOpenMigratesAndUsesWAL(t *testing.T) {
	s, dir := openTemp(t)
	ctx := context.Background()
	v, err := s.Version(ctx)
	if err != nil || v != SchemaVersion {
		t.Fatalf("version = %d, %v; want %d", v, err, SchemaVersion)
	}
	mode, err := s.JournalMode(ctx)
	if err != nil || mode != "wal" {
		t.Fatalf("journal mode = %q, %v; want wal", mode, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("database file: %v", err)
	}
	// Reopening an up-to-date database applies nothing and keeps the data.
	if _, err := s.CreateToken(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, _ := s2.CountTokens(ctx); n != 1 {
		t.Fatalf("tokens after reopen = %d, want 1", n)
	}
}

func TestTokensStoredAsHashOnly(t *testing.T) {
	s, dir := openTemp(t)
	ctx := context.Background()
	secret, err := s.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+32 {
		t.Fatalf("token %q: want %s + 32 chars", secret, TokenPrefix)
	}
	name, err := s.LookupToken(ctx, secret)
	if err != nil || name != "alice" {
		t.Fatalf("lookup = %q, %v", name, err)
	}
	if _, err := s.LookupToken(ctx, secret+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup of a wrong token: %v, want ErrNotFound", err)
	}
	var stored string
	if err := s.db.QueryRow(`SELECT hash FROM tokens WHERE name='alice'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != HashToken(secret) || strings.Contains(stored, secret[len(TokenPrefix):]) {
		t.Fatalf("stored %q is not the hash of the token", stored)
	}
	// The secret appears nowhere in the database files.
	s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	files, _ := filepath.Glob(filepath.Join(dir, FileName+"*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), secret) {
			t.Fatalf("%s contains the token in clear", f)
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, _ := s.CreateToken(ctx, "a")
		b, err := s.CreateToken(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Fatal("two tokens are equal")
		}
		if _, err := s.CreateToken(ctx, "a"); !errors.Is(err, ErrTokenExists) {
			t.Fatalf("duplicate name: %v, want ErrTokenExists", err)
		}
		for _, bad := range []string{"", "has space", strings.Repeat("x", 65), "tab\t"} {
			if _, err := s.CreateToken(ctx, bad); err == nil {
				t.Errorf("CreateToken(%q) succeeded", bad)
			}
		}
		list, err := s.ListTokens(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if err := s.RevokeToken(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LookupToken(ctx, a); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoked token still works: %v", err)
		}
		if err := s.RevokeToken(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking twice: %v, want ErrNotFound", err)
		}
		if name, err := s.LookupToken(ctx, b); err != nil || name != "b" {
			t.Fatalf("other token broken: %q %v", name, err)
		}
	})
}

func TestEventsAndStats(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ms := 1500 * time.Millisecond
		add := func(typ, id, lang string) {
			t.Helper()
			if err := s.AddEvent(ctx, Event{TokenName: "tok", Type: typ, CompletionID: id, Language: lang, Elapsed: &ms, SelectKind: "line"}); err != nil {
				t.Fatal(err)
			}
		}
		add("view", "c1", "go")
		add("view", "c1", "go") // a repeated view of the same completion counts once
		add("select", "c1", "go")
		add("view", "c2", "go")
		add("dismiss", "c2", "go")
		add("view", "c3", "python")
		add("view", "c4", "")

		events, err := s.Events(ctx, 100)
		if err != nil || len(events) != 7 {
			t.Fatalf("events = %d, %v", len(events), err)
		}
		e := events[2]
		if e.TokenName != "tok" || e.Type != "select" || e.CompletionID != "c1" || e.Language != "go" ||
			e.Elapsed == nil || *e.Elapsed != ms || e.SelectKind != "line" || e.Time.IsZero() {
			t.Fatalf("event = %+v", e)
		}
		stats, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []LanguageStats{
			{Language: "go", Shown: 2, Accepted: 1, Dismissed: 1},
			{Language: "python", Shown: 1},
			{Language: "unknown", Shown: 1},
		}
		if len(stats) != len(want) {
			t.Fatalf("stats = %+v", stats)
		}
		for i := range want {
			if stats[i] != want[i] {
				t.Errorf("stats[%d] = %+v, want %+v", i, stats[i], want[i])
			}
		}
		if r := stats[0].AcceptanceRate(); r != 0.5 {
			t.Errorf("go acceptance = %v, want 0.5", r)
		}
		if r := (LanguageStats{}).AcceptanceRate(); r != 0 {
			t.Errorf("empty acceptance = %v", r)
		}
	})
}

func TestNewTokenSecretAlphabet(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		tok, err := NewTokenSecret()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tok[len(TokenPrefix):] {
			if !strings.ContainsRune(tokenAlphabet, c) {
				t.Fatalf("token %q has %q", tok, c)
			}
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}
}

// TestTwoProcessesShareTheDatabase: the CLI (token create) and a running
// server open the same file; WAL and busy_timeout let both write.
func TestTwoProcessesShareTheDatabase(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		go func() {
			for j := range 50 {
				if err := s.AddEvent(ctx, Event{TokenName: "t", Type: "view", CompletionID: fmt.Sprintf("%d-%d", i, j), Language: "go"}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	secret, err := b.CreateToken(ctx, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if name, err := a.LookupToken(ctx, secret); err != nil || name != "cli" {
		t.Fatalf("the other handle does not see the token: %q %v", name, err)
	}
	stats, err := a.Stats(ctx)
	if err != nil || len(stats) != 1 || stats[0].Shown != 100 {
		t.Fatalf("%+v %v", stats, err)
	}
}
