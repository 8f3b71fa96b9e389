package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Migration says what Open did to the schema.
type Migration struct {
	From, To int    // schema versions before and after; equal when nothing was applied
	Backup   string // the copy of the database written before migrating ("" for a new database)
}

// NewerSchemaError is returned by Open for a database written by a newer
// serval: this binary does not know its tables, so it refuses to touch it.
type NewerSchemaError struct {
	Path        string
	Version     int // the database's
	KnownToThis int // this binary's SchemaVersion
}

func (e *NewerSchemaError) Error() string {
	if e.Path == pgDatabaseName {
		return fmt.Sprintf("%s has schema version %d, but this serval knows only up to %d: it was written by a newer serval. "+
			"Run that newer version (finish the rollout), or restore the pg_dump taken before the upgrade; the database was not changed",
			e.Path, e.Version, e.KnownToThis)
	}
	return fmt.Sprintf("%s has schema version %d, but this serval knows only up to %d: it was written by a newer serval. "+
		"Run that newer version, or restore a backup made by this one (serval restore FILE); the database was not changed",
		e.Path, e.Version, e.KnownToThis)
}

// migrate brings the database at path to the last step of steps. Pending steps
// run in one transaction (all or none apply), after a backup copy of an
// existing database is written beside it. The migration uses its own
// connection with BEGIN IMMEDIATE, so a second process opening the same file
// at the same time waits and then finds the work done.
func migrate(ctx context.Context, path string, steps []migration) (Migration, error) {
	// A newer database is refused before anything touches it: the
	// connection below would switch it to WAL, which rewrites its header.
	if err := refuseNewer(ctx, path, len(steps)); err != nil {
		return Migration{}, err
	}
	db, err := sql.Open("sqlite", dsn(path)+"&_txlock=immediate")
	if err != nil {
		return Migration{}, err
	}
	defer db.Close()
	// One connection: the version read and the transaction see the same file state.
	db.SetMaxOpenConns(1)

	latest := len(steps)
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return Migration{}, fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return Migration{}, &NewerSchemaError{Path: path, Version: current, KnownToThis: latest}
	}
	result := Migration{From: current, To: current}
	if current == latest {
		return result, nil
	}
	empty, err := isEmpty(ctx, db)
	if err != nil {
		return result, err
	}
	if !empty {
		result.Backup, err = backupBeforeMigration(ctx, db, path, current)
		if err != nil {
			return result, fmt.Errorf("back up before migrating from schema %d: %w (nothing was changed)", current, err)
		}
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return result, fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback() // no-op after Commit
	// Another process may have migrated between the read above and the lock.
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&current); err != nil {
		return result, fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return result, &NewerSchemaError{Path: path, Version: current, KnownToThis: latest}
	}
	for _, step := range steps[current:] {
		if err := step.run(ctx, tx); err != nil {
			return result, fmt.Errorf("migration %d (%s): %w; the database was left at schema %d", step.version, step.name, err, result.From)
		}
	}
	// PRAGMA takes no bound parameters; latest is an int this package controls.
	// user_version lives in the file header, so it commits with the steps.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", latest)); err != nil {
		return result, fmt.Errorf("set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return result, fmt.Errorf("commit migration: %w", err)
	}
	result.To = latest
	return result, nil
}

// refuseNewer reads the schema version of an existing database read-only and
// returns a NewerSchemaError when it is above latest.
func refuseNewer(ctx context.Context, path string, latest int) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// The busy timeout matters: another process may be migrating this file
	// (its switch to WAL runs recovery), and a read without one fails at
	// once with SQLITE_BUSY_RECOVERY.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > latest {
		return &NewerSchemaError{Path: path, Version: v, KnownToThis: latest}
	}
	return nil
}

func (m migration) run(ctx context.Context, tx *sql.Tx) error {
	if m.sql != "" {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
	}
	if m.apply != nil {
		return m.apply(ctx, tx)
	}
	return nil
}

func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}

// isEmpty reports whether the database has no tables yet (a new file).
func isEmpty(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		return false, fmt.Errorf("read schema: %w", err)
	}
	return n == 0, nil
}

// backupBeforeMigration writes <path>.v<version>-<UTC time>.bak and returns its name.
func backupBeforeMigration(ctx context.Context, db *sql.DB, path string, version int) (string, error) {
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		dst := fmt.Sprintf("%s.v%d-%s.bak", path, version, stamp)
		if i > 0 {
			dst = fmt.Sprintf("%s.v%d-%s-%d.bak", path, version, stamp, i)
		}
		err := vacuumInto(ctx, db, dst)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return dst, err
	}
	return "", fmt.Errorf("too many backups named %s.v%d-%s*.bak", path, version, stamp)
}

// vacuumInto writes a consistent copy of the database to dst, which must not
// exist: SQLite's VACUUM INTO reads one snapshot, so writers may carry on.
// The copy is written to a fresh temporary file beside dst (VACUUM INTO
// accepts an empty one), synced and linked into place, so dst is either
// complete or absent.
func vacuumInto(ctx context.Context, db *sql.DB, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return &os.PathError{Op: "back up", Path: dst, Err: os.ErrExist}
	}
	f, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("copy the database to %s: %w", tmp, err)
	}
	return syncAndLink(tmp, dst)
}

// syncAndLink flushes tmp to disk, links it as dst unless dst exists
// (os.ErrExist) and flushes the directory. The caller removes tmp.
func syncAndLink(tmp, dst string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := syncClose(f); err != nil {
		return err
	}
	// A hard link, unlike rename, never replaces a file that appeared meanwhile.
	if err := os.Link(tmp, dst); err != nil {
		return err
	}
	syncDir(filepath.Dir(dst))
	return nil
}
