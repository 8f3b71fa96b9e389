package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/servalhq/serval/buildinfo"
)

// command is one command of `serval`. Help needs nothing more than this line
// and the command's own flag set (made with newFlagSet, parsed with
// parseFlags): `serval X --help` and `serval help X` print its usage, summary
// and flags.
type command struct {
	name    string // one or two words: "serve", "token create"
	args    string // what follows the name in the usage line
	summary string // one line for `serval help`
	run     func(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error
}

// commands is every command, in the order `serval help` lists them.
// To add a command, add a line in init (and put its code in its own file).
// init, not an initializer: the commands' flag sets look their help up here.
var commands []command

func init() {
	commands = []command{
		{"serve", "[flags]", "start the server", runServe},
		{"token create", "--name NAME [--user USER]", "create an API token (of USER's account); prints it once, as the last line", subcommand("create", runToken)},
		{"token list", "", "list tokens: name and creation time (never the secret)", subcommand("list", runToken)},
		{"token revoke", "NAME", "revoke a token", subcommand("revoke", runToken)},
		{"user list", "", "list the web app's accounts", subcommand("list", runUser)},
		{"user create", "NAME [--admin] [--password-stdin]", "create an account; prints a link to set its password", subcommand("create", runUser)},
		{"user disable", "NAME", "deactivate an account: sessions end, tokens refused", subcommand("disable", runUser)},
		{"user enable", "NAME", "reactivate an account", subcommand("enable", runUser)},
		{"user reset-password", "NAME", "print a one-time link to choose a new password", subcommand("reset-password", runUser)},
		{"invite create", "[--note TEXT] [--days N]", "print an invitation link (/register?invite=...)", runInvite},
		{"audit", "[--since AGE] [--json]", "print the audit log (sign-ins, tokens, accounts, invitations), oldest first", runAudit},
		{"stats", "", "completions shown/accepted per language", runStats},
		{"backup", "FILE", "consistent copy of the database (safe while serving)", runBackup},
		{"restore", "FILE", "replace the database with a backup (serval stopped)", runRestore},
		{"store copy", "--from DATA_DIR|FILE --to postgres://...", "move an instance's SQLite database into an empty PostgreSQL database, verified", subcommand("copy", runStore)},
		{"healthcheck", "[--url URL]", "exit 0 when the server's liveness route answers (container HEALTHCHECK)", func(ctx context.Context, args []string, _ env, stdout, stderr io.Writer) error {
			return runHealthcheck(ctx, args, stdout, stderr)
		}},
		{"doctor", "[--server URL]", "check a client's setup: server, token, model, a completion, agent config", runDoctor},
		{"version", "", "print the version", runVersion},
	}
}

// subcommand adapts a command that reads its subcommand from its first argument.
func subcommand(sub string, run func(context.Context, []string, env, io.Writer, io.Writer) error) func(context.Context, []string, env, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
		return run(ctx, append([]string{sub}, args...), getenv, stdout, stderr)
	}
}

// dispatch runs the command args name, or its help when asked.
func dispatch(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	cmd, rest, err := findCommand(args)
	if err != nil {
		return err
	}
	if wantsHelp(rest) {
		// Help goes to stdout (serval serve --help | less) and is no error.
		return cmd.run(ctx, []string{"--help"}, getenv, stdout, stdout)
	}
	return cmd.run(ctx, rest, getenv, stdout, stderr)
}

// runHelp implements `serval help [COMMAND...]`.
func runHelp(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	if len(args) == 0 {
		printUsage(stdout)
		return nil
	}
	return dispatch(ctx, append(args, "--help"), getenv, stdout, stdout)
}

// findCommand picks the command args start with: two words, else one.
// A group word alone ("token") is an error naming its subcommands, or its
// help when help was asked for.
func findCommand(args []string) (*command, []string, error) {
	if len(args) >= 2 {
		if c := lookupCommand(args[0] + " " + args[1]); c != nil {
			return c, args[2:], nil
		}
	}
	if c := lookupCommand(args[0]); c != nil {
		return c, args[1:], nil
	}
	var group []string
	for _, c := range commands {
		if sub, ok := strings.CutPrefix(c.name, args[0]+" "); ok {
			group = append(group, sub)
		}
	}
	if len(group) > 0 {
		if len(args) > 1 && !wantsHelp(args[1:2]) {
			return nil, nil, fmt.Errorf("%w: unknown command \"%s %s\"%s; see 'serval help %s'", errUsage, args[0], args[1], didYouMean(args[1], group, ""), args[0])
		}
		if wantsHelp(args[1:]) {
			return &command{run: func(_ context.Context, _ []string, _ env, stdout, _ io.Writer) error {
				printGroup(stdout, args[0])
				return nil
			}}, nil, nil
		}
		return nil, nil, fmt.Errorf("%w: serval %s needs a subcommand: %s; see 'serval help %s'", errUsage, args[0], strings.Join(group, ", "), args[0])
	}
	var words []string
	for _, c := range commands {
		if w, _, _ := strings.Cut(c.name, " "); !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	return nil, nil, fmt.Errorf("%w: unknown command %q%s; see 'serval help'", errUsage, args[0], didYouMean(args[0], words, ""))
}

func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "serval: a self-hosted, Tabby-compatible code completion server.\n\nUsage:\n")
	for _, c := range commands {
		usageLine(w, "serval "+c.name+" "+c.args, c.summary)
	}
	usageLine(w, "serval help [COMMAND]", "help for a command and its flags (or: serval COMMAND --help)")
	fmt.Fprint(w, "\nEvery command that uses the database takes --data-dir (default $SERVAL_DATA_DIR, else ~/.serval)\n"+
		"and --database URL (default $SERVAL_DATABASE_URL): postgres://USER:PASSWORD@HOST:5432/DB, shared by replicas, or a SQLite file.\n")
}

// usageLine prints one command of a listing: the summary in a column, or on
// the next line when the command's synopsis is too long for the column.
func usageLine(w io.Writer, synopsis, summary string) {
	const column = 34
	synopsis = strings.TrimSpace(synopsis)
	if len(synopsis) > column {
		fmt.Fprintf(w, "  %s\n  %-*s %s\n", synopsis, column, "", summary)
		return
	}
	fmt.Fprintf(w, "  %-*s %s\n", column, synopsis, summary)
}

func printGroup(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage:\n")
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			usageLine(w, "serval "+c.name+" "+c.args, c.summary)
		}
	}
	fmt.Fprintf(w, "\nFlags of each: serval %s SUBCOMMAND --help\n", group)
}

// newFlagSet returns a flag set for the command called name ("serval token
// create") whose -h prints that command's help; parseFlags reports errors.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		if c := lookupCommand(strings.TrimPrefix(name, "serval ")); c != nil {
			fmt.Fprintf(w, "Usage: %s\n\n%s.\n", strings.TrimSpace(name+" "+c.args), upperFirst(c.summary))
		} else {
			fmt.Fprintf(w, "Usage: %s\n", name)
		}
		printFlags(w, fs)
	}
	return fs
}

// printFlags lists fs's flags as users type them (--name), like PrintDefaults.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  %s\n    \t%s", strings.TrimSpace("--"+f.Name+" "+arg), strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parseFlags parses args. -h prints the command's help and gives
// flag.ErrHelp; a mistake gives one short errUsage line, with a suggestion
// for a misspelt flag, instead of the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		msg = "unknown flag --" + name + didYouMean(name, names, "--")
	}
	return fmt.Errorf("%w: %s; see '%s --help'", errUsage, msg, fs.Name())
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// runVersion implements `serval version`.
func runVersion(_ context.Context, args []string, _ env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval version", stderr)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	fmt.Fprintln(stdout, "serval", buildinfo.Read())
	return nil
}
