// Package store owns Serval's persistent state: a SQLite database
// (<data-dir>/serval.db, WAL mode, pure-Go driver modernc.org/sqlite) holding
// API tokens (as hashes only) and the completion events clients report.
// Schema changes are versioned migrations (migrations.go) that Open applies
// in order, in one transaction, after writing a backup copy (migrate.go).
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
	db        *sql.DB
	dialect   dialect
	now       func() time.Time
	migration Migration
	// insertEvent is prepared once: compiling it compiles the usage
	// triggers too, which costs far more than running them.
	insertEvent *sql.Stmt
	// lookupToken is prepared once too: every API request runs it, and
	// compiling it each time was most of its cost under load.
	lookupToken *sql.Stmt
}

// maxConns bounds the connections of one Store (WAL: readers run side by
// side, writers take turns under busy_timeout).
const maxConns = 8

// Open opens (creating if needed) the database in dataDir and migrates it.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	if err := checkWritable(dataDir); err != nil {
		return nil, err
	}
	return OpenFile(ctx, filepath.Join(dataDir, FileName))
}

// OpenFile opens the database at path and migrates it (see migrate.go).
func OpenFile(ctx context.Context, path string) (*Store, error) {
	return openFile(ctx, path, migrations)
}

func openFile(ctx context.Context, path string, steps []migration) (*Store, error) {
	if err := privateDBFiles(path); err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	m, err := migrate(ctx, path, steps)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Every request reads its token here. A small pool of kept-open
	// connections serves them; without a bound, a burst of requests opens
	// (and closes again) a connection each: file descriptors, WAL index
	// mappings and setup time grow with the load.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	insertEvent, err := db.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	lookupToken, err := db.PrepareContext(ctx, lookupTokenSQL)
	if err != nil {
		insertEvent.Close()
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now, migration: m, insertEvent: insertEvent, lookupToken: lookupToken}, nil
}

// dsn is the connection string every handle on path uses. busy_timeout lets
// the CLI (token create) and a running server share the file.
func dsn(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
}

// checkWritable fails with the likely cause when dir cannot take new files,
// before SQLite reports a bare "unable to open database file".
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".serval-write-check-*")
	if err != nil {
		return fmt.Errorf("store: data directory %s is not writable by this user (uid %d): %w; "+
			"give it to this user (chown) or choose another with --data-dir (in a container: the /data volume must be writable by the image's user)",
			dir, os.Getuid(), err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// Migrated says what Open did to the schema (From == To when nothing).
func (s *Store) Migrated() Migration { return s.migration }

// Close closes the database.
func (s *Store) Close() error {
	s.insertEvent.Close()
	s.lookupToken.Close()
	return s.db.Close()
}

// Version returns the schema version the database is at.
func (s *Store) Version(ctx context.Context) (int, error) {
	if s.dialect == postgresDialect {
		v, _, err := pgSchemaVersion(ctx, s.db)
		return v, err
	}
	var v int
	err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}

// IsPostgres reports whether the store is a PostgreSQL database (shared by
// replicas) rather than a SQLite file.
func (s *Store) IsPostgres() bool { return s.dialect == postgresDialect }

// JournalMode reports SQLite's journal mode ("wal" once Open succeeded);
// PostgreSQL has none ("").
func (s *Store) JournalMode(ctx context.Context) (string, error) {
	if s.dialect == postgresDialect {
		return "", nil
	}
	var mode string
	err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	return mode, err
}

// ErrNotFound is returned when a token or row does not exist.
var ErrNotFound = errors.New("not found")
