package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/store"
)

func TestAdminPagesRefuseUsers(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	anon := h.client()
	for _, p := range []string{"/admin", "/admin/users", "/admin/tokens", "/admin/invitations", "/admin/system"} {
		if r := bob.get(p); r.status != http.StatusForbidden {
			t.Errorf("bob GET %s: %d, want 403", p, r.status)
		}
		if r := anon.get(p); r.status != http.StatusSeeOther {
			t.Errorf("signed out GET %s: %d, want 303 to /login", p, r.status)
		}
		if r := admin.get(p); r.status != 200 && r.status != http.StatusSeeOther {
			t.Errorf("admin GET %s: %d", p, r.status)
		}
	}
	for _, p := range []string{"/users/admin/disable", "/users/bob/admin", "/users/admin/reset", "/invitations", "/invitations/1/revoke"} {
		if r := bob.post(p, nil); r.status != http.StatusForbidden {
			t.Errorf("bob POST %s: %d, want 403", p, r.status)
		}
		if r := anon.post(p, nil); r.status != http.StatusUnauthorized {
			t.Errorf("signed out POST %s: %d, want 401", p, r.status)
		}
	}
	users, _ := h.st.ListUsers(context.Background())
	for _, u := range users {
		if u.Name == "bob" && (u.IsAdmin || u.Disabled) {
			t.Fatalf("bob changed: %+v", u)
		}
	}
}

func TestDeactivateEndsSessionsAndTokens(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	secret := bob.token("laptop")
	ctx := context.Background()
	if r := admin.post("/users/bob/disable", nil); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if _, err := h.st.LookupToken(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deactivated user's token: %v", err)
	}
	if r := bob.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("a deactivated user's session: %d", r.status)
	}
	// With the right password, bob learns why and whom to ask; with a wrong
	// one, nobody learns that the account exists or is deactivated.
	if r := h.client().post("/login", url.Values{"username": {"bob"}, "password": {"password of bob"}}); r.status != http.StatusForbidden || !strings.Contains(r.body, "deactivated: ask an admin") {
		t.Fatalf("a deactivated user's login: %d %s", r.status, r.body)
	}
	if r := h.client().post("/login", url.Values{"username": {"bob"}, "password": {"a wrong password"}}); r.status != http.StatusUnauthorized ||
		strings.Contains(r.body, "deactivated") || !strings.Contains(r.body, loginFailed) {
		t.Fatalf("a deactivated user's login with a wrong password: %d %s", r.status, r.body)
	}
	if r := admin.get("/admin/users"); !strings.Contains(r.body, "deactivated") {
		t.Fatal("users page does not show the deactivation")
	}
	if r := admin.post("/users/bob/enable", nil); r.status != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.status)
	}
	if name, err := h.st.LookupToken(ctx, secret); err != nil || name != "bob/laptop" {
		t.Fatalf("a reactivated user's token: %q, %v", name, err)
	}
	// Admin rights, and the guard on the last admin.
	if r := admin.post("/users/admin/disable", nil); r.status != http.StatusBadRequest {
		t.Fatalf("self-deactivation: %d", r.status)
	}
	if r := admin.post("/users/admin/unadmin", nil); r.status != http.StatusConflict {
		t.Fatalf("the last admin unadmins itself: %d", r.status)
	}
	if r := admin.post("/users/bob/admin", nil); r.status != http.StatusSeeOther {
		t.Fatalf("make admin: %d", r.status)
	}
	if r := bob.post("/login", url.Values{"username": {"bob"}, "password": {"password of bob"}}); r.status != http.StatusSeeOther {
		t.Fatalf("login after reactivation: %d", r.status)
	}
	if r := bob.get("/admin/users"); r.status != http.StatusOK {
		t.Fatalf("new admin: %d", r.status)
	}
	if r := admin.post("/users/bob/unadmin", nil); r.status != http.StatusSeeOther {
		t.Fatalf("unadmin: %d", r.status)
	}
	if r := admin.post("/users/nobody/disable", nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown user: %d", r.status)
	}
	if r := admin.post("/users/bob/explode", nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown action: %d", r.status)
	}
}

func TestSystemPage(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	r := admin.get("/admin/system")
	mustContain(t, r.body, "test-1.2.3", "tiny-test-model", "cpu", "1 / 2", "3 waiting", "gpu-box", "unhealthy", "connection refused", "Uptime")
}

func TestInvitationForm(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	for _, days := range []string{"0", "-1", "366", "seven"} {
		if r := admin.post("/invitations", url.Values{"days": {days}}); r.status != http.StatusBadRequest {
			t.Errorf("days=%s: %d", days, r.status)
		}
	}
	r := admin.submit("/invitations", url.Values{"days": {"2"}, "note": {"<b>new hire</b>"}})
	if r.status != 200 || strings.Contains(r.body, "<b>new hire</b>") {
		t.Fatalf("invitation: %d", r.status)
	}
	links, _ := h.st.ListLinks(context.Background())
	if len(links) != 1 || links[0].ExpiresAt.Sub(links[0].CreatedAt).Hours() != 48 {
		t.Fatalf("links = %+v", links)
	}
}
