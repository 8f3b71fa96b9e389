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

const usage = `serval: a self-hosted, Tabby-compatible code completion server.

Usage:
  serval serve [flags]               start the server (serval serve --help for flags)
  serval token create --name NAME    create an API token; prints it once, as the last line
  serval token list                  list token names
  serval token revoke NAME           revoke a token
  serval stats                       completions shown/accepted per language
  serval backup FILE                 consistent copy of the database (safe while serving)
  serval restore FILE                replace the database with a backup (serval stopped)
  serval healthcheck [--url URL]     exit 0 when the server's liveness route answers (container HEALTHCHECK)
  serval doctor [--server URL]       check a client's setup: server, token, model, a completion, agent config
  serval version                     print the version

Every command takes --data-dir (default $SERVAL_DATA_DIR, else ~/.serval).
`

// run is the whole program; main only adds signals and the exit status.
func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "stats":
		return runStats(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "serval", buildinfo.Read())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, turning flag errors into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
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

// buildVersion describes this binary for /v1/health.
func buildVersion() api.Version {
	b := buildinfo.Read()
	return api.Version{GitDescribe: b.Version, GitSHA: b.Commit, BuildDate: b.Day(), BuildTimestamp: b.Date}
}
