package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/slapdtest"
	"github.com/servalhq/serval/server/ldapauth"
)

func TestLDAPLogin(t *testing.T) {
	srv := slapdtest.Start(t, true)
	dir, err := ldapauth.New(ldapauth.Config{
		URL: srv.URL, StartTLS: true, CAFile: srv.CAFile, BindDN: slapdtest.ServiceDN, BindPasswordEnv: "PW", BaseDN: slapdtest.Base,
		AllowedGroup: slapdtest.UsersGroup, AdminGroup: slapdtest.AdminsGroup,
	}, func(string) string { return slapdtest.ServicePassword })
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *Config) { c.LDAP = dir })
	h.admin()
	login := func(name, pw string) response {
		return h.client().post("/login", url.Values{"username": {name}, "password": {pw}, "next": {"/usage"}})
	}
	if r := login("ada", slapdtest.People["ada"]); r.status != http.StatusSeeOther || r.header.Get("Location") != "/usage" {
		t.Fatalf("ada: %d %s", r.status, r.body)
	}
	ada, err := h.st.UserByName(context.Background(), "ada")
	if err != nil || !ada.IsAdmin {
		t.Fatalf("ada's account = %+v, %v", ada, err)
	}
	if r := login("ada", slapdtest.People["ada"]); r.status != http.StatusSeeOther {
		t.Fatalf("ada again: %d", r.status)
	}
	if n, _ := h.st.CountUsers(context.Background()); n != 2 {
		t.Fatalf("%d accounts, want admin and ada", n)
	}
	if r := login("bob", "wrong password"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, loginFailed) {
		t.Fatalf("wrong password: %d", r.status)
	}
	if r := login("eve", slapdtest.People["eve"]); r.status != http.StatusForbidden || !strings.Contains(r.body, "not in the group") {
		t.Fatalf("eve: %d %s", r.status, r.body)
	}
	if r := login("*)(uid=*", slapdtest.People["ada"]); r.status != http.StatusUnauthorized {
		t.Fatalf("injection: %d", r.status)
	}
	// The local admin still signs in with a local password.
	if r := login("admin", adminPassword); r.status != http.StatusSeeOther {
		t.Fatalf("local admin: %d", r.status)
	}
	_, lines := h.auditLog()
	log := strings.Join(lines, "\n")
	for _, want := range []string{"ldap user.create ada success", "ada sign-in  success", "eve sign-in  failure", "*)(uid=* sign-in  failure"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %q:\n%s", want, log)
		}
	}
	for _, pw := range slapdtest.People {
		if strings.Contains(log, pw) {
			t.Fatal("a password is in the audit log")
		}
	}
}
