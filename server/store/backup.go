package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Backup writes a consistent copy of dataDir's database to dst while servers
// may keep writing (one SQLite snapshot, via VACUUM INTO). dst must not exist;
// it is either complete or absent. The database is not migrated: a backup
// made by an older or newer serval copies the schema as it is.
func Backup(ctx context.Context, dataDir, dst string) error {
	path := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: no database to back up in %s: %w", dataDir, err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("store: %s already exists; choose a new file name (a backup never overwrites)", dst)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	defer db.Close()
	if err := vacuumInto(ctx, db, dst); err != nil {
		return fmt.Errorf("store: back up %s: %w", path, err)
	}
	return nil
}

// Restored says what Restore did.
type Restored struct {
	Version  int    // the restored database's schema version, before Open migrates it
	Previous string // where the replaced database was saved ("" when there was none)
}

// Restore replaces dataDir's database with the backup at src. It checks the
// backup first (a SQLite database that passes integrity_check, with a schema
// this serval knows) and refuses while a server holds the data directory (see
// LockDataDir). The database it replaces is saved as
// serval.db.pre-restore-<time>.bak; the backup is copied to a temporary file
// and renamed into place, so serval.db is always one whole database.
func Restore(ctx context.Context, dataDir, src string) (Restored, error) {
	var r Restored
	v, err := checkBackup(ctx, src)
	if err != nil {
		return r, err
	}
	r.Version = v
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return r, fmt.Errorf("store: create data dir: %w", err)
	}
	if err := checkWritable(dataDir); err != nil {
		return r, err
	}
	unlock, err := LockDataDir(dataDir, true)
	if err != nil {
		return r, err
	}
	defer unlock()

	path := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(path); err == nil {
		r.Previous = fmt.Sprintf("%s.pre-restore-%s.bak", path, time.Now().UTC().Format("20060102T150405Z"))
		if err := saveCurrent(ctx, path, r.Previous); err != nil {
			return Restored{Version: v}, fmt.Errorf("store: save the current database before restoring (nothing was changed; if it is damaged, move %s away and restore again): %w", path, err)
		}
	}
	tmp, err := os.CreateTemp(dataDir, FileName+".restore-*.tmp")
	if err != nil {
		return r, fmt.Errorf("store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := copyInto(tmp, src); err != nil {
		return r, fmt.Errorf("store: copy %s: %w", src, err)
	}
	// The old database was checkpointed by saveCurrent; its -wal and -shm
	// would otherwise be replayed onto the restored file.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, fmt.Errorf("store: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return r, fmt.Errorf("store: %w", err)
	}
	syncDir(dataDir)
	return r, nil
}

// checkBackup returns the schema version of the database at src after
// checking that it is whole and not from a newer serval.
func checkBackup(ctx context.Context, src string) (int, error) {
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("store: backup %w", err)
	}
	if _, err := os.Stat(src + "-wal"); err == nil {
		return 0, fmt.Errorf("store: %s has a -wal file beside it: it is a live database, not a backup (make one with `serval backup FILE`); nothing was changed", src)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", src, err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		return 0, fmt.Errorf("store: %s is not a usable serval backup (integrity check: %q, %v); nothing was changed", src, check, err)
	}
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("store: read the schema version of %s: %w", src, err)
	}
	if v < 1 {
		return 0, fmt.Errorf("store: %s is not a serval database (schema version %d); nothing was changed", src, v)
	}
	if v > SchemaVersion {
		return 0, &NewerSchemaError{Path: src, Version: v, KnownToThis: SchemaVersion}
	}
	return v, nil
}

// saveCurrent copies the database at path to dst after folding its WAL in.
func saveCurrent(ctx context.Context, path, dst string) error {
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := vacuumInto(ctx, db, dst); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// copyInto copies src into f, syncs and closes f.
func copyInto(f *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		f.Close()
		return err
	}
	defer in.Close()
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return err
	}
	return syncClose(f)
}

// syncClose makes f readable by its owner only, flushes it to disk and closes it.
func syncClose(f *os.File) error {
	err := f.Chmod(0o600)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// lockFileName is the file servers hold a shared lock on, and Restore an
// exclusive one.
const lockFileName = "serval.lock"

// ErrDataDirInUse is returned by LockDataDir when the other kind of lock is held.
var ErrDataDirInUse = errors.New("the data directory is in use by a running serval")

// LockDataDir takes a lock on dataDir: shared for a server (several may share
// a data directory), exclusive for Restore, which must not swap the database
// under a running server. It never waits. unlock releases it.
func LockDataDir(dataDir string, exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dataDir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", dataDir, err)
	}
	if err := tryLock(f, exclusive); err != nil {
		f.Close()
		if errors.Is(err, errLockHeld) {
			if exclusive {
				return nil, fmt.Errorf("store: %s: %w; stop it first (restoring under it would lose its writes)", dataDir, ErrDataDirInUse)
			}
			return nil, fmt.Errorf("store: %s: a restore is in progress; start serval when it has finished", dataDir)
		}
		return nil, fmt.Errorf("store: lock %s: %w", dataDir, err)
	}
	return func() { f.Close() }, nil
}
