package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// TestDatabaseFlag: the store-opening commands use --database, or
// $SERVAL_DATABASE_URL, instead of the data directory's SQLite file; backup
// and restore point PostgreSQL users to pg_dump.
func TestDatabaseFlag(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	dataDir := t.TempDir()
	out, _, err := runCmd(t, dataDir, "token", "create", "--name", "ci", "--database", url)
	if err != nil || !strings.Contains(out, "srv_") {
		t.Fatalf("token create: %q, %v", out, err)
	}
	// The environment variable names the same database.
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		switch k {
		case "SERVAL_DATA_DIR":
			return dataDir
		case "SERVAL_DATABASE_URL":
			return url
		}
		return ""
	}
	if err := run(context.Background(), []string{"token", "list"}, env, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "ci") {
		t.Fatalf("token list with SERVAL_DATABASE_URL: %q, %v", stdout.String(), err)
	}
	// Nothing went to the data directory's SQLite file.
	if out, _, err := runCmd(t, dataDir, "token", "list"); err != nil || strings.Contains(out, "ci") {
		t.Fatalf("the data directory's database has the token: %q, %v", out, err)
	}
	if _, _, err := runCmd(t, dataDir, "stats", "--database", url); err != nil {
		t.Fatalf("stats: %v", err)
	}
	_, _, err = runCmd(t, dataDir, "backup", "--database", url, t.TempDir()+"/b.db")
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup of PostgreSQL: %v, want a pointer to pg_dump", err)
	}
	_, _, err = runCmd(t, dataDir, "token", "list", "--database", "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "cannot use PostgreSQL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable database: %v", err)
	}
}

// TestStoreCopy: `serval store copy` moves the first release's data
// directory into PostgreSQL, verified, and refuses a second copy and a
// target that is not PostgreSQL.
func TestStoreCopy(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("../../store/testdata/datadir-v1/serval.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/serval.db", b, 0o600); err != nil {
		t.Fatal(err)
	}
	url := pgtest.Shared(t).NewDatabase(t)
	out, _, err := runCmd(t, t.TempDir(), "store", "copy", "--from", dir, "--to", url)
	if err != nil || !strings.Contains(out, "row counts and checksums match") || !strings.Contains(out, "events") {
		t.Fatalf("store copy: %q, %v", out, err)
	}
	if out, _, err := runCmd(t, t.TempDir(), "token", "list", "--database", url); err != nil || out == "" {
		t.Fatalf("tokens after the copy: %q %v", out, err)
	}
	if _, _, err := runCmd(t, t.TempDir(), "store", "copy", "--from", dir, "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("second copy: %v", err)
	}
	if _, _, err := runCmd(t, t.TempDir(), "store", "copy", "--from", dir, "--to", dir+"/other.db"); err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Fatalf("copy to a file: %v", err)
	}
	if _, _, err := runCmd(t, t.TempDir(), "store", "copy", "--from", t.TempDir(), "--to", url); err == nil || !strings.Contains(err.Error(), "no serval.db") {
		t.Fatalf("copy from an empty directory: %v", err)
	}
}
