package store

import "os"

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
