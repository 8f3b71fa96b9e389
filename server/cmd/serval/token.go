package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/servalhq/serval/server/store"
)

// runToken implements `serval token create|list|revoke`.
func runToken(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: serval token create|list|revoke", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("serval token "+sub, stderr)
	dataDir := dataDirFlag(fs, getenv)
	database := databaseFlag(fs, getenv)
	var name, user *string
	maxTokens := new(int)
	switch sub {
	case "create":
		name = fs.String("name", "", "name of the new token (who or what uses it)")
		user = fs.String("user", "", "the account the token belongs to (its usage and revocation follow the account); none: a server token")
		maxTokens = fs.Int("max-tokens-per-user", store.DefaultMaxUserTokens, "with --user: refuse when the account already holds this many tokens")
	case "revoke":
		name = fs.String("name", "", "name of the token to revoke (or give it as the argument)")
	case "list":
	default:
		return fmt.Errorf("%w: unknown token command %q (want create, list or revoke)", errUsage, sub)
	}
	if sub == "revoke" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// `serval token revoke NAME [flags]`
		fs.Set("name", args[0])
		args = args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if sub == "revoke" && *name == "" && fs.NArg() == 1 {
		*name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if name != nil && *name == "" {
		return fmt.Errorf("%w: serval token %s needs a name (--name NAME)", errUsage, sub)
	}
	if sub == "create" && *maxTokens < 1 {
		return fmt.Errorf("%w: --max-tokens-per-user must be at least 1", errUsage)
	}

	st, err := openStore(ctx, *database, *dataDir, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "create":
		secret, err := createToken(ctx, st, *name, *user, *maxTokens)
		if err != nil {
			return err
		}
		auditCLI(ctx, st, getenv, stderr, store.AuditTokenCreate, tokenAuditName(*name, *user), "")
		fmt.Fprintf(stdout, "Created token %q. It is shown only this once; clients send it as 'Authorization: Bearer <token>':\n", *name)
		fmt.Fprintln(stdout, secret)
	case "list":
		tokens, err := st.ListTokens(ctx)
		if err != nil {
			return err
		}
		if len(tokens) == 0 {
			fmt.Fprintln(stdout, "no tokens (create one with `serval token create --name NAME`)")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED")
		for _, t := range tokens {
			fmt.Fprintf(tw, "%s\t%s\n", t.Name, t.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
		}
		return tw.Flush()
	case "revoke":
		if err := st.RevokeToken(ctx, *name); err != nil {
			return err
		}
		auditCLI(ctx, st, getenv, stderr, store.AuditTokenRevoke, *name, "")
		fmt.Fprintf(stdout, "Revoked token %q (running servers stop accepting it within a few seconds).\n", *name)
	}
	return nil
}

// createToken makes a server token, or with user a token of that account
// unless it holds maxTokens already.
func createToken(ctx context.Context, st *store.Store, name, user string, maxTokens int) (string, error) {
	if user == "" {
		return st.CreateToken(ctx, name)
	}
	u, err := st.UserByName(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("no user %q (serval user list shows them)", user)
	}
	if err != nil {
		return "", err
	}
	return st.CreateUserToken(ctx, u, name, maxTokens)
}

// tokenAuditName is the stored name of a token create made.
func tokenAuditName(name, user string) string {
	if user == "" {
		return name
	}
	return store.OwnedTokenName(user, name)
}
