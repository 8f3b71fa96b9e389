package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/servalhq/serval/buildinfo"
	"github.com/servalhq/serval/server/api"
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage error")

// env reads an environment variable; tests pass a map's lookup.
type env func(string) string

// run is the whole program; main only adds signals and the exit status.
func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		return runHelp(ctx, args[1:], getenv, stdout)
	case "--version", "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	return dispatch(ctx, args, getenv, stdout, stderr)
}

// defaultDataDir is $SERVAL_DATA_DIR, else ~/.serval.
func defaultDataDir(getenv env) string {
	if d := getenv("SERVAL_DATA_DIR"); d != "" {
		return d
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".serval")
	}
	return ".serval"
}

func dataDirFlag(fs *flag.FlagSet, getenv env) *string {
	return fs.String("data-dir", defaultDataDir(getenv), "directory for the database, tokens and downloaded models ($SERVAL_DATA_DIR)")
}

// databaseFlag is --database: a postgres:// URL or a SQLite file; "" (the
// default, unless $SERVAL_DATABASE_URL is set) means the SQLite database in
// --data-dir.
func databaseFlag(fs *flag.FlagSet, getenv env) *string {
	return fs.String("database", getenv("SERVAL_DATABASE_URL"),
		"`URL` of the database: postgres://USER:PASSWORD@HOST:5432/DB (shared by replicas) or a SQLite file path; default: serval.db in --data-dir ($SERVAL_DATABASE_URL)")
}

// buildVersion describes this binary for /v1/health.
func buildVersion() api.Version {
	b := buildinfo.Read()
	return api.Version{GitDescribe: b.Version, GitSHA: b.Commit, BuildDate: b.Day(), BuildTimestamp: b.Date}
}
