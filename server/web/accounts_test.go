package web

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSetupNeedsThePrintedCodeAndRunsOnce(t *testing.T) {
	h := newHarness(t)
	if !strings.HasPrefix(h.setup, "setup: "+h.ts.URL+"/setup?code=") || strings.Count(h.setup, "\n") != 1 {
		t.Fatalf("setup line = %q", h.setup)
	}
	file := filepath.Join(h.dir, SetupURLFile)
	b, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(b)) != strings.TrimPrefix(strings.TrimSpace(h.setup), "setup: ") {
		t.Fatalf("setup-url = %q, %v", b, err)
	}
	if m := fileMode(t, file); m != 0o600 {
		t.Fatalf("setup-url mode %o, want 600", m)
	}
	c := h.client()
	// Before any account: the home page says where the link is.
	r := c.get("/")
	if r.status != http.StatusOK || !strings.Contains(r.body, "setup-url") {
		t.Fatalf("GET / before setup: %d %s", r.status, r.body)
	}
	code := h.setupCode()
	form := func(code, user, pass string) url.Values {
		return url.Values{"code": {code}, "username": {user}, "password": {pass}}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"wrong code", form("not-the-code", "admin", adminPassword), 403, "setup code is wrong"},
		{"no code", form("", "admin", adminPassword), 403, "setup code is wrong"},
		{"short password", form(code, "admin", "short"), 400, "at least 10"},
		{"password is the username", form(code, "administrator", "Administrator"), 400, "must not be the username"},
		{"bad username", form(code, "<script>alert(1)</script>", adminPassword), 400, "username may contain only"},
		{"SQL in username", form(code, "a'; DROP TABLE users;--", adminPassword), 400, "username may contain only"},
	} {
		r := c.post("/setup", tc.form)
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, r.status, tc.status, tc.want, r.body)
		}
		if strings.Contains(r.body, "<script>alert") {
			t.Errorf("%s: the username came back unescaped", tc.name)
		}
	}
	if r := c.get("/setup?code=wrong"); r.status != http.StatusForbidden {
		t.Fatalf("GET /setup with a wrong code: %d", r.status)
	}
	if r := c.get("/setup?code=" + code); r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("GET /setup with the code: %d", r.status)
	}
	r = c.post("/setup", form(code, "admin", adminPassword))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("setup: %d %v %s", r.status, r.header, r.body)
	}
	ck := r.header.Get("Set-Cookie")
	for _, attr := range []string{CookieName + "=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(ck, attr) {
			t.Errorf("cookie %q lacks %s", ck, attr)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("cookie over plain HTTP is Secure: %q", ck)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("setup-url still there after setup: %v", err)
	}
	home := c.get("/")
	if home.status != 200 || !strings.Contains(home.body, "Your tokens") || !strings.Contains(home.body, "/admin/users") {
		t.Fatalf("admin home: %d %s", home.status, home.body)
	}
	// The code is spent, and a second setup with any code is refused.
	other := h.client()
	for _, c2 := range []string{code, "not-the-code"} {
		if r := other.post("/setup", form(c2, "intruder", "intruder password")); r.status != http.StatusForbidden || !strings.Contains(r.body, "Setup is done") {
			t.Errorf("second setup with %q: %d %s", c2, r.status, r.body)
		}
	}
	if r := other.get("/setup?code=" + code); r.status != http.StatusForbidden {
		t.Errorf("GET /setup after setup: %d", r.status)
	}
	// A restart with accounts prints nothing and leaves no file.
	var out strings.Builder
	if err := h.srv.Start(t.Context(), h.ts.URL, &out); err != nil || out.Len() != 0 {
		t.Fatalf("Start with accounts: %q, %v", out.String(), err)
	}
}

func TestSecureCookieOverTLSOrTrustedProxy(t *testing.T) {
	h := newHarness(t)
	code := h.setupCode()
	h.srv.cfg.TrustedProxies = nil
	req := func(proto string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/login", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		r.Header.Set("X-Forwarded-Proto", proto)
		return r
	}
	if h.srv.overTLS(req("https")) {
		t.Fatal("X-Forwarded-Proto believed from an untrusted peer")
	}
	h.srv.cfg.TrustedProxies = mustPrefixes(t, "127.0.0.0/8")
	if !h.srv.overTLS(req("https")) || h.srv.overTLS(req("http")) {
		t.Fatal("X-Forwarded-Proto of a trusted proxy not believed")
	}
	c := h.client()
	r := c.postWith("/setup", url.Values{"code": {code}, "username": {"admin"}, "password": {adminPassword}},
		http.Header{"X-Forwarded-Proto": {"https"}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("setup behind a TLS proxy: %d cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
	// The throttle counts the address the proxy reports.
	r2, _ := http.NewRequest(http.MethodPost, "/", nil)
	r2.RemoteAddr = "127.0.0.1:1"
	r2.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	if got := h.srv.clientAddr(r2); got != "203.0.113.9" {
		t.Fatalf("client address = %q", got)
	}
}

func TestLoginLogoutAndSessions(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	c := h.client()
	if r := c.get("/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("signed-out home: %d %v", r.status, r.header)
	}
	// No enumeration: an unknown account and a wrong password read the same.
	wrong := c.post("/login", url.Values{"username": {"admin"}, "password": {"wrong password!"}})
	unknown := c.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password!"}})
	if wrong.status != 401 || unknown.status != 401 || !strings.Contains(wrong.body, loginFailed) || !strings.Contains(unknown.body, loginFailed) {
		t.Fatalf("failed logins: %d %d", wrong.status, unknown.status)
	}
	if a, b := strings.ReplaceAll(wrong.body, `value="admin"`, "X"), strings.ReplaceAll(unknown.body, `value="nobody"`, "X"); a != b {
		t.Fatalf("the pages of a wrong password and of an unknown account differ:\n%s\n%s", a, b)
	}
	// A fixated session id is replaced at login.
	u, _ := url.Parse(h.ts.URL)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: "attacker-chosen"}})
	r := c.post("/login", url.Values{"username": {"ADMIN"}, "password": {adminPassword}})
	if r.status != http.StatusSeeOther || c.cookie() == nil || c.cookie().Value == "attacker-chosen" {
		t.Fatalf("login: %d %v", r.status, c.cookie())
	}
	stolen := c.cookie().Value
	if r := c.get("/"); r.status != 200 {
		t.Fatalf("home after login: %d", r.status)
	}
	if r := c.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	// The old cookie, replayed, is refused: the session ended on the server.
	replay := h.client()
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: stolen}})
	if r := replay.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("replayed cookie after logout: GET / %d", r.status)
	}
	if r := replay.post("/tokens", url.Values{"name": {"x"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("replayed cookie after logout: POST /tokens %d", r.status)
	}
	if r := admin.get("/"); r.status != 200 {
		t.Fatalf("the admin's other session ended too: %d", r.status)
	}
}

func TestLoginThrottle(t *testing.T) {
	h := newHarness(t)
	h.admin()
	c := h.client()
	var last response
	statuses := map[int]int{}
	for range 20 {
		last = c.post("/login", url.Values{"username": {"admin"}, "password": {"wrong password!"}})
		statuses[last.status]++
	}
	if statuses[401] != accountBurst || statuses[429] != 20-accountBurst {
		t.Fatalf("20 wrong passwords: %v, want %d×401 then 429", statuses, accountBurst)
	}
	if ra := last.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("429 without Retry-After: %v", last.header)
	}
	// Throttled means throttled: the right password waits too.
	if r := c.post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d", r.status)
	}
	h.clock.add(accountRefill + time.Second)
	if r := c.post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("right password after the wait: %d", r.status)
	}
	// Per address: many accounts from one address.
	h.clock.add(time.Hour)
	for i := range addrBurst {
		c.post("/login", url.Values{"username": {"user" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, "password": {"wrong password!"}})
	}
	if r := c.post("/login", url.Values{"username": {"fresh"}, "password": {"wrong password!"}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("address over its budget: %d", r.status)
	}
}

func TestCrossOriginPostsRefused(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	for _, hdr := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
	} {
		for _, path := range []string{"/login", "/tokens", "/invitations", "/users/admin/disable", "/logout", "/setup", "/register"} {
			r := admin.postWith(path, url.Values{"name": {"x"}, "username": {"admin"}, "password": {adminPassword}}, hdr)
			if r.status != http.StatusForbidden {
				t.Errorf("cross-origin POST %s (%v): %d, want 403", path, hdr, r.status)
			}
		}
	}
	if tokens, err := h.st.UserTokens(t.Context(), 0); err != nil || len(tokens) != 0 {
		t.Fatalf("tokens after refused posts: %v, %v", tokens, err)
	}
	if r := admin.get("/"); r.status != 200 {
		t.Fatalf("after refused posts (logout refused too): %d", r.status)
	}
}

func TestRegisterWithInvitation(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	code := h.invite(admin)
	c := h.client()
	if r := c.get("/register?invite=" + code); r.status != 200 || !strings.Contains(r.body, code) {
		t.Fatalf("GET /register: %d", r.status)
	}
	if r := c.get("/register?invite=wrong"); r.status != http.StatusGone {
		t.Fatalf("GET /register with a wrong code: %d", r.status)
	}
	reg := func(code, user, pass string) response {
		return c.post("/register", url.Values{"invite": {code}, "username": {user}, "password": {pass}})
	}
	if r := reg(code, "admin", "some long password"); r.status != http.StatusConflict || !strings.Contains(r.body, "taken") {
		t.Fatalf("duplicate username: %d %s", r.status, r.body)
	}
	if r := reg(code, "Admin", "some long password"); r.status != http.StatusConflict {
		t.Fatalf("duplicate username in another case: %d", r.status)
	}
	if r := reg(code, "bob", "short"); r.status != http.StatusBadRequest {
		t.Fatalf("short password: %d", r.status)
	}
	// Refusals lose nothing: the invitation still works.
	if r := reg(code, "bob", "bob's long password"); r.status != http.StatusSeeOther {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := c.get("/"); r.status != 200 || !strings.Contains(r.body, ">bob<") {
		t.Fatalf("bob's home: %d", r.status)
	}
	other := h.client()
	if r := other.post("/register", url.Values{"invite": {code}, "username": {"carol"}, "password": {"carol's long password"}}); r.status != http.StatusGone {
		t.Fatalf("used invitation: %d", r.status)
	}
	// Expired.
	old := h.invite(admin)
	h.clock.add(DefaultInviteDays*24*time.Hour + time.Minute)
	if r := other.post("/register", url.Values{"invite": {old}, "username": {"carol"}, "password": {"carol's long password"}}); r.status != http.StatusGone {
		t.Fatalf("expired invitation: %d", r.status)
	}
	// Revoked.
	revoked := h.invite(admin)
	links, _ := h.st.ListLinks(t.Context())
	if r := admin.post("/invitations/"+itoa(links[0].ID)+"/revoke", nil); r.status != http.StatusSeeOther {
		t.Fatalf("revoke invitation: %d %s", r.status, r.body)
	}
	if r := other.post("/register", url.Values{"invite": {revoked}, "username": {"carol"}, "password": {"carol's long password"}}); r.status != http.StatusGone {
		t.Fatalf("revoked invitation: %d", r.status)
	}
	page := admin.get("/admin/invitations")
	mustContain(t, page.body, "used", "expired", "revoked", "for a colleague")
}

func TestChangePasswordAndResetLink(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	bob2 := h.client()
	if r := bob2.post("/login", url.Values{"username": {"bob"}, "password": {"password of bob"}}); r.status != http.StatusSeeOther {
		t.Fatalf("second login: %d", r.status)
	}
	if r := bob.post("/password", url.Values{"current": {"not it at all"}, "password": {"a new long password"}}); r.status != http.StatusBadRequest {
		t.Fatalf("wrong current password: %d", r.status)
	}
	if r := bob.post("/password", url.Values{"current": {"password of bob"}, "password": {"a new long password"}}); r.status != 200 {
		t.Fatalf("change password: %d %s", r.status, r.body)
	}
	if r := bob.get("/"); r.status != 200 {
		t.Fatal("the browser that changed the password was signed out")
	}
	if r := bob2.get("/"); r.status != http.StatusSeeOther {
		t.Fatal("the other browser stayed signed in after a password change")
	}
	// Reset link from the admin.
	r := admin.submit("/users/bob/reset", nil)
	_, rest, ok := strings.Cut(r.body, "/reset?code=")
	if r.status != 200 || !ok {
		t.Fatalf("reset link: %d %s", r.status, r.body)
	}
	code := rest[:strings.IndexAny(rest, "<\" ")]
	anon := h.client()
	if r := anon.get("/reset?code=" + code); r.status != 200 || !strings.Contains(r.body, "bob") {
		t.Fatalf("GET /reset: %d", r.status)
	}
	if r := anon.post("/reset", url.Values{"code": {code}, "password": {"bob"}}); r.status != http.StatusBadRequest {
		t.Fatalf("reset to a short password: %d", r.status)
	}
	if r := anon.post("/reset", url.Values{"code": {code}, "password": {"bob's reset password"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if r := bob.get("/"); r.status != http.StatusSeeOther {
		t.Fatal("sessions survived a password reset")
	}
	if r := h.client().post("/reset", url.Values{"code": {code}, "password": {"another long password"}}); r.status != http.StatusGone {
		t.Fatalf("reused reset link: %d", r.status)
	}
	if r := h.client().post("/login", url.Values{"username": {"bob"}, "password": {"bob's reset password"}}); r.status != http.StatusSeeOther {
		t.Fatalf("login with the reset password: %d", r.status)
	}
}

func TestLongAndHostileFields(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	long := strings.Repeat("a", 300)
	huge := strings.Repeat("b", 20000)
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/login", url.Values{"username": {long}, "password": {"x"}}},
		{"/login", url.Values{"username": {"admin"}, "password": {huge}}},
		{"/tokens", url.Values{"name": {long}}},
		{"/invitations", url.Values{"note": {long}}},
		{"/invitations", url.Values{"days": {"99999999999999999999"}}},
		{"/register", url.Values{"invite": {long}, "username": {"x"}, "password": {"y"}}},
		{"/password", url.Values{"current": {huge}, "password": {"y"}}},
		{"/tokens", url.Values{"name": {"a\x00b"}}},
		{"/tokens", url.Values{"name": {"one", "two"}}},
	} {
		r := admin.post(tc.path, tc.form)
		if r.status != http.StatusBadRequest {
			t.Errorf("POST %s with %.40v: %d, want 400", tc.path, tc.form, r.status)
		}
	}
	if r := admin.get("/setup?code=" + long); r.status != http.StatusBadRequest {
		t.Errorf("GET /setup with a long code: %d", r.status)
	}
	// SQL metacharacters are data.
	sql := `x'OR'1'='1;--"` + "`"
	r := admin.submit("/tokens", url.Values{"name": {sql}})
	if r.status != 200 {
		t.Fatalf("token named with SQL: %d %s", r.status, r.body)
	}
	if r := admin.submit("/invitations", url.Values{"note": {"'); DROP TABLE users; --"}}); r.status != 200 {
		t.Fatalf("note with SQL: %d", r.status)
	}
	if r := h.client().post("/login", url.Values{"username": {"admin' --"}, "password": {"' OR '1'='1"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("SQL in login: %d", r.status)
	}
	tokens, err := h.st.UserTokens(t.Context(), 0)
	if err != nil || len(tokens) != 1 || tokens[0].Name != sql {
		t.Fatalf("tokens = %+v, %v", tokens, err)
	}
	if n, err := h.st.CountUsers(t.Context()); err != nil || n != 1 {
		t.Fatalf("users = %d, %v", n, err)
	}
}

func TestForeignSessionCookieIgnored(t *testing.T) {
	h := newHarness(t)
	h.admin()
	c := h.client()
	u, _ := url.Parse(h.ts.URL)
	for _, v := range []string{"", "x", strings.Repeat("z", 500), "'; DROP TABLE sessions; --"} {
		c.c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: v}})
		if r := c.get("/usage"); r.status != http.StatusSeeOther {
			t.Errorf("cookie %.20q: %d", v, r.status)
		}
	}
}
