package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
	_ "modernc.org/sqlite"
)

// TestBackupRestoreRoundTrip: `serval backup` while the server runs, then
// `serval restore` into a new data directory gives a server that accepts the
// same tokens and counts the same events.
func TestBackupRestoreRoundTrip(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	ctx := context.Background()
	out, err := serval(t, "token", "create", "--name", "laptop", "--data-dir", s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	tok := lastLine(out)
	c, _ := api.NewClient(s.URL, tok, nil)
	res, err := c.Complete(ctx, &api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: "func main() {\n\t"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{api.EventView, api.EventSelect} {
		if err := c.LogEvent(ctx, &api.LogEventRequest{Type: typ, CompletionID: res.ID}); err != nil {
			t.Fatal(err)
		}
	}
	statsAtBackup, err := serval(t, "stats", "--data-dir", s.DataDir)
	if err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(t.TempDir(), "serval-backup.db")
	if out, err := serval(t, "backup", backup, "--data-dir", s.DataDir); err != nil || !strings.Contains(out, backup) {
		t.Fatalf("backup while serving: %q %v", out, err)
	}
	// Restoring under a running server is refused and changes nothing.
	if _, err := serval(t, "restore", backup, "--data-dir", s.DataDir); err == nil || !strings.Contains(err.Error(), "in use by a running serval") {
		t.Fatalf("restore under a running server: %v", err)
	}
	// Written after the backup: not in the restored data.
	if err := c.LogEvent(ctx, &api.LogEventRequest{Type: api.EventView, CompletionID: "after-backup", Language: "rust"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	restored := t.TempDir()
	if out, err := serval(t, "restore", backup, "--data-dir", restored); err != nil || !strings.Contains(out, "Restored") {
		t.Fatalf("restore: %q %v", out, err)
	}
	statsRestored, err := serval(t, "stats", "--data-dir", restored)
	if err != nil || statsRestored != statsAtBackup {
		t.Fatalf("stats after restore:\n%s\nwant (at backup):\n%s (%v)", statsRestored, statsAtBackup, err)
	}
	// servaltest reads the initial token from the data directory; a user
	// keeps that file with the backup if they rely on it.
	b, _ := os.ReadFile(filepath.Join(s.DataDir, "initial-token"))
	os.WriteFile(filepath.Join(restored, "initial-token"), b, 0o600)
	s2 := servaltest.Start(t, servaltest.Options{DataDir: restored})
	c2, _ := api.NewClient(s2.URL, tok, nil)
	if _, err := c2.Complete(ctx, completionRequest("def f():\n    ")); err != nil {
		t.Fatalf("the laptop token after restore: %v", err)
	}
	if out, _ := serval(t, "token", "list", "--data-dir", restored); strings.Count(out, "initial") != 1 || !strings.Contains(out, "laptop") {
		t.Fatalf("tokens after restore: %s", out)
	}
}

// TestServeRefusesNewerDataDir: a data directory from a newer serval stops
// the start with a message saying so, and is left as it was.
func TestServeRefusesNewerDataDir(t *testing.T) {
	libDir := llamalib.Dir(t)
	model := servaltest.TestModel(t, ggufgen.Options{})
	dir := t.TempDir()
	if _, err := serval(t, "token", "create", "--name", "x", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "serval.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	db.Close()
	before, _ := os.ReadFile(path)
	out := startFails(t, "--model", model, "--lib-dir", libDir, "--data-dir", dir)
	if !strings.Contains(out, "schema version 999") || !strings.Contains(out, "newer serval") {
		t.Errorf("newer data dir: %s", out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the newer database was changed")
	}
}

// The fixture data directory written before schema versioning (see
// server/store/testdata/README.md) and one of its tokens.
const (
	fixtureDB         = "server/store/testdata/datadir-v1/serval.db"
	fixtureAliceToken = "srv_1lmamQVR0ZpzjxLiDSfuRoHy0Z4FAmvf"
)

// copyFixtureDataDir copies the v1 fixture database into a new data directory.
func copyFixtureDataDir(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(llamalib.RepoRoot(), fixtureDB))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "serval.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServeUpgradesOldDataDir: `serval serve` on a data directory of the
// first release migrates it in place (with a backup when the schema moved on)
// and serves its tokens and events.
func TestServeUpgradesOldDataDir(t *testing.T) {
	dir := copyFixtureDataDir(t)
	// servaltest reads the initial token from the data directory; the
	// fixture's "initial" token is in its database.
	os.WriteFile(filepath.Join(dir, "initial-token"), []byte("srv_8GFoZ6a2OossAgzUGk4gb4JwiBbOyCV7\n"), 0o600)
	s := servaltest.Start(t, servaltest.Options{DataDir: dir})
	c, _ := api.NewClient(s.URL, fixtureAliceToken, nil)
	if _, err := c.Complete(context.Background(), completionRequest("def f():\n    ")); err != nil {
		t.Fatalf("the fixture's token after the upgrade: %v", err)
	}
	out, err := serval(t, "stats", "--data-dir", dir)
	if err != nil || !regexpLine(out, `go\s+1\s+1\s+0\s+100.0%`) || !regexpLine(out, `python\s+1\s+0\s+1\s+0.0%`) {
		t.Fatalf("the fixture's events after the upgrade: %v\n%s", err, out)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "serval.db.v1-*.bak"))
	upgraded := strings.Contains(s.Logs(), fmt.Sprintf("upgraded the database from schema 1 to %d", store.SchemaVersion))
	if moved := store.SchemaVersion > 1; upgraded != moved || (len(backups) == 1) != moved {
		t.Fatalf("schema 1 → %d: upgrade message %v, backups %v:\n%s", store.SchemaVersion, upgraded, backups, s.Logs())
	}
}
