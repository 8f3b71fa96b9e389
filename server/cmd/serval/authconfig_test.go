package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/backend"
)

func TestLoadSignInRefusesWhatCannotWork(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	noEnv := func(string) string { return "" }
	for _, tc := range []struct{ toml, says string }{
		{"[auth]\npassword = false\n", "nobody could sign in"},
		{"[auth]\npasswrd = true\n", "unknown keys auth.passwrd"},
		{"[[auth.oidc]]\nname = \"kc\"\nissuer = \"http://sso.example.com/realms/x\"\nclient_id = \"serval\"\n", "must be an https URL"},
		{"[[auth.oidc]]\nname = \"kc\"\nissuer = \"https://127.0.0.1:1/realms/x\"\nclient_id = \"serval\"\nclient_secret_env = \"KC_SECRET\"\n", "$KC_SECRET is not set"},
		{"[[auth.oidc]]\nname = \"kc\"\nissuer = \"https://127.0.0.1:1/x\"\nclient_id = \"serval\"\nclient_secret_file = \"/nonexistent\"\n", "client_secret_file"},
		{"[auth.ldap]\nurl = \"ldap://ldap.example.com\"\nbase_dn = \"dc=example,dc=com\"\n", "in clear"},
		{"[auth.ldap]\nurl = \"ldaps://ldap.example.com\"\nbase_dn = \"dc=x\"\nbind_dn = \"cn=svc,dc=x\"\n", "bind_dn needs a password"},
		{"[auth.ldap]\nurl = \"ldaps://ldap.example.com\"\nbase_dn = \"dc=x\"\nca_file = \"/nonexistent.pem\"\n", "ca_file"},
	} {
		path := filepath.Join(dir, "serval.toml")
		if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadSignIn(ctx, path, noEnv, log)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want an error saying %q", tc.toml, err, tc.says)
		}
		// The engines' part of the same file ignores [auth].
		if _, err := backend.LoadFile(path); err != nil {
			t.Errorf("backend.LoadFile of %q: %v", tc.toml, err)
		}
	}
	// A provider that is only unreachable now does not stop the start.
	path := filepath.Join(dir, "ok.toml")
	os.WriteFile(path, []byte("[auth]\npassword = false\n[[auth.oidc]]\nname = \"kc\"\ndisplay_name = \"Keycloak\"\nissuer = \"http://127.0.0.1:1/realms/x\"\nclient_id = \"serval\"\n"), 0o600)
	s, err := loadSignIn(ctx, path, noEnv, log)
	if err != nil || len(s.providers) != 1 || !s.passwordDisabled {
		t.Fatalf("unreachable provider: %+v, %v", s, err)
	}
	if d := s.describe(); !strings.Contains(d, "password sign-in off") || !strings.Contains(d, "oidc kc") {
		t.Errorf("describe = %q", d)
	}
}

// TestServeStopsOnAMisconfiguredProvider: serval serve itself refuses to
// start, before it loads a model, naming the setting.
func TestServeStopsOnAMisconfiguredProvider(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "serval.toml")
	os.WriteFile(path, []byte("[[auth.oidc]]\nname = \"kc\"\nissuer = \"https://127.0.0.1:1/realms/x\"\nclient_id = \"serval\"\nclient_secret_env = \"SERVAL_TEST_MISSING_SECRET\"\n"), 0o600)
	_, _, err := runCmd(t, dir, "serve", "--config", path, "--port", "0", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "auth.oidc[0]") || !strings.Contains(err.Error(), "SERVAL_TEST_MISSING_SECRET") {
		t.Fatalf("serve with a missing client secret: %v", err)
	}
}
