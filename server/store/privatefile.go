package store

import (
	"errors"
	"io/fs"
	"os"
)

// WritePrivateFile writes data to path readable by the owner only (0600),
// replacing any old file whole: the data-dir files that hold secrets (the
// initial token, the first-run setup link) are written through it.
func WritePrivateFile(path, data string) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// privateDBFiles makes the database at path and its -wal and -shm files
// readable by the owner only: the file is created 0600 before SQLite opens
// it (SQLite gives the -wal and -shm files the database's mode), and files
// an older version left 0644 are narrowed. The data directory is 0700 too,
// but a database copied or moved out of it keeps its own mode.
func privateDBFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
