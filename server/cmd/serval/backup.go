package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/servalhq/serval/server/store"
)

// runBackup implements `serval backup FILE`: a consistent copy of the
// database, safe while servers run.
func runBackup(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval backup", stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	file, err := parseFileArg(fs, args, "serval backup FILE")
	if err != nil || file == "" {
		return err
	}
	if err := refuseDatabaseFlag("backup", *database); err != nil {
		return err
	}
	if err := store.Backup(ctx, *dataDir, file); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up %s to %s (tokens, users and events; restore with `serval restore --data-dir %s %s` while serval is stopped).\n",
		*dataDir, file, shellQuote(*dataDir), shellQuote(file))
	return nil
}

// runRestore implements `serval restore FILE`: replaces the data directory's
// database with a backup, keeping the replaced one.
func runRestore(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval restore", stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	file, err := parseFileArg(fs, args, "serval restore FILE")
	if err != nil || file == "" {
		return err
	}
	if err := refuseDatabaseFlag("restore", *database); err != nil {
		return err
	}
	r, err := store.Restore(ctx, *dataDir, file)
	if err != nil {
		return err
	}
	if r.Previous != "" {
		fmt.Fprintf(stdout, "Saved the database it replaces as %s.\n", r.Previous)
	}
	// Open once so an older backup is migrated now, with its message, rather
	// than at the next start.
	st, err := openStore(ctx, "", *dataDir, stderr)
	if err != nil {
		return fmt.Errorf("restored %s, but it does not open: %w", file, err)
	}
	defer st.Close()
	fmt.Fprintf(stdout, "Restored %s into %s (schema %d). Start serval again.\n", file, *dataDir, r.Version)
	return nil
}

// parseFileArg parses `CMD FILE [flags]` or `CMD [flags] FILE`, returning
// FILE; "" with a nil error means --help was shown.
func parseFileArg(fs *flag.FlagSet, args []string, usage string) (string, error) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil
		}
		return "", err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
		fs.Parse(fs.Args()[1:])
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if file == "" {
		return "", fmt.Errorf("%w: %s needs a FILE", errUsage, usage)
	}
	return file, nil
}

// refuseDatabaseFlag: backup and restore copy the data directory's SQLite
// file; a PostgreSQL database has its own tools.
func refuseDatabaseFlag(command, database string) error {
	switch {
	case database == "":
		return nil
	case store.IsPostgresURL(database):
		return fmt.Errorf("%w: serval %s copies the SQLite database of a data directory; back up PostgreSQL with pg_dump "+
			"(pg_dump --format=custom --file=serval.dump DATABASE) and restore with pg_restore (see docs/deploy.md)", errUsage, command)
	default:
		return fmt.Errorf("%w: serval %s works on --data-dir DIR (the database DIR/serval.db), not on --database %s", errUsage, command, database)
	}
}

// shellQuote quotes s for a POSIX shell when it needs quoting, so a printed
// command can be pasted as it is.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:=@%,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
