package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servalhq/serval/server/store"
)

// runStore implements `serval store SUB`.
func runStore(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return fmt.Errorf("%w: serval store copy --from DATA_DIR|FILE --to postgres://...", errUsage)
	}
	return runStoreCopy(ctx, args[1:], getenv, stdout, stderr)
}

// runStoreCopy implements `serval store copy --from DIR|FILE --to URL`:
// moves an instance's SQLite database into an empty PostgreSQL database and
// checks that every table arrived whole.
func runStoreCopy(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval store copy", stderr)
	from := fs.String("from", "", "the instance to copy: its data directory, or its SQLite database file")
	to := fs.String("to", "", "the empty PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST:5432/DB")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *from == "" || *to == "" {
		return fmt.Errorf("%w: serval store copy --from DATA_DIR|SQLITE_FILE --to postgres://...", errUsage)
	}
	if !store.IsPostgresURL(*to) {
		return fmt.Errorf("%w: --to must be a postgres:// URL (the database to move the instance to)", errUsage)
	}
	info, err := os.Stat(*from)
	if err != nil {
		return fmt.Errorf("--from %s: %w (give the data directory of the instance, or its serval.db)", *from, err)
	}
	path := *from
	if info.IsDir() {
		path = filepath.Join(*from, store.FileName)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("--from %s: no %s in it: %w", *from, store.FileName, err)
		}
	}
	src, err := openStore(ctx, path, "", stderr)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openStore(ctx, *to, "", stderr)
	if err != nil {
		return err
	}
	defer dst.Close()
	tables, err := store.Copy(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Copied %s to %s; row counts and checksums match:\n", path, store.RedactURL(*to))
	for _, t := range tables {
		fmt.Fprintf(stdout, "  %-14s %9d rows  sha256 %s\n", t.Table, t.Rows, t.Checksum[:16])
	}
	fmt.Fprintf(stdout, "Start serval with --database (or SERVAL_DATABASE_URL) pointing at it.\n")
	return nil
}
