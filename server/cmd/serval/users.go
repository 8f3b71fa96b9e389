package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/servalhq/serval/server/account"
	"github.com/servalhq/serval/server/store"
	"github.com/servalhq/serval/server/web"
)

// The web app's accounts from the shell, for headless servers: `serval user
// list|create|disable|enable|reset-password`, `serval invite create` and
// `serval token create --user`. Passwords never go on the command line:
// `user create` reads one from stdin with --password-stdin, or prints a
// one-time link where the user picks it.

// stdin is read by --password-stdin (tests replace it).
var stdin io.Reader = os.Stdin

// linkBaseFlag is where printed links point: --url, else $SERVAL_URL, else
// the address the server in --data-dir last started on (linkBase).
func linkBaseFlag(fs *flag.FlagSet, getenv env) *string {
	return fs.String("url", getenv("SERVAL_URL"), "the server's address as browsers reach it, for the printed link ($SERVAL_URL; default: where `serval serve` with this --data-dir runs)")
}

// defaultLinkBase is the last resort of linkBase.
const defaultLinkBase = "http://localhost:8080"

// linkBase resolves the --url flag: as given, else what `serval serve` wrote
// to <data-dir>/server-url when it started, else the default port, saying so
// on stderr (the link is wrong if the server runs elsewhere).
func linkBase(flagValue, dataDir string, stderr io.Writer) string {
	if flagValue != "" {
		return strings.TrimRight(flagValue, "/")
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, serverURLFile)); err == nil {
		if u := strings.TrimSpace(string(b)); strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return strings.TrimRight(u, "/")
		}
	}
	fmt.Fprintf(stderr, "serval: no server has run with --data-dir %s: the link assumes %s; pass --url with the address browsers reach the server at\n", dataDir, defaultLinkBase)
	return defaultLinkBase
}

// runUser implements `serval user SUB`.
func runUser(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	sub, args := args[0], args[1:]
	fs := newFlagSet("serval user "+sub, stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	var admin, passwordStdin *bool
	var base *string
	switch sub {
	case "create":
		admin = fs.Bool("admin", false, "make the account an admin (the first account always is)")
		passwordStdin = fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of printing a link to set it")
		base = linkBaseFlag(fs, getenv)
	case "reset-password":
		base = linkBaseFlag(fs, getenv)
	}
	name, args := leadingArg(args)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if sub != "list" && name == "" {
		return fmt.Errorf("%w: serval user %s needs a username", errUsage, sub)
	}
	st, err := openStore(ctx, *database, *dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		return listUsers(ctx, st, stdout)
	case "create":
		if err := createUser(ctx, st, name, *admin, *passwordStdin, linkBase(*base, *dataDir, stderr), stdout); err != nil {
			return err
		}
		detail := "password link issued"
		if *passwordStdin {
			detail = "password from stdin"
		}
		auditCLI(ctx, st, getenv, stderr, store.AuditUserCreate, name, detail)
		return nil
	}
	u, err := st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %q (serval user list shows them)", name)
	}
	if err != nil {
		return err
	}
	switch sub {
	case "disable", "enable":
		if err := st.SetDisabled(ctx, u.ID, sub == "disable"); err != nil {
			return err
		}
		auditCLI(ctx, st, getenv, stderr, "user."+sub, u.Name, "")
		fmt.Fprintf(stdout, "User %q %sd.\n", u.Name, sub)
		if sub == "disable" {
			fmt.Fprintln(stdout, "Their sessions ended and their tokens are refused from the next request on.")
		}
	case "reset-password":
		code, err := st.CreateLink(ctx, store.LinkReset, u.ID, "", 0, 24*time.Hour)
		if err != nil {
			return err
		}
		auditCLI(ctx, st, getenv, stderr, store.AuditResetIssue, u.Name, "")
		fmt.Fprintf(stdout, "One-time link for %q to choose a new password (valid 24 hours):\n%s/reset?code=%s\n", u.Name, linkBase(*base, *dataDir, stderr), code)
	}
	return nil
}

// leadingArg takes a NAME given before the flags.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func listUsers(ctx context.Context, st *store.Store, stdout io.Writer) error {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		fmt.Fprintln(stdout, "no users (open the setup link serval serve prints, or `serval user create NAME`)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tCREATED")
	for _, u := range users {
		role, status := "user", "active"
		if u.IsAdmin {
			role = "admin"
		}
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, role, status, u.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return tw.Flush()
}

func createUser(ctx context.Context, st *store.Store, name string, admin, passwordStdin bool, base string, stdout io.Writer) error {
	if err := store.ValidateUsername(name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var password string
	if passwordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if err := account.ValidatePassword(name, password); err != nil {
			return err
		}
	} else {
		// Nobody knows this one: the user sets theirs with the printed link.
		secret, err := store.NewTokenSecret()
		if err != nil {
			return err
		}
		password = secret
	}
	hash, err := account.HashPassword(password)
	if err != nil {
		return err
	}
	n, err := st.CountUsers(ctx)
	if err != nil {
		return err
	}
	var u store.User
	if n == 0 {
		u, err = st.CreateFirstAdmin(ctx, name, hash)
	} else {
		u, err = st.CreateUser(ctx, name, hash, admin)
	}
	if err != nil {
		return err
	}
	role := "user"
	if u.IsAdmin {
		role = "admin"
	}
	fmt.Fprintf(stdout, "Created %s %q.\n", role, u.Name)
	if !passwordStdin {
		code, err := st.CreateLink(ctx, store.LinkReset, u.ID, "", 0, 24*time.Hour)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "They choose their password with this one-time link (valid 24 hours):\n%s/reset?code=%s\n", strings.TrimRight(base, "/"), code)
	}
	return nil
}

// runInvite implements `serval invite create`.
func runInvite(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("serval invite create", stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	note := fs.String("note", "", "who the invitation is for (shown to admins)")
	days := fs.Int("days", web.DefaultInviteDays, "days the link stays valid")
	base := linkBaseFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *days < 1 || *days > 365 {
		return fmt.Errorf("%w: --days must be 1 to 365", errUsage)
	}
	st, err := openStore(ctx, *database, *dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	code, err := st.CreateLink(ctx, store.LinkInvite, 0, *note, 0, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	auditCLI(ctx, st, getenv, stderr, store.AuditInviteCreate, *note, fmt.Sprintf("valid %d days", *days))
	fmt.Fprintf(stdout, "Invitation (one account, valid %d days); send this link:\n%s/register?invite=%s\n", *days, linkBase(*base, *dataDir, stderr), code)
	return nil
}
