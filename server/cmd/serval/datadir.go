package main

import (
	"context"
	"fmt"
	"io"

	"github.com/servalhq/serval/server/store"
)

// openStore opens the data directory's database for any command, saying on
// stderr when it upgraded the schema and where the copy of the old one is.
func openStore(ctx context.Context, dataDir string, stderr io.Writer) (*store.Store, error) {
	st, err := store.Open(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	if m := st.Migrated(); m.From != m.To && m.Backup != "" {
		fmt.Fprintf(stderr, "serval: upgraded the database from schema %d to %d; the database as it was is saved as %s\n", m.From, m.To, m.Backup)
	}
	return st, nil
}
