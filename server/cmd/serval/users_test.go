package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/account"
	"github.com/servalhq/serval/server/store"
)

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// The first account is an admin; its password is set through a link.
	out, _, err := runCmd(t, dir, "user", "create", "alice", "--url", "http://srv:9000/")
	if err != nil || !strings.Contains(out, `Created admin "alice"`) || !strings.Contains(out, "http://srv:9000/reset?code=") {
		t.Fatalf("user create: %q, %v", out, err)
	}
	stdin = strings.NewReader("bob's long password\n")
	out, _, err = runCmd(t, dir, "user", "create", "bob", "--password-stdin")
	if err != nil || !strings.Contains(out, `Created user "bob"`) || strings.Contains(out, "reset?code") {
		t.Fatalf("user create --password-stdin: %q, %v", out, err)
	}
	stdin = strings.NewReader("short\n")
	if _, _, err := runCmd(t, dir, "user", "create", "carol", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "at least 10") {
		t.Fatalf("short password: %v", err)
	}
	if _, _, err := runCmd(t, dir, "user", "create", "bob", "--password-stdin"); err == nil {
		t.Fatal("duplicate user created")
	}
	if _, _, err := runCmd(t, dir, "user", "create", "<script>"); !errors.Is(err, errUsage) {
		t.Fatalf("bad username: %v", err)
	}
	out, _, err = runCmd(t, dir, "token", "create", "--name", "laptop", "--user", "bob")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if name, err := st.LookupToken(ctx, secret); err != nil || name != "bob/laptop" {
		t.Fatalf("bob's token: %q, %v", name, err)
	}
	_, hash, _ := st.PasswordHash(ctx, "bob")
	if !account.CheckPassword(hash, "bob's long password") {
		t.Fatal("the stdin password is not bob's")
	}
	if _, _, err := runCmd(t, dir, "token", "create", "--name", "x", "--user", "nobody"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("token for an unknown user: %v", err)
	}
	if out, _, err = runCmd(t, dir, "user", "disable", "bob"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %q %v", out, err)
	}
	if _, err := st.LookupToken(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a disabled user's token: %v", err)
	}
	out, _, _ = runCmd(t, dir, "user", "list")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "admin") || !strings.Contains(out, "disabled") {
		t.Fatalf("user list:\n%s", out)
	}
	if _, _, err := runCmd(t, dir, "user", "disable", "alice"); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("disabling the last admin: %v", err)
	}
	if _, _, err = runCmd(t, dir, "user", "enable", "bob"); err != nil {
		t.Fatal(err)
	}
	if name, err := st.LookupToken(ctx, secret); err != nil || name != "bob/laptop" {
		t.Fatalf("re-enabled: %q, %v", name, err)
	}
	out, _, err = runCmd(t, dir, "user", "reset-password", "bob")
	if err != nil || !strings.Contains(out, "http://localhost:8080/reset?code=") {
		t.Fatalf("reset-password: %q %v", out, err)
	}
	code := out[strings.Index(out, "code=")+5:]
	if _, err := st.CheckLink(ctx, store.LinkReset, strings.TrimSpace(code)); err != nil {
		t.Fatalf("printed reset code: %v", err)
	}
	if _, _, err := runCmd(t, dir, "user", "disable", "nobody"); err == nil {
		t.Fatal("disable of an unknown user")
	}
	out, _, err = runCmd(t, dir, "invite", "create", "--note", "dave", "--days", "3")
	if err != nil || !strings.Contains(out, "/register?invite=") {
		t.Fatalf("invite create: %q %v", out, err)
	}
	code = out[strings.Index(out, "invite=")+7:]
	if _, err := st.CheckLink(ctx, store.LinkInvite, strings.TrimSpace(code)); err != nil {
		t.Fatalf("printed invitation: %v", err)
	}
	if _, _, err := runCmd(t, dir, "invite", "create", "--days", "0"); !errors.Is(err, errUsage) {
		t.Fatalf("--days 0: %v", err)
	}
}
