package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/oidctest"
	"github.com/servalhq/serval/server/oidc"
	"github.com/servalhq/serval/server/store"
)

// oidcHarness is the web app with one OpenID provider, "idp", served by a
// testProvider.
func oidcHarness(t *testing.T, edit func(*oidc.Config), configure func(*Config)) (*harness, *oidctest.Provider) {
	t.Helper()
	p := oidctest.Start(t)
	cfg := oidc.Config{Name: "idp", DisplayName: "Test IdP", Issuer: p.Issuer(), ClientID: oidctest.ClientID,
		ClientSecretEnv: "IDP_SECRET", AdminGroup: "serval-admins"}
	if edit != nil {
		edit(&cfg)
	}
	prov, err := oidc.New(context.Background(), cfg, oidc.Options{Timeout: time.Second, Getenv: func(k string) string {
		if k == "IDP_SECRET" {
			return oidctest.ClientSecret
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *Config) {
		c.OIDC = []*oidc.Provider{prov}
		if configure != nil {
			configure(c)
		}
	})
	return h, p
}

// ssoSignIn follows a sign-in at the provider from GET /auth/oidc/idp to
// the answer of Serval's callback.
func (c *client) ssoSignIn(next string) response {
	c.h.t.Helper()
	start := c.get("/auth/oidc/idp?next=" + url.QueryEscape(next))
	if start.status != http.StatusSeeOther {
		return start
	}
	at := start.header.Get("Location")
	for i := 0; i < 3; i++ { // provider → callback; bounded
		req, _ := http.NewRequest(http.MethodGet, at, nil)
		r := c.do(req)
		loc := r.header.Get("Location")
		if r.status != http.StatusFound || !strings.HasPrefix(loc, c.h.ts.URL) {
			return r
		}
		req, _ = http.NewRequest(http.MethodGet, loc, nil)
		return c.do(req)
	}
	c.h.t.Fatal("sign-in did not come back")
	return response{}
}

func TestOIDCSignIn(t *testing.T) {
	h, p := oidcHarness(t, nil, nil)
	admin := h.admin()
	login := h.client().get("/login")
	mustContain(t, login.body, "Sign in with Test IdP", `href="./auth/oidc/idp"`, `name="password"`)

	// First sign-in: the account is made just in time, as admin by group.
	p.SignIn(oidctest.User{Subject: "u-1", Email: "ada@corp.example", Name: "ada", Verified: true, Groups: []string{"dev", "serval-admins"}})
	ada := h.client()
	r := ada.ssoSignIn("/usage")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/usage" {
		t.Fatalf("sign-in: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	u, err := h.st.UserByName(context.Background(), "ada")
	if err != nil || !u.IsAdmin {
		t.Fatalf("ada = %+v, %v", u, err)
	}
	if home := ada.get("/"); home.status != http.StatusOK || !strings.Contains(home.body, "ada") {
		t.Fatalf("home after sign-in: %d", home.status)
	}
	// She leaves the admin group and changes her email: same account, no longer admin.
	p.SignIn(oidctest.User{Subject: "u-1", Email: "ada.l@corp.example", Name: "ada.l", Verified: true, Groups: []string{"dev"}})
	if r := h.client().ssoSignIn("/"); r.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d %s", r.status, r.body)
	}
	if u2, _ := h.st.UserByName(context.Background(), "ada"); u2.ID != u.ID || u2.IsAdmin {
		t.Fatalf("after the group change: %+v", u2)
	}
	if n, _ := h.st.CountUsers(context.Background()); n != 2 {
		t.Fatalf("%d accounts, want 2 (admin, ada)", n)
	}
	// Another subject with ada's old email gets its own account, never hers.
	p.SignIn(oidctest.User{Subject: "u-2", Email: "ada@corp.example", Name: "ada", Verified: true})
	if r := h.client().ssoSignIn("/"); r.status != http.StatusSeeOther {
		t.Fatalf("other subject: %d %s", r.status, r.body)
	}
	if _, err := h.st.UserByName(context.Background(), "ada-2"); err != nil {
		t.Fatalf("the second subject's account: %v", err)
	}
	// Deactivated in Serval stays out.
	if r := admin.post("/users/ada/disable", nil); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.status)
	}
	p.SignIn(oidctest.User{Subject: "u-1", Email: "ada@corp.example", Name: "ada", Verified: true})
	if r := h.client().ssoSignIn("/"); r.status != http.StatusForbidden || !strings.Contains(r.body, "deactivated") {
		t.Fatalf("deactivated account: %d %s", r.status, r.body)
	}
	_, lines := h.auditLog()
	log := strings.Join(lines, "\n")
	for _, want := range []string{
		"oidc:idp user.create ada success", "ada sign-in  success", "oidc:idp user.unadmin ada success", "ada sign-in  failure",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, oidctest.ClientSecret) {
		t.Error("the client secret is in the audit log")
	}
}

// TestOIDCDeviceSignIn: an editor's sign-in link goes through the provider
// and comes back to the code.
func TestOIDCDeviceSignIn(t *testing.T) {
	h, p := oidcHarness(t, nil, func(c *Config) { c.PasswordDisabled = true })
	h.admin()
	dc := h.client().postWith("/oauth/device/code", url.Values{"client_id": {"serval-agent"}, "device_name": {"laptop vim"}}, nil)
	_, rest, _ := strings.Cut(dc.body, `"user_code":"`)
	userCode := rest[:9]
	browser := h.client()
	page := browser.get("/device?user_code=" + userCode)
	if page.status != http.StatusSeeOther {
		t.Fatalf("device page signed out: %d", page.status)
	}
	next, _ := url.Parse(page.header.Get("Location"))
	login := browser.get(next.RequestURI())
	if strings.Contains(login.body, `name="password"`) {
		t.Error("password form shown with password sign-in off")
	}
	p.SignIn(oidctest.User{Subject: "dev-1", Email: "dev@corp.example", Name: "dev", Verified: true})
	r := browser.ssoSignIn(next.Query().Get("next"))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/device?user_code=") {
		t.Fatalf("sign-in: %d %q", r.status, r.header.Get("Location"))
	}
	if r := browser.post("/device", url.Values{"user_code": {userCode}, "action": {"approve"}}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	// Password sign-in is off: even a right password is refused.
	if r := h.client().post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}}); r.status != http.StatusForbidden {
		t.Fatalf("password login with password sign-in off: %d", r.status)
	}
}

func TestOIDCRefusals(t *testing.T) {
	h, p := oidcHarness(t, func(c *oidc.Config) { c.RequireVerifiedEmail = true; c.AllowedGroups = []string{"dev"} }, nil)
	h.admin()
	good := oidctest.User{Subject: "u-9", Email: "bob@corp.example", Name: "bob", Verified: true, Groups: []string{"dev"}}
	for _, tc := range []struct {
		name   string
		user   oidctest.User
		tamper func(map[string]any)
		status int
		says   string
	}{
		{"wrong audience", good, func(c map[string]any) { c["aud"] = "another-client" }, http.StatusUnauthorized, "could not be verified"},
		{"expired ID token", good, func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		}, http.StatusUnauthorized, "could not be verified"},
		{"replayed nonce", good, func(c map[string]any) { c["nonce"] = "a-nonce-of-an-earlier-sign-in" }, http.StatusUnauthorized, "could not be verified"},
		{"another issuer", good, func(c map[string]any) { c["iss"] = "https://evil.example" }, http.StatusUnauthorized, "could not be verified"},
		{"unverified email", oidctest.User{Subject: "u-8", Email: "eve@corp.example", Name: "eve", Verified: false, Groups: []string{"dev"}}, nil, http.StatusForbidden, "not verified"},
		{"outside the allowed groups", oidctest.User{Subject: "u-7", Email: "mal@corp.example", Name: "mal", Verified: true, Groups: []string{"sales"}}, nil, http.StatusForbidden, "allowed group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.SignIn(tc.user)
			p.SetTamper(tc.tamper)
			defer p.SetTamper(nil)
			r := h.client().ssoSignIn("/")
			if r.status != tc.status || !strings.Contains(r.body, tc.says) {
				t.Fatalf("%d %q, want %d saying %q", r.status, r.body, tc.status, tc.says)
			}
			if strings.Contains(strings.ToLower(r.header.Get("Set-Cookie")), CookieName+"=") && !strings.Contains(r.header.Get("Set-Cookie"), CookieName+"=;") {
				t.Fatal("a refused sign-in set a session")
			}
		})
	}
	if n, _ := h.st.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d accounts after refusals, want 1", n)
	}

	// State mismatch: a callback planted in another browser (no state cookie), or a forged state.
	p.SignIn(good)
	victim, attacker := h.client(), h.client()
	start := attacker.get("/auth/oidc/idp")
	req, _ := http.NewRequest(http.MethodGet, start.header.Get("Location"), nil)
	callback := attacker.do(req).header.Get("Location")
	req, _ = http.NewRequest(http.MethodGet, callback, nil)
	if r := victim.do(req); r.status != http.StatusBadRequest || !strings.Contains(r.body, "not started in this browser") {
		t.Fatalf("planted callback: %d %s", r.status, r.body)
	}
	forged := strings.Replace(callback, "state=", "state=x", 1)
	req, _ = http.NewRequest(http.MethodGet, forged, nil)
	if r := attacker.do(req); r.status != http.StatusBadRequest {
		t.Fatalf("forged state: %d", r.status)
	}
	// The real callback, replayed after use: the state is gone.
	c := h.client()
	start = c.get("/auth/oidc/idp")
	req, _ = http.NewRequest(http.MethodGet, start.header.Get("Location"), nil)
	callback = c.do(req).header.Get("Location")
	cookie := c.c.Jar.Cookies(mustURL(t, h.ts.URL+"/auth/oidc/"))
	req, _ = http.NewRequest(http.MethodGet, callback, nil)
	if r := c.do(req); r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	replay := h.client()
	replay.c.Jar.SetCookies(mustURL(t, h.ts.URL+"/auth/oidc/"), cookie)
	req, _ = http.NewRequest(http.MethodGet, callback, nil)
	if r := replay.do(req); r.status != http.StatusBadRequest || !strings.Contains(r.body, "already used") {
		t.Fatalf("replayed callback: %d %s", r.status, r.body)
	}
	events, err := h.st.AuditEvents(context.Background(), store.AuditFilter{Action: store.AuditSignIn, Outcome: store.AuditOutcomeFailure, All: true})
	if err != nil || len(events) < 8 {
		t.Fatalf("%d failed sign-ins audited, %v", len(events), err)
	}
}

func TestOIDCProviderDownOrSlow(t *testing.T) {
	h, p := oidcHarness(t, nil, nil)
	h.admin()
	// Slow at the code exchange: past the timeout, the page says so.
	p.SignIn(oidctest.User{Subject: "s-1", Email: "s@corp.example", Name: "s", Verified: true})
	c := h.client()
	start := c.get("/auth/oidc/idp")
	req, _ := http.NewRequest(http.MethodGet, start.header.Get("Location"), nil)
	callback := c.do(req).header.Get("Location")
	p.SetDelay(3 * time.Second) // the harness's provider times out after 1 s
	req, _ = http.NewRequest(http.MethodGet, callback, nil)
	if r := c.do(req); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "not answering") {
		t.Fatalf("slow provider: %d %s", r.status, r.body)
	}
	// Down: the login page's button gets a page saying so.
	p.Server.CloseClientConnections()
	p.Server.Close()
	r := h.client().get("/auth/oidc/idp")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "not answering") || !strings.Contains(r.body, "username and password") {
		t.Fatalf("provider down: %d %s", r.status, r.body)
	}
	// Password sign-in still works.
	if r := h.client().post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("password login with the provider down: %d", r.status)
	}
	// Down when the server starts: not a startup error; sign-in says so.
	prov, err := oidc.New(context.Background(), oidc.Config{Name: "late", Issuer: p.Issuer(), ClientID: oidctest.ClientID}, oidc.Options{Timeout: time.Second})
	if prov == nil || !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("provider down at start: %v, %v", prov, err)
	}
	if _, _, err := prov.Start(context.Background(), "http://x/cb"); !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("start with the provider down: %v", err)
	}
}

func TestOIDCStartupErrors(t *testing.T) {
	p := oidctest.Start(t)
	ctx := context.Background()
	env := func(string) string { return "" }
	for _, tc := range []struct {
		cfg  oidc.Config
		says string
	}{
		{oidc.Config{Name: "x", Issuer: "http://idp.example", ClientID: "c"}, "https URL"},
		{oidc.Config{Name: "Bad Name", Issuer: p.Issuer(), ClientID: "c"}, "name"},
		{oidc.Config{Name: "x", Issuer: p.Issuer(), ClientID: "c", ClientSecretEnv: "NOPE"}, "$NOPE is not set"},
		{oidc.Config{Name: "x", Issuer: p.Issuer(), ClientID: "c", ClientSecretFile: "/nonexistent/secret"}, "client_secret_file"},
		{oidc.Config{Name: "x", Issuer: p.Issuer() + "/wrong", ClientID: "c"}, "check issuer"},
	} {
		_, err := oidc.New(ctx, tc.cfg, oidc.Options{Getenv: env})
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: %v, want an error saying %q", tc.cfg, err, tc.says)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOIDCGroupsFromUserinfo: a provider that sends groups only at its
// userinfo endpoint: the admin group and the allowed groups still apply,
// and a userinfo answer about another subject is refused.
func TestOIDCGroupsFromUserinfo(t *testing.T) {
	h, p := oidcHarness(t, func(c *oidc.Config) { c.AllowedGroups = []string{"dev"} }, nil)
	h.admin()
	p.SetGroupsAtUserinfoOnly(true)

	p.SignIn(oidctest.User{Subject: "ui-1", Email: "ana@corp.example", Name: "ana", Verified: true, Groups: []string{"dev", "serval-admins"}})
	if r := h.client().ssoSignIn("/"); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in with groups at userinfo: %d %s", r.status, r.body)
	}
	if u, err := h.st.UserByName(context.Background(), "ana"); err != nil || !u.IsAdmin {
		t.Fatalf("ana = %+v, %v: the admin group at userinfo was not applied", u, err)
	}
	p.SignIn(oidctest.User{Subject: "ui-2", Email: "sam@corp.example", Name: "sam", Verified: true, Groups: []string{"sales"}})
	if r := h.client().ssoSignIn("/"); r.status != http.StatusForbidden || !strings.Contains(r.body, "allowed group") {
		t.Fatalf("outside the allowed groups at userinfo: %d %s", r.status, r.body)
	}
	p.SignIn(oidctest.User{Subject: "ui-3", Email: "tim@corp.example", Name: "tim", Verified: true, Groups: []string{"dev"}})
	p.SetUserinfoTamper(func(c map[string]any) { c["sub"] = "someone-else" })
	if r := h.client().ssoSignIn("/"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "could not be verified") {
		t.Fatalf("userinfo about another subject: %d %s", r.status, r.body)
	}
	if _, err := h.st.UserByName(context.Background(), "tim"); err == nil {
		t.Fatal("an account was made from another subject's userinfo")
	}
}

// TestOIDCWrongClientSecret: the provider refuses the code exchange: the
// page says to start again or tell an admin (502), the log says
// invalid_client, and neither carries the secret.
func TestOIDCWrongClientSecret(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	const wrong = "not-the-provider-secret-456"
	os.WriteFile(secretFile, []byte(wrong+"\n"), 0o600)
	var logs strings.Builder
	var mu sync.Mutex
	h, p := oidcHarness(t, func(c *oidc.Config) { c.ClientSecretEnv, c.ClientSecretFile = "", secretFile }, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	})
	h.admin()
	p.SignIn(oidctest.User{Subject: "w-1", Email: "w@corp.example", Name: "w", Verified: true})
	r := h.client().ssoSignIn("/")
	mu.Lock()
	log := logs.String()
	mu.Unlock()
	if r.status != http.StatusBadGateway || !strings.Contains(r.body, "refused the sign-in") {
		t.Fatalf("wrong client secret: %d %s", r.status, r.body)
	}
	if !strings.Contains(log, "invalid_client") || strings.Contains(log, wrong) || strings.Contains(r.body, wrong) {
		t.Fatalf("the log should name invalid_client and never the secret:\n%s", log)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
