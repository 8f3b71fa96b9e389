package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fixture's secrets (see testdata/README.md).
const (
	fixtureInitialToken = "srv_8GFoZ6a2OossAgzUGk4gb4JwiBbOyCV7"
	fixtureAliceToken   = "srv_1lmamQVR0ZpzjxLiDSfuRoHy0Z4FAmvf"
	fixtureRevokedToken = "srv_26H3Dtv1FhkF7mfEGj0M7cFi0pAczDqt"
)

// copyFixture copies testdata/datadir-v1 into a temporary data directory.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "datadir-v1", FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkFixtureData checks that s holds the fixture's tokens and events.
func checkFixtureData(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for secret, want := range map[string]string{fixtureInitialToken: "initial", fixtureAliceToken: "alice"} {
		if name, err := s.LookupToken(ctx, secret); err != nil || name != want {
			t.Errorf("token %s: %q, %v", want, name, err)
		}
	}
	if _, err := s.LookupToken(ctx, fixtureRevokedToken); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked fixture token: %v, want ErrNotFound", err)
	}
	events, err := s.Events(ctx, 100)
	if err != nil || len(events) != 5 {
		t.Fatalf("events = %d, %v; want 5", len(events), err)
	}
	sel := events[1]
	if sel.Type != "select" || sel.CompletionID != "cmpl-1" || sel.Elapsed == nil || *sel.Elapsed != 850*time.Millisecond ||
		sel.SelectKind != "line" || !sel.Time.Equal(time.Date(2026, 11, 30, 12, 0, 1, 0, time.UTC)) {
		t.Errorf("event 1 = %+v", sel)
	}
	stats, err := s.Stats(ctx)
	if err != nil || len(stats) != 3 || stats[0] != (LanguageStats{Language: "go", Shown: 1, Accepted: 1}) ||
		stats[1] != (LanguageStats{Language: "python", Shown: 1, Dismissed: 1}) {
		t.Errorf("stats = %+v, %v", stats, err)
	}
}

func fileVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := schemaVersion(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsAreOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migrations[%d] has version %d, want %d: append steps with the next number", i, m.version, i+1)
		}
		if m.name == "" || (m.sql == "" && m.apply == nil) {
			t.Errorf("migration %d needs a name and sql or apply", m.version)
		}
	}
	if SchemaVersion != len(migrations) {
		t.Errorf("SchemaVersion = %d, want %d", SchemaVersion, len(migrations))
	}
}

// TestFixtureMigratesInPlace: a data directory written by the first release
// opens with this code, keeps its tokens and events, and is backed up first
// when its schema is older.
func TestFixtureMigratesInPlace(t *testing.T) {
	dir := copyFixture(t)
	path := filepath.Join(dir, FileName)
	from := fileVersion(t, path)
	if from != 1 {
		t.Fatalf("fixture schema version = %d, want 1", from)
	}
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := s.Migrated()
	if m.From != from || m.To != SchemaVersion {
		t.Fatalf("Migrated = %+v, want %d→%d", m, from, SchemaVersion)
	}
	if v, _ := s.Version(ctx); v != SchemaVersion {
		t.Fatalf("version after Open = %d, want %d", v, SchemaVersion)
	}
	checkFixtureData(t, s)
	if from == SchemaVersion {
		if m.Backup != "" {
			t.Errorf("backup %q written with nothing to migrate", m.Backup)
		}
		return
	}
	if m.Backup == "" || fileVersion(t, m.Backup) != from {
		t.Fatalf("backup %q: want a copy at schema %d", m.Backup, from)
	}
	checkBackupHasFixture(t, m.Backup)
	// Reopening migrates nothing and writes no second backup.
	s.Close()
	s2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if m := s2.Migrated(); m.From != SchemaVersion || m.Backup != "" {
		t.Errorf("second Open: %+v, want nothing to do", m)
	}
}

// checkBackupHasFixture checks a backup copy by counting its rows directly,
// without migrating it.
func checkBackupHasFixture(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tokens, events int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM tokens), (SELECT count(*) FROM events)`).Scan(&tokens, &events); err != nil {
		t.Fatal(err)
	}
	if tokens != 2 || events != 5 {
		t.Errorf("backup %s has %d tokens and %d events, want 2 and 5", path, tokens, events)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup mode: %v %v, want 0600", info.Mode(), err)
	}
}

// testSteps are the real migrations plus two more, to exercise the mechanism
// whatever the real schema is: the first makes a table of its own, the second
// (Go code) fills it from the tokens, so it must run after the first.
func testSteps(extra ...migration) []migration {
	steps := append([]migration(nil), migrations...)
	n := len(steps)
	steps = append(steps,
		migration{version: n + 1, name: "test table", sql: `CREATE TABLE zz_migration_test (token_name TEXT NOT NULL)`},
		migration{version: n + 2, name: "fill test table", apply: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO zz_migration_test SELECT name FROM tokens`)
			return err
		}},
	)
	for i, m := range extra {
		m.version = n + 3 + i
		steps = append(steps, m)
	}
	return steps
}

func TestMigrationStepsApplyInOrderAfterBackup(t *testing.T) {
	dir := copyFixture(t)
	path := filepath.Join(dir, FileName)
	ctx := context.Background()
	steps := testSteps()
	m, err := migrate(ctx, path, steps)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != 1 || m.To != len(steps) {
		t.Fatalf("migration = %+v, want 1→%d", m, len(steps))
	}
	if !strings.HasPrefix(filepath.Base(m.Backup), FileName+".v1-") || fileVersion(t, m.Backup) != 1 {
		t.Fatalf("backup %q: want %s.v1-*.bak at schema 1", m.Backup, FileName)
	}
	checkBackupHasFixture(t, m.Backup)
	if v := fileVersion(t, path); v != len(steps) {
		t.Fatalf("version = %d, want %d", v, len(steps))
	}
	s, err := openFile(ctx, path, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFixtureData(t, s)
	var copied int
	if err := s.db.QueryRow(`SELECT count(*) FROM zz_migration_test`).Scan(&copied); err != nil || copied != 2 {
		t.Fatalf("test table rows = %d, %v: step %d did not run after step %d", copied, err, len(steps), len(steps)-1)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestFailedMigrationChangesNothing: a step that fails rolls back every step
// of the run, so the database stays at its old version with its old tables.
func TestFailedMigrationChangesNothing(t *testing.T) {
	dir := copyFixture(t)
	path := filepath.Join(dir, FileName)
	ctx := context.Background()
	steps := testSteps(migration{name: "broken", sql: `ALTER TABLE no_such_table ADD COLUMN x TEXT`})
	_, err := migrate(ctx, path, steps)
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "left at schema 1") {
		t.Fatalf("err = %v, want the failing step named and 'left at schema 1'", err)
	}
	if v := fileVersion(t, path); v != 1 {
		t.Fatalf("version after a failed migration = %d, want 1", v)
	}
	backups, _ := filepath.Glob(path + ".v1-*.bak")
	if len(backups) != 1 {
		t.Fatalf("backups = %v, want one", backups)
	}
	raw, err := openRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	var tables int
	raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'zz_migration_test'`).Scan(&tables)
	raw.Close()
	if tables != 0 {
		t.Fatal("the table of an earlier step of the failed run survived the rollback")
	}
	// Opening with the real steps migrates as usual, with the data intact.
	s, err := OpenFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFixtureData(t, s)
}

// TestConcurrentOpensMigrateOnce: two processes (here two handles) opening an
// old database at once both succeed; the steps run once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	dir := copyFixture(t)
	path := filepath.Join(dir, FileName)
	steps := testSteps()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = migrate(context.Background(), path, steps) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err) // "table already exists" when a step ran twice
		}
	}
	if v := fileVersion(t, path); v != len(steps) {
		t.Fatalf("version = %d, want %d", v, len(steps))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := copyFixture(t)
	path := filepath.Join(dir, FileName)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	// A rollback-journal database: opening it in WAL mode would rewrite its header.
	for _, q := range []string{"PRAGMA journal_mode=DELETE", "PRAGMA user_version = 99"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	before, _ := os.ReadFile(path)
	_, err = Open(context.Background(), dir)
	var newer *NewerSchemaError
	if !errors.As(err, &newer) || newer.Version != 99 || newer.KnownToThis != SchemaVersion {
		t.Fatalf("Open of a newer schema: err = %v, want a NewerSchemaError 99 > %d", err, SchemaVersion)
	}
	if !strings.Contains(err.Error(), "newer serval") || !strings.Contains(err.Error(), "was not changed") {
		t.Errorf("message %q does not say what happened", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the newer database was modified")
	}
	if files, _ := filepath.Glob(path + ".*"); len(files) != 0 {
		t.Errorf("files written beside a refused database: %v", files)
	}
}

func TestOpenDataDirThatIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(context.Background(), filepath.Join(file, "data")); err == nil || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("err = %v, want a data dir error", err)
	}
}

func openRaw(path string) (*sql.DB, error) { return sql.Open("sqlite", "file:"+path) }
