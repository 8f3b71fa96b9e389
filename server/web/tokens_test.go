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

func TestPersonalTokens(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	ctx := context.Background()

	secret := bob.token("laptop")
	name, err := h.st.LookupToken(ctx, secret)
	if err != nil || name != "bob/laptop" {
		t.Fatalf("lookup of the new token: %q, %v", name, err)
	}
	home := bob.get("/")
	if strings.Contains(home.body, secret) {
		t.Fatal("the token is shown again on the home page")
	}
	mustContain(t, home.body, ">laptop<", "Rotate", "Revoke", h.ts.URL, "serval.server.endpoint", "require('serval').setup", "agent.toml")
	// Each editor's snippet says how to sign in; Neovim's gives the agent's path.
	mustContain(t, home.body, "Serval: Sign In", ":ServalSignIn", "bin/serval-agent", "bin/ is on PATH")
	if strings.Contains(home.body, `os.getenv("SERVAL_TOKEN")`) {
		t.Error("the Neovim snippet passes a token that would win over :ServalSignIn's")
	}
	// The same name for another user is fine; for the same user it is not.
	admin.token("laptop")
	if r := bob.post("/tokens", url.Values{"name": {"laptop"}}); r.status != http.StatusConflict {
		t.Fatalf("duplicate token name: %d", r.status)
	}
	if r := bob.post("/tokens", url.Values{"name": {"has space"}}); r.status != http.StatusBadRequest {
		t.Fatalf("token name with a space: %d", r.status)
	}
	if r := bob.post("/tokens", url.Values{"name": {""}}); r.status != http.StatusBadRequest {
		t.Fatalf("empty token name: %d", r.status)
	}
	// <script> in a token name is inert text.
	xss := "<script>alert(1)</script>"
	if r := bob.submit("/tokens", url.Values{"name": {xss}}); r.status != 200 || strings.Contains(r.body, xss) || !strings.Contains(r.body, "&lt;script&gt;") {
		t.Fatalf("token named %s: %d, raw in page: %v", xss, r.status, strings.Contains(r.body, xss))
	}
	if r := admin.get("/admin/tokens"); strings.Contains(r.body, xss) || !strings.Contains(r.body, "&lt;script&gt;") {
		t.Fatal("script token name raw on the admin page")
	}

	tokens, _ := h.st.UserTokens(ctx, 0)
	ids := map[string]int64{}
	for _, tk := range tokens {
		ids[tk.FullName] = tk.ID
	}
	// Rotate: a new secret, shown once; the old one stops at once.
	r := bob.submit("/tokens/"+itoa(ids["bob/laptop"])+"/rotate", nil)
	if r.status != 200 {
		t.Fatalf("rotate: %d", r.status)
	}
	i := strings.Index(r.body, store.TokenPrefix)
	rotated := r.body[i : i+len(store.TokenPrefix)+32]
	if _, err := h.st.LookupToken(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old secret after rotate: %v", err)
	}
	if n, err := h.st.LookupToken(ctx, rotated); err != nil || n != "bob/laptop" {
		t.Fatalf("rotated secret: %q, %v", n, err)
	}
	// Someone else's token: 404 for a user; an admin may revoke any.
	if r := bob.post("/tokens/"+itoa(ids["admin/laptop"])+"/revoke", nil); r.status != http.StatusNotFound {
		t.Fatalf("bob revokes the admin's token: %d", r.status)
	}
	if r := bob.post("/tokens/"+itoa(ids["admin/laptop"])+"/rotate", nil); r.status != http.StatusNotFound {
		t.Fatalf("bob rotates the admin's token: %d", r.status)
	}
	if r := bob.post("/tokens/nope/revoke", nil); r.status != http.StatusNotFound {
		t.Fatalf("revoke of a bad id: %d", r.status)
	}
	if r := bob.post("/tokens/"+itoa(ids["bob/laptop"])+"/revoke", nil); r.status != http.StatusSeeOther {
		t.Fatalf("revoke own: %d", r.status)
	}
	if _, err := h.st.LookupToken(ctx, rotated); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
	if r := admin.post("/tokens/"+itoa(ids["bob/"+xss])+"/revoke?back=admin", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/tokens" {
		t.Fatalf("admin revokes bob's token: %d %v", r.status, r.header)
	}
	// Bob sees only his own tokens.
	mine := bob.get("/")
	if strings.Contains(mine.body, "admin") && strings.Contains(mine.body, ">laptop<") {
		t.Fatal("bob's home lists the admin's token")
	}
}

func TestTokenLastUsed(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	secret := admin.token("ci")
	if r := admin.get("/"); !strings.Contains(r.body, "never") {
		t.Fatal("a fresh token shows a last use")
	}
	if _, err := h.st.LookupToken(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	tokens, _ := h.st.UserTokens(context.Background(), 0)
	if tokens[0].LastUsedAt == nil {
		t.Fatal("last use not recorded")
	}
	if r := admin.get("/"); strings.Contains(r.body, "<td>never</td>") {
		t.Fatal("home shows never after a use")
	}
}
