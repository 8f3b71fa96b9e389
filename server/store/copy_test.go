package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCopyFixtureToPostgres: the first release's data directory, opened by
// this serval, moves to PostgreSQL whole: accounts, tokens that still
// authenticate, events and summaries; a second copy is refused.
func TestCopyFixtureToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := Open(ctx, copyFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Rows of every kind the fixture lacks.
	u, err := src.CreateUser(ctx, "alice", "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", true)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := src.CreateUserToken(ctx, u, "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateSession(ctx, u.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateLink(ctx, LinkInvite, 0, "for bob", u.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateDeviceAuth(ctx, "serval-agent", "box"); err != nil {
		t.Fatal(err)
	}
	dst := openPostgresTemp(t)
	tables, err := Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tc := range tables {
		rows[tc.Table] = tc.Rows
	}
	for _, tbl := range []string{"users", "tokens", "sessions", "invitations", "device_codes", "events", "usage_days"} {
		if rows[tbl] == 0 {
			t.Errorf("table %s: no rows copied (%v)", tbl, rows)
		}
	}
	// The copy works as the instance: the token authenticates, the
	// password hash is the same, usage is the same, and new rows get new ids.
	if name, err := dst.LookupToken(ctx, secret); err != nil || name != "alice/laptop" {
		t.Fatalf("token after the copy: %q %v", name, err)
	}
	_, hash, err := dst.PasswordHash(ctx, "ALICE")
	if err != nil || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("password hash after the copy: %q %v", hash, err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	checkSummariesMatchEvents(t, dst, now)
	if _, err := dst.CreateUser(ctx, "carol", "$argon2id$x", false); err != nil {
		t.Fatalf("a new user after the copy: %v", err)
	}
	if err := dst.AddEvent(ctx, Event{TokenName: "alice/laptop", Type: "view", CompletionID: "after-copy"}); err != nil {
		t.Fatal(err)
	}
	checkSummariesMatchEvents(t, dst, time.Now())
	// A non-empty target is refused, and left as it was.
	before, _ := dst.CountUsers(ctx)
	if _, err := Copy(ctx, src, dst); !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("second copy: %v", err)
	}
	if after, _ := dst.CountUsers(ctx); after != before {
		t.Fatalf("users %d → %d after a refused copy", before, after)
	}
	// SQLite is no target.
	other, _ := openTemp(t)
	if _, err := Copy(ctx, src, other); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("copy to SQLite: %v", err)
	}
}

// TestCopy100kEvents: a data directory with 100,000 events arrives whole,
// its summaries equal to the events'.
func TestCopy100kEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := context.Background()
	src, _ := openTemp(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	// Generated in SQL (the triggers fill the summaries as for events stored
	// one by one): a Go loop of 100,000 inserts takes minutes under -race.
	if _, err := src.db.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < 100000)
		INSERT INTO events(created_at, token_name, type, completion_id, choice_index, language, latency_ms)
		SELECT ? - i * 60000, 'user' || (i % 100) || '/laptop',
			CASE i % 4 WHEN 2 THEN 'select' WHEN 3 THEN 'dismiss' ELSE 'view' END, 'c' || (i / 2), 0,
			CASE i % 3 WHEN 0 THEN 'go' WHEN 1 THEN 'python' ELSE '' END,
			CASE WHEN i % 3 = 0 THEN i % 900 END
		FROM g`, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	dst := openPostgresTemp(t)
	start := time.Now()
	tables, err := Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tables {
		if tc.Table == "events" && tc.Rows != 100_000 {
			t.Fatalf("events copied: %d", tc.Rows)
		}
	}
	t.Logf("copied 100,000 events and their summaries in %v", time.Since(start).Round(time.Millisecond))
	// The checksums proved the rows equal; the usage pages read the same.
	since := now.AddDate(0, 0, -90)
	want, err := src.Totals(ctx, "", since)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.Totals(ctx, "", since)
	if err != nil || !reflect.DeepEqual(got, want) || len(got.Tokens) == 0 {
		t.Fatalf("usage totals after the copy differ (%v):\n got %d %d %d %+v\nwant %d %d %d %+v", err, len(got.Days), len(got.Languages), len(got.Tokens), got.Tokens[:2], len(want.Days), len(want.Languages), len(want.Tokens), want.Tokens[:2])
	}
}
