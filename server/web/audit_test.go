package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/store"
)

// auditLog returns the whole log, oldest first, as "actor action target outcome" lines.
func (h *harness) auditLog() ([]store.AuditEvent, []string) {
	h.t.Helper()
	events, err := h.st.AuditEvents(context.Background(), store.AuditFilter{All: true})
	if err != nil {
		h.t.Fatal(err)
	}
	var lines []string
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		lines = append(lines, strings.Join([]string{e.Actor, e.Action, e.Target, e.Outcome}, " "))
	}
	return events, lines
}

func TestAuditRecordsSecurityEvents(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	secret := bob.token("laptop")
	tokens, _ := h.st.UserTokens(context.Background(), 0)
	var bobToken int64
	for _, tk := range tokens {
		if tk.FullName == "bob/laptop" {
			bobToken = tk.ID
		}
	}
	if r := bob.post("/tokens/"+strconv.FormatInt(bobToken, 10)+"/rotate", nil); r.status != http.StatusSeeOther {
		t.Fatalf("rotate: %d", r.status)
	}
	if r := bob.post("/tokens/"+strconv.FormatInt(bobToken, 10)+"/revoke", nil); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	for _, action := range []string{"admin", "unadmin", "disable", "enable"} {
		if r := admin.post("/users/bob/"+action, nil); r.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", action, r.status, r.body)
		}
	}
	if r := admin.post("/users/admin/unadmin", nil); r.status != http.StatusConflict {
		t.Fatalf("unadmin the last admin: %d", r.status)
	}
	reset := admin.post("/users/bob/reset", nil)
	if reset.status == http.StatusSeeOther { // the link is shown on the page the post redirects to
		reset = admin.get(reset.header.Get("Location"))
	}
	_, rest, _ := strings.Cut(reset.body, "/reset?code=")
	resetCode := rest[:strings.IndexAny(rest, "<\" ")]
	anon := h.client()
	if r := anon.post("/reset", url.Values{"code": {resetCode}, "password": {"a brand new password"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	wrong := h.client()
	if r := wrong.post("/login", url.Values{"username": {"bob"}, "password": {"not the password"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.status)
	}
	wrong.post("/login", url.Values{"username": {"*)(uid=*"}, "password": {"x"}})
	if r := wrong.post("/login", url.Values{"username": {"bob"}, "password": {"a brand new password"}}); r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	wrong.post("/logout", nil)

	events, lines := h.auditLog()
	want := []string{
		"admin user.create admin success",
		"admin invitation.create for a colleague success",
		"bob invitation.use bob success",
		"bob user.create bob success",
		"bob token.create bob/laptop success",
		"bob token.rotate laptop success",
		"bob token.revoke token id " + strconv.FormatInt(bobToken, 10) + " success",
		"admin user.admin bob success",
		"admin user.unadmin bob success",
		"admin user.disable bob success",
		"admin user.enable bob success",
		"admin user.unadmin admin failure",
		"admin reset-link.issue bob success",
		"bob reset-link.use bob success",
		"bob sign-in  failure",
		"*)(uid=* sign-in  failure",
		"bob sign-in  success",
		"bob sign-out  success",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range events {
		if e.Address != "127.0.0.1" {
			t.Errorf("%s: address %q", e.Action, e.Address)
		}
		all := e.Actor + e.Target + e.Detail
		for _, s := range []string{secret, resetCode, "a brand new password", "not the password", adminPassword} {
			if strings.Contains(all, s) {
				t.Errorf("%s holds a secret: %+v", e.Action, e)
			}
		}
	}
	if d := events[3].Detail; d != "method password: wrong password" { // the failed sign-in of bob, newest first
		t.Errorf("failed sign-in detail = %q", d)
	}
}

func TestAuditPage(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	for i := 0; i < store.DefaultAuditPageSize+5; i++ {
		h.client().post("/login", url.Values{"username": {"mallory"}, "password": {"guess " + strconv.Itoa(i)}})
		h.clock.add(0)
	}
	if r := bob.get("/admin/audit"); r.status != http.StatusForbidden {
		t.Fatalf("a non-admin got the audit page: %d", r.status)
	}
	first := admin.get("/admin/audit?actor=mallory&outcome=failure")
	if first.status != http.StatusOK || strings.Count(first.body, `<td class="name">mallory</td>`) != store.DefaultAuditPageSize {
		t.Fatalf("first page: %d, %d rows", first.status, strings.Count(first.body, `<td class="name">mallory</td>`))
	}
	_, rest, ok := strings.Cut(first.body, `<a href="/admin/audit?`)
	if !ok {
		t.Fatal("no link to older events")
	}
	next := "/admin/audit?" + strings.ReplaceAll(rest[:strings.IndexByte(rest, '"')], "&amp;", "&")
	second := admin.get(next)
	if n := strings.Count(second.body, `<td class="name">mallory</td>`); second.status != http.StatusOK || n < 5 || strings.Contains(second.body, `rel="next"`) && n != store.DefaultAuditPageSize {
		t.Fatalf("second page: %d, %d rows", second.status, n)
	}
	users := admin.get("/admin/audit?action=user.")
	mustContain(t, users.body, "<td>user.create</td>", "<td>bob</td>")
	if strings.Contains(users.body, "<td>sign-in</td>") {
		t.Error("the user. filter shows sign-ins")
	}
	for _, bad := range []string{"since=yesterday", "before=-1", "outcome=" + strings.Repeat("x", 40)} {
		if r := admin.get("/admin/audit?" + bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, r.status)
		}
	}
	if r := admin.get("/admin/audit?since=1d"); r.status != http.StatusOK || !strings.Contains(r.body, "mallory") {
		t.Errorf("since=1d: %d", r.status)
	}
	h.clock.add(48 * 60 * 60 * 1e9)
	if r := admin.get("/admin/audit?since=1d&actor=mallory"); strings.Contains(r.body, `<td class="name">mallory</td>`) {
		t.Error("since=1d shows events of two days ago")
	}
}

func TestParseAge(t *testing.T) {
	for in, ok := range map[string]bool{"30d": true, "12h": true, "90m": true, "0d": false, "-1h": false, "d": false, "1y": false, "": false, "99999999d": false} {
		if _, err := ParseAge(in); (err == nil) != ok {
			t.Errorf("ParseAge(%q) err = %v", in, err)
		}
	}
}
