package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/servalhq/serval/server/backend"
	"github.com/servalhq/serval/server/ldapauth"
	"github.com/servalhq/serval/server/oidc"
)

// authFile is the [auth] table of `serval serve --config FILE`: how people
// sign in to the web app (docs/web.md, "Single sign-on").
//
//	[auth]
//	password = false                  # local-account passwords; default true
//	[[auth.oidc]]
//	name = "keycloak"
//	display_name = "Keycloak"
//	issuer = "https://sso.example.com/realms/dev"
//	client_id = "serval"
//	client_secret_env = "SERVAL_OIDC_SECRET"
//	admin_group = "serval-admins"
//	[auth.ldap]
//	url = "ldaps://ldap.example.com"
//	...
type authFile struct {
	Auth struct {
		Password *bool            `toml:"password"`
		OIDC     []oidc.Config    `toml:"oidc"`
		LDAP     *ldapauth.Config `toml:"ldap"`
	} `toml:"auth"`
}

// signIn is what serve wires into the web app.
type signIn struct {
	providers        []*oidc.Provider
	ldap             *ldapauth.Directory
	passwordDisabled bool
}

// loadSignIn reads the [auth] table of path ("" : passwords only), checks
// every setting and runs each provider's discovery: a setting that cannot
// work stops the start with what to fix; a provider that is only
// unreachable now is logged and retried at sign-in.
func loadSignIn(ctx context.Context, path string, getenv env, log *slog.Logger) (*signIn, error) {
	out := &signIn{}
	if path == "" {
		return out, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --config: %v", errUsage, err)
	}
	var f authFile
	meta, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("%w: --config %s: %v", errUsage, path, err)
	}
	var unknown []string
	for _, k := range meta.Undecoded() {
		if len(k) > 0 && k[0] == backend.OtherSection {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: --config %s: unknown keys %s (docs/web.md lists the [auth] settings)", errUsage, path, strings.Join(unknown, ", "))
	}
	seen := map[string]bool{}
	for i, c := range f.Auth.OIDC {
		at := fmt.Sprintf("--config %s: auth.oidc[%d]", path, i)
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: provider name %q used twice", at, c.Name)
		}
		seen[c.Name] = true
		p, err := oidc.New(ctx, c, oidc.Options{Getenv: getenv})
		if errors.Is(err, oidc.ErrUnavailable) && p != nil {
			log.Warn("sign-in provider unreachable at start; sign-ins will retry", "provider", c.Name, "err", err)
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		out.providers = append(out.providers, p)
	}
	if f.Auth.LDAP != nil {
		d, err := ldapauth.New(*f.Auth.LDAP, getenv)
		if err != nil {
			return nil, fmt.Errorf("--config %s: auth.ldap: %w", path, err)
		}
		out.ldap = d
	}
	out.passwordDisabled = f.Auth.Password != nil && !*f.Auth.Password
	if out.passwordDisabled && len(out.providers) == 0 && out.ldap == nil {
		return nil, fmt.Errorf("--config %s: auth.password = false needs an [[auth.oidc]] provider or [auth.ldap]: nobody could sign in", path)
	}
	return out, nil
}

// describe is the start's audit detail and log line: the sign-in methods, never a secret.
func (s *signIn) describe() string {
	parts := []string{"password sign-in on"}
	if s.passwordDisabled {
		parts[0] = "password sign-in off"
	}
	for _, p := range s.providers {
		c := p.Config()
		parts = append(parts, fmt.Sprintf("oidc %s (%s, admin group %q)", c.Name, c.Issuer, c.AdminGroup))
	}
	if s.ldap != nil {
		parts = append(parts, "ldap "+strings.TrimPrefix(s.ldap.Issuer(), "ldap:"))
	}
	return strings.Join(parts, ", ")
}

// printSignIn says at start how people sign in.
func printSignIn(w io.Writer, s *signIn) {
	fmt.Fprintf(w, "serval: web sign-in: %s\n", s.describe())
}
