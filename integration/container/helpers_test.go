package container_test

import (
	"database/sql"
	"io/fs"
	"syscall"
	"testing"

	_ "modernc.org/sqlite"
)

// writeNewerDatabase writes a database whose schema version no serval has yet.
func writeNewerDatabase(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`CREATE TABLE future (x)`, `PRAGMA user_version = 999`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func fileUID(info fs.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
