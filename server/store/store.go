// Package store owns Serval's persistent state: a SQLite database
// (<data-dir>/serval.db, WAL mode, pure-Go driver modernc.org/sqlite) holding
// API tokens (as hashes only) and the completion events clients report.
// Schema changes are versioned migrations applied in order by Open.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "serval.db"

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// migrations are applied in order; migrations[i] brings the schema to version i+1.
// Never edit a released migration: append a new one.
var migrations = []string{
	// 1: tokens and events.
	`CREATE TABLE tokens (
		id         INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL UNIQUE,
		hash       TEXT    NOT NULL UNIQUE,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE events (
		id            INTEGER PRIMARY KEY,
		created_at    INTEGER NOT NULL,
		token_name    TEXT    NOT NULL,
		type          TEXT    NOT NULL,
		completion_id TEXT    NOT NULL,
		choice_index  INTEGER NOT NULL,
		view_id       TEXT    NOT NULL DEFAULT '',
		elapsed_ms    INTEGER,
		select_kind   TEXT    NOT NULL DEFAULT '',
		language      TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX events_language_type ON events(language, type);`,
}

// SchemaVersion is the version Open migrates to.
var SchemaVersion = len(migrations)

// Open opens (creating if needed) the database in dataDir and migrates it.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	return OpenFile(ctx, filepath.Join(dataDir, FileName))
}

// OpenFile opens the database at path and migrates it.
func OpenFile(ctx context.Context, path string) (*Store, error) {
	// busy_timeout lets the CLI (token create) and a running server share the file.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Version returns the schema version the database is at.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}

// JournalMode reports SQLite's journal mode ("wal" once Open succeeded).
func (s *Store) JournalMode(ctx context.Context) (string, error) {
	var mode string
	err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	return mode, err
}

// migrate applies every migration above the database's user_version, each in
// its own transaction together with the version bump.
func (s *Store) migrate(ctx context.Context) error {
	current, err := s.Version(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this serval (%d); upgrade serval", current, len(migrations))
	}
	for v := current; v < len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		// PRAGMA does not take bound parameters; v is an int we control.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// ErrNotFound is returned when a token or row does not exist.
var ErrNotFound = errors.New("not found")
