package main

import (
	"context"
	"fmt"
	"io"

	"github.com/servalhq/serval/server/store"
)

// openStore opens the database of --database (or, without it, the data
// directory's) for any command, saying on stderr when it upgraded the
// schema and where the copy of the old one is.
func openStore(ctx context.Context, database, dataDir string, stderr io.Writer) (*store.Store, error) {
	st, err := store.OpenDatabase(ctx, database, dataDir)
	if err != nil {
		return nil, err
	}
	if m := st.Migrated(); m.From != m.To && m.Backup != "" {
		fmt.Fprintf(stderr, "serval: upgraded the database from schema %d to %d; the database as it was is saved as %s\n", m.From, m.To, m.Backup)
	} else if m.From != m.To && m.From > 0 && st.IsPostgres() {
		fmt.Fprintf(stderr, "serval: upgraded the PostgreSQL database from schema %d to %d\n", m.From, m.To)
	}
	return st, nil
}
