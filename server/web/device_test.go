package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
)

// oauth posts an OAuth form as the agent does (no browser headers, no cookie).
func (h *harness) oauth(path string, form url.Values) (int, map[string]any, http.Header) {
	h.t.Helper()
	c := h.client()
	r := c.postWith(path, form, nil)
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		h.t.Fatalf("%s: %d, not JSON: %q", path, r.status, r.body)
	}
	return r.status, body, r.header
}

// startDevice asks for a device code and returns the answer.
func (h *harness) startDevice(device string) api.DeviceCodeResponse {
	h.t.Helper()
	status, body, _ := h.oauth("/oauth/device/code", url.Values{"client_id": {api.AgentClientID}, "device_name": {device}})
	if status != http.StatusOK {
		h.t.Fatalf("device code: %d %v", status, body)
	}
	b, _ := json.Marshal(body)
	var d api.DeviceCodeResponse
	json.Unmarshal(b, &d)
	return d
}

// poll asks for the token once and returns the status and the error code
// ("" on success) with the body.
func (h *harness) poll(deviceCode string) (int, string, map[string]any) {
	h.t.Helper()
	status, body, _ := h.oauth("/oauth/token", url.Values{"grant_type": {api.GrantTypeDeviceCode}, "device_code": {deviceCode}, "client_id": {api.AgentClientID}})
	code, _ := body["error"].(string)
	return status, code, body
}

// wantPoll polls after waiting out the interval and checks the outcome.
func (h *harness) wantPoll(deviceCode, want string) map[string]any {
	h.t.Helper()
	h.clock.add(time.Minute)
	status, code, body := h.poll(deviceCode)
	if code != want {
		h.t.Fatalf("poll: %d %v, want %q", status, body, want)
	}
	if want != "" && status != http.StatusBadRequest {
		h.t.Fatalf("poll %s: status %d, want 400", want, status)
	}
	return body
}

var userCodeRE = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceSignInApprovedOnce(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	status, body, hdr := h.oauth("/oauth/device/code", url.Values{"client_id": {api.AgentClientID}, "device_name": {"alice laptop (VS Code)"}})
	if status != http.StatusOK || hdr.Get("Cache-Control") != "no-store" || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("device code: %d %v %v", status, hdr, body)
	}
	var d api.DeviceCodeResponse
	b, _ := json.Marshal(body)
	json.Unmarshal(b, &d)
	if !userCodeRE.MatchString(d.UserCode) || len(d.DeviceCode) < 40 || d.ExpiresIn != 600 || d.Interval != 5 ||
		d.VerificationURI != h.ts.URL+"/device" || d.VerificationURIComplete != h.ts.URL+"/device?user_code="+d.UserCode {
		t.Fatalf("device code answer %+v", d)
	}

	// Nothing decided yet; the first poll is never too early.
	if status, code, _ := h.poll(d.DeviceCode); status != http.StatusBadRequest || code != api.OAuthPending {
		t.Fatalf("first poll: %d %q", status, code)
	}

	// The user types the code in lower case with spaces; the page names the device.
	typed := strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " "))
	r := admin.get("/device?user_code=" + url.QueryEscape(typed))
	if r.status != http.StatusOK {
		t.Fatalf("device page: %d %s", r.status, r.body)
	}
	mustContain(t, r.body, "alice laptop (VS Code)", d.UserCode, `value="approve"`, `value="deny"`)
	r = admin.post("/device", url.Values{"user_code": {typed}, "action": {"approve"}})
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	mustContain(t, r.body, "signed in as admin")

	tok := h.wantPoll(d.DeviceCode, "")
	secret, _ := tok["access_token"].(string)
	if tok["token_type"] != "Bearer" || !strings.HasPrefix(secret, store.TokenPrefix) || tok["token_name"] != "alice-laptop-(VS-Code)" {
		t.Fatalf("token answer %v", tok)
	}
	name, err := h.st.LookupToken(context.Background(), secret)
	if err != nil || name != "admin/alice-laptop-(VS-Code)" {
		t.Fatalf("the new token: %q, %v", name, err)
	}
	mustContain(t, admin.get("/").body, "alice-laptop-(VS-Code)")

	// Exactly once: a second exchange fails, and so does a second approval.
	h.wantPoll(d.DeviceCode, "invalid_grant")
	if r := admin.post("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}}); r.status != http.StatusNotFound {
		t.Fatalf("second approval: %d", r.status)
	}

	// The same device signing in again gets its token back with a new
	// secret: no second token, and the old secret stops working.
	before, _ := h.st.UserTokens(context.Background(), 0)
	d2 := h.startDevice("alice laptop (VS Code)")
	admin.post("/device", url.Values{"user_code": {d2.UserCode}, "action": {"approve"}})
	tok2 := h.wantPoll(d2.DeviceCode, "")
	secret2, _ := tok2["access_token"].(string)
	if tok2["token_name"] != "alice-laptop-(VS-Code)" || secret2 == secret {
		t.Fatalf("second sign-in of the device: %v", tok2)
	}
	if name, err := h.st.LookupToken(context.Background(), secret2); err != nil || name != "admin/alice-laptop-(VS-Code)" {
		t.Fatalf("the new secret: %q, %v", name, err)
	}
	if _, err := h.st.LookupToken(context.Background(), secret); err == nil {
		t.Fatal("the device's previous secret still works after signing in again")
	}
	if after, _ := h.st.UserTokens(context.Background(), 0); len(after) != len(before) {
		t.Fatalf("signing in again added a token: %d before, %d after", len(before), len(after))
	}
	// Another device still gets a token of its own.
	d3 := h.startDevice("alice desktop (Neovim)")
	admin.post("/device", url.Values{"user_code": {d3.UserCode}, "action": {"approve"}})
	if tok := h.wantPoll(d3.DeviceCode, ""); tok["token_name"] != "alice-desktop-(Neovim)" {
		t.Fatalf("another device: %v", tok)
	}
	if _, err := h.st.LookupToken(context.Background(), secret2); err != nil {
		t.Fatalf("another device's sign-in revoked this one's token: %v", err)
	}
}

// revoke posts to /oauth/revoke as the agent does.
func (h *harness) revoke(token, hint string) (int, map[string]any) {
	h.t.Helper()
	form := url.Values{"token": {token}, "client_id": {api.AgentClientID}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	status, body, hdr := h.oauth("/oauth/revoke", form)
	if hdr.Get("Cache-Control") != "no-store" {
		h.t.Fatalf("revoke answer is cacheable: %v", hdr)
	}
	return status, body
}

// TestDeviceSignInCancelledByTheEditor: the editor cancels a sign-in; the
// browser page says so instead of approving, and no token is issued, also
// when the user had approved before the editor cancelled.
func TestDeviceSignInCancelledByTheEditor(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	d := h.startDevice("vm (VS Code)")
	if status, body := h.revoke(d.DeviceCode, api.HintDeviceCode); status != http.StatusOK {
		t.Fatalf("cancel: %d %v", status, body)
	}
	r := admin.get("/device?user_code=" + url.QueryEscape(d.UserCode))
	if r.status != http.StatusGone {
		t.Fatalf("device page of a cancelled sign-in: %d %s", r.status, r.body)
	}
	mustContain(t, r.body, "cancelled")
	r = admin.post("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}})
	if r.status != http.StatusGone || strings.Contains(r.body, "Editor signed in") {
		t.Fatalf("approving a cancelled sign-in: %d %s", r.status, r.body)
	}
	mustContain(t, r.body, "cancelled")
	h.wantPoll(d.DeviceCode, "invalid_grant")

	// The page was open and the user approved; then the editor cancelled
	// before its next poll: no token for it.
	before, _ := h.st.UserTokens(context.Background(), 0)
	d2 := h.startDevice("vm (VS Code)")
	admin.post("/device", url.Values{"user_code": {d2.UserCode}, "action": {"approve"}})
	h.revoke(d2.DeviceCode, api.HintDeviceCode)
	h.wantPoll(d2.DeviceCode, "invalid_grant")
	if after, _ := h.st.UserTokens(context.Background(), 0); len(after) != len(before) {
		t.Fatalf("a cancelled sign-in made a token: %d before, %d after", len(before), len(after))
	}

	// Cancelling again, or a code nobody issued, is answered like a success (RFC 7009 §2.2).
	if status, _ := h.revoke(d.DeviceCode, api.HintDeviceCode); status != http.StatusOK {
		t.Fatalf("second cancel: %d", status)
	}
	if status, _ := h.revoke("not-a-code", api.HintDeviceCode); status != http.StatusOK {
		t.Fatalf("unknown code: %d", status)
	}
}

// TestSignOutRevokesTheToken: the token itself may revoke itself; it then
// gets 401; a server token is refused; bad requests are told why.
func TestSignOutRevokesTheToken(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	d := h.startDevice("vm (VS Code)")
	admin.post("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}})
	secret, _ := h.wantPoll(d.DeviceCode, "")["access_token"].(string)
	if _, err := h.st.LookupToken(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if status, body := h.revoke(secret, "access_token"); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if _, err := h.st.LookupToken(context.Background(), secret); err == nil {
		t.Fatal("the token still works after signing out")
	}
	mustContain(t, admin.get("/admin/audit").body, "token.revoke", "editor sign-out")
	if status, _ := h.revoke(secret, ""); status != http.StatusOK {
		t.Fatalf("revoking again: %d", status)
	}

	server, err := h.st.CreateToken(context.Background(), "ci")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := h.revoke(server, ""); status != http.StatusBadRequest || body["error"] != "unsupported_token_type" {
		t.Fatalf("revoking a server token: %d %v", status, body)
	}
	if _, err := h.st.LookupToken(context.Background(), server); err != nil {
		t.Fatalf("the server token was revoked: %v", err)
	}
	for _, form := range []url.Values{
		{"token": {server}},
		{"token": {server}, "client_id": {"someone"}},
		{"client_id": {api.AgentClientID}},
	} {
		if status, body, _ := h.oauth("/oauth/revoke", form); status/100 != 4 || body["error"] == "" {
			t.Fatalf("revoke %v: %d %v", form, status, body)
		}
	}
}

func TestDeviceSignInRefusals(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		code       string
	}{
		{"unknown client", "/oauth/device/code", url.Values{"client_id": {"evil"}}, 401, "invalid_client"},
		{"no client", "/oauth/device/code", url.Values{}, 401, "invalid_client"},
		{"long device name", "/oauth/device/code", url.Values{"client_id": {api.AgentClientID}, "device_name": {strings.Repeat("x", 65)}}, 400, "invalid_request"},
		{"control character", "/oauth/device/code", url.Values{"client_id": {api.AgentClientID}, "device_name": {"a\x00b"}}, 400, "invalid_request"},
		{"repeated field", "/oauth/device/code", url.Values{"client_id": {api.AgentClientID, api.AgentClientID}}, 400, "invalid_request"},
		{"grant type", "/oauth/token", url.Values{"grant_type": {"password"}, "client_id": {api.AgentClientID}, "device_code": {"x"}}, 400, "unsupported_grant_type"},
		{"token client", "/oauth/token", url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {"evil"}, "device_code": {"x"}}, 401, "invalid_client"},
		{"no device code", "/oauth/token", url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.AgentClientID}}, 400, "invalid_request"},
		{"unknown device code", "/oauth/token", url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.AgentClientID}, "device_code": {"' OR 1=1 --"}}, 400, "invalid_grant"},
	} {
		status, body, _ := h.oauth(tc.path, tc.form)
		if status != tc.status || body["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}
	// JSON bodies and a missing Content-Type are not forms.
	c := h.client()
	for _, ct := range []string{"", "application/json"} {
		req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/oauth/device/code", strings.NewReader(`{"client_id":"serval-agent"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if r := c.do(req); r.status != http.StatusBadRequest && r.status != http.StatusUnsupportedMediaType || !strings.Contains(r.body, "invalid_request") {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}

	// Polling faster than the interval: slow_down, and 5 s more each time.
	d := h.startDevice("box")
	h.poll(d.DeviceCode)
	h.clock.add(4 * time.Second)
	if _, code, _ := h.poll(d.DeviceCode); code != api.OAuthSlowDown {
		t.Fatalf("poll after 4 s: %q", code)
	}
	h.clock.add(6 * time.Second) // 6 s < the new 10 s
	if _, code, _ := h.poll(d.DeviceCode); code != api.OAuthSlowDown {
		t.Fatalf("poll 6 s after a slow_down: %q", code)
	}
	h.clock.add(15 * time.Second) // the interval is now 15 s
	if _, code, _ := h.poll(d.DeviceCode); code != api.OAuthPending {
		t.Fatalf("poll after the longer interval: %q", code)
	}

	// Denied.
	d = h.startDevice("box")
	if r := admin.post("/device", url.Values{"user_code": {d.UserCode}, "action": {"deny"}}); r.status != http.StatusOK || !strings.Contains(r.body, "denied") {
		t.Fatalf("deny: %d %s", r.status, r.body)
	}
	h.wantPoll(d.DeviceCode, api.OAuthAccessDenied)
	h.wantPoll(d.DeviceCode, api.OAuthAccessDenied)

	// Expired after 10 minutes: the poll says so and the page no longer knows the code.
	d = h.startDevice("box")
	h.clock.add(10 * time.Minute)
	if r := admin.get("/device?user_code=" + d.UserCode); r.status != http.StatusNotFound {
		t.Fatalf("expired code on the page: %d", r.status)
	}
	h.wantPoll(d.DeviceCode, api.OAuthExpired)

	// Approved by an account deactivated before the editor polled.
	bob := h.user(admin, "bob")
	d = h.startDevice("bob's box")
	if r := bob.post("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}}); r.status != http.StatusOK {
		t.Fatalf("bob approves: %d", r.status)
	}
	if r := admin.post("/users/bob/disable", nil); r.status != http.StatusSeeOther {
		t.Fatalf("disable bob: %d %s", r.status, r.body)
	}
	h.wantPoll(d.DeviceCode, api.OAuthAccessDenied)

	// The page: bad action, bad codes, a signed-out POST, a cross-site POST.
	d = h.startDevice("box")
	for _, tc := range []struct {
		form   url.Values
		status int
	}{
		{url.Values{"user_code": {d.UserCode}, "action": {"maybe"}}, 400},
		{url.Values{"user_code": {"BCDF-GHJ"}, "action": {"approve"}}, 404},
		{url.Values{"user_code": {"AEIO-UAEI"}, "action": {"approve"}}, 404},
		{url.Values{"user_code": {strings.Repeat("B", 40)}, "action": {"approve"}}, 400},
	} {
		if r := admin.post("/device", tc.form); r.status != tc.status {
			t.Errorf("POST /device %v: %d, want %d", tc.form, r.status, tc.status)
		}
	}
	if r := h.client().post("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}}); r.status != http.StatusUnauthorized {
		t.Errorf("signed-out approval: %d", r.status)
	}
	r := admin.postWith("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}},
		http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
	if r.status != http.StatusForbidden {
		t.Errorf("cross-site approval: %d", r.status)
	}
	h.wantPoll(d.DeviceCode, api.OAuthPending) // none of those approved it
}

func TestDevicePageThrottlesWrongCodes(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	d := h.startDevice("box")
	var last response
	for i := 0; i < 12; i++ {
		last = admin.get("/device?user_code=BBBB-BBB" + string(wrongCodeByte(i)))
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("12 wrong codes: %d %v", last.status, last.header)
	}
	// Even the right code waits now...
	if r := admin.get("/device?user_code=" + d.UserCode); r.status != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: %d", r.status)
	}
	// ...until the budget refilled.
	h.clock.add(time.Minute)
	if r := admin.get("/device?user_code=" + d.UserCode); r.status != http.StatusOK {
		t.Fatalf("right code after the wait: %d", r.status)
	}
}

// wrongCodeByte is a code character other than 'B' for the i-th wrong code.
func wrongCodeByte(i int) byte { return store.UserCodeAlphabet[1+i%(len(store.UserCodeAlphabet)-1)] }

func TestDevicePageAfterLoginAndEscaping(t *testing.T) {
	h := newHarness(t)
	h.admin()
	d := h.startDevice(`<script>alert(1)</script>`)

	// Signed out, the link from the editor goes through the login and back.
	c := h.client()
	r := c.get("/device?user_code=" + d.UserCode)
	want := "/login?next=" + url.QueryEscape("/device?user_code="+d.UserCode)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
		t.Fatalf("signed-out device page: %d %q, want %q", r.status, r.header.Get("Location"), want)
	}
	r = c.get(want)
	// Relative links: the page works under a proxy's path prefix (code-server's /proxy/PORT/).
	mustContain(t, r.body, `name="next" value="/device?user_code=`+d.UserCode+`"`, `action="./login"`, `href="./static/app.css"`)
	r = c.post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}, "next": {"/device?user_code=" + d.UserCode}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/device?user_code="+d.UserCode {
		t.Fatalf("login with next: %d %q", r.status, r.header.Get("Location"))
	}
	r = c.get("/device?user_code=" + d.UserCode)
	if strings.Contains(r.body, "<script>alert") || !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("device name not escaped:\n%s", r.body)
	}
	// The login is no open redirect.
	for _, next := range []string{"//evil.example/x", "/\\evil.example", "https://evil.example/", "device"} {
		r := h.client().post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}, "next": {next}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
			t.Errorf("login with next=%q went to %q", next, r.header.Get("Location"))
		}
	}
}

func TestDeviceTokenExchangedOnceUnderConcurrentPolls(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	d := h.startDevice("box")
	admin.post("/device", url.Values{"user_code": {d.UserCode}, "action": {"approve"}})
	const pollers = 8
	var wg sync.WaitGroup
	codes := make(chan string, pollers)
	for i := 0; i < pollers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, code, _ := h.poll(d.DeviceCode)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	tokens := 0
	for c := range codes {
		switch c {
		case "":
			tokens++
		case api.OAuthSlowDown, "invalid_grant":
		default:
			t.Errorf("poll answered %q", c)
		}
	}
	if tokens != 1 {
		t.Fatalf("%d polls got a token, want exactly 1", tokens)
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdfghjk": "BCDFGHJK", " bcdf ghjk ": "BCDFGHJK", "Bc-Df-Gh-Jk": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJKL": "", "ABCD-EFGH": "", "BCDF-GHJ1": "", "BCDF\u00a0GHJK": "", "": "",
	} {
		got, ok := normalizeUserCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("normalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestRelativeRoot(t *testing.T) {
	for path, want := range map[string]string{"/": "./", "/login": "./", "/device": "./", "/admin/users": "../", "/users/bob/disable": "../../"} {
		if got := relativeRoot(path); got != want {
			t.Errorf("relativeRoot(%q) = %q, want %q", path, got, want)
		}
	}
}
