package ldapauth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/slapdtest"
)

func config(url string) Config {
	return Config{
		URL: url, BindDN: slapdtest.ServiceDN, BindPasswordEnv: "LDAP_PW", BaseDN: slapdtest.Base,
		AllowedGroup: slapdtest.UsersGroup, AdminGroup: slapdtest.AdminsGroup,
	}
}

func env(k string) string {
	if k == "LDAP_PW" {
		return slapdtest.ServicePassword
	}
	return ""
}

func TestLDAPSignIn(t *testing.T) {
	srv := slapdtest.Start(t, true)
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		edit func(*Config)
	}{
		{"StartTLS", func(c *Config) { c.URL, c.StartTLS, c.CAFile = srv.URL, true, srv.CAFile }},
		{"LDAPS", func(c *Config) { c.URL, c.CAFile = srv.LDAPS, srv.CAFile }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			cfg := config("")
			mode.edit(&cfg)
			d, err := New(cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			ada, err := d.Authenticate(ctx, "ada", slapdtest.People["ada"])
			if err != nil || ada.Username != "ada" || ada.Email != "ada@example.com" || ada.Admin == nil || !*ada.Admin ||
				ada.Subject != "uid=ada,ou=people,"+slapdtest.Base || !strings.HasPrefix(ada.Issuer, "ldap") {
				t.Fatalf("ada = %+v, %v", ada, err)
			}
			bob, err := d.Authenticate(ctx, "BOB", slapdtest.People["bob"])
			if err != nil || bob.Admin == nil || *bob.Admin {
				t.Fatalf("bob = %+v, %v", bob, err)
			}
			if _, err := d.Authenticate(ctx, "bob", "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
			if _, err := d.Authenticate(ctx, "eve", slapdtest.People["eve"]); !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("eve outside the group: %v", err)
			}
			// Filter injections find nobody; an empty password is never an (anonymous) bind.
			for _, name := range []string{"*", "*)(uid=*", "ada)(|(uid=*", "*)(objectClass=*))(|(uid=*", "a*", "ada\x00", `\2a`, "(uid=ada)"} {
				for _, pw := range []string{slapdtest.People["ada"], "x"} {
					if id, err := d.Authenticate(ctx, name, pw); !errors.Is(err, ErrInvalidCredentials) {
						t.Errorf("username %q: %+v, %v; want refused", name, id, err)
					}
				}
			}
			if _, err := d.Authenticate(ctx, "ada", ""); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("empty password: %v", err)
			}
		})
	}
}

func TestLDAPRefusesWithoutTLS(t *testing.T) {
	plain := slapdtest.Start(t, false)
	tlsSrv := slapdtest.Start(t, true)
	ctx := context.Background()
	other := filepath.Join(t.TempDir(), "other-ca.pem")
	otherCA := slapdtest.Start(t, true).CAFile // a CA that did not sign tlsSrv's certificate
	b, _ := os.ReadFile(otherCA)
	os.WriteFile(other, b, 0o600)
	for _, tc := range []struct {
		name string
		cfg  Config
		says string
	}{
		{"server refuses StartTLS", func() Config { c := config(plain.URL); c.StartTLS = true; return c }(), "StartTLS"},
		{"LDAPS to a plain port", func() Config { c := config(strings.Replace(plain.URL, "ldap://", "ldaps://", 1)); return c }(), "connect"},
		{"certificate from another CA", func() Config { c := config(tlsSrv.LDAPS); c.CAFile = other; return c }(), "certificate"},
		{"wrong service password", func() Config {
			c := config(tlsSrv.LDAPS)
			c.CAFile, c.BindPasswordEnv = tlsSrv.CAFile, "NOPE"
			return c
		}(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.cfg, func(k string) string {
				if k == "NOPE" {
					return "not-the-service-password"
				}
				return env(k)
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Authenticate(ctx, "ada", slapdtest.People["ada"])
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%v; want ErrUnavailable saying %q", err, tc.says)
			}
			if strings.Contains(err.Error(), slapdtest.People["ada"]) || strings.Contains(err.Error(), slapdtest.ServicePassword) {
				t.Fatal("a password is in the error")
			}
		})
	}
	// Plain ldap:// is refused at start unless asked for.
	if _, err := New(config(plain.URL), env); err == nil || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("plain ldap:// accepted: %v", err)
	}
}

func FuzzUserFilter(f *testing.F) {
	f.Add("*)(uid=*")
	f.Add("ada")
	f.Fuzz(func(t *testing.T, name string) {
		got := strings.ReplaceAll(defaultUserFilter, "{username}", escape(name))
		// The typed name can add no filter syntax: parentheses, '*' and '\' are escaped.
		inner := strings.TrimSuffix(strings.TrimPrefix(got, "(&(objectClass=person)(uid="), "))")
		if strings.ContainsAny(inner, "()*") || strings.Count(got, "(") != 3 {
			t.Fatalf("name %q made filter %q", name, got)
		}
	})
}
