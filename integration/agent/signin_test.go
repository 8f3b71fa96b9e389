package agent_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/agent"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/lsp"
)

// TestSignInFromTheEditor: an agent without a token signs in through the
// device flow of the real server, the test approving in the "browser" like
// a user, then passes the token back as the editor does and gets ghost text.
func TestSignInFromTheEditor(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "24"}})
	user := srv.SetupAdmin("alice", "a long enough password")

	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL)
	a.initialize(map[string]any{"completion": map[string]any{"debounce": map[string]any{"mode": "fixed", "interval": 10}}})
	a.waitStatus("unauthorized", 30*time.Second)

	// The editor runs the sign-in command; the agent reports the code.
	var result agent.SignInResult
	_, wait := a.c.CallAsync(bounded(t, 3*time.Minute), "workspace/executeCommand",
		map[string]any{"command": lsp.CommandSignIn, "arguments": []any{map[string]any{"deviceName": "test laptop"}}}, &result)
	msg, err := a.c.WaitFor(bounded(t, 30*time.Second), lsp.MethodServalSignIn, 0, nil)
	if err != nil {
		t.Fatalf("no %s notification: %v", lsp.MethodServalSignIn, err)
	}
	var prompt agent.SignInPrompt
	json.Unmarshal(msg.Params, &prompt)
	if prompt.UserCode == "" || prompt.VerificationURI != srv.URL+"/device" || prompt.ExpiresIn != 600 {
		t.Fatalf("prompt %+v", prompt)
	}

	// The user opens the link, sees the device, approves.
	status, page := user.Do(http.MethodGet, prompt.VerificationURIComplete, nil)
	if status != http.StatusOK || !strings.Contains(page, "test laptop") || !strings.Contains(page, prompt.UserCode) {
		t.Fatalf("device page: %d\n%s", status, page)
	}
	user.Approve(prompt.UserCode)
	if err := wait(); err != nil {
		t.Fatalf("sign-in command: %v\n%s", err, a.c.Stderr())
	}
	if !strings.HasPrefix(result.Token, "srv_") || result.TokenName != "test-laptop" || result.User != "alice" || result.Endpoint != srv.URL {
		t.Fatalf("sign-in result %+v", result)
	}
	if strings.Contains(a.c.Stderr(), result.Token) || strings.Contains(srv.Logs(), result.Token) {
		t.Fatal("the token appears in a log")
	}

	// The editor keeps the token and passes it back as its setting.
	a.c.Notify(bounded(t, 5*time.Second), "workspace/didChangeConfiguration",
		map[string]any{"settings": map[string]any{"serval": map[string]any{"server": map[string]any{"token": result.Token}}}})
	a.waitStatus("ready", 30*time.Second)

	uri := "file://" + filepath.Join(t.TempDir(), "main.py")
	a.open(uri, "python", "import os\n\ndef total(items):\n    ")
	before := metric(t, srv, completionsMetric)
	pos := protocol.Position{Line: 3, Character: 4}
	var items int
	for attempt, version := 0, 2; attempt < 8 && items == 0; attempt, version = attempt+1, version+1 {
		items = len(a.inline(uri, pos, 1).Items)
		if items == 0 { // random weights: some positions are filtered away
			a.insert(uri, version, pos, "x")
			pos.Character++
		}
	}
	if waitMetric(t, srv, completionsMetric, before+1) <= before {
		t.Fatal("no completion request was answered 200 with the signed-in token")
	}
	if items == 0 {
		t.Fatal("no ghost text came back after signing in")
	}
}

// TestSignInDeniedAndCancelled: a denial ends the command with an error,
// and $/cancelRequest stops a sign-in nobody approves.
func TestSignInDeniedAndCancelled(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	user := srv.SetupAdmin("alice", "a long enough password")
	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL)
	a.initialize(nil)

	var result agent.SignInResult
	_, wait := a.c.CallAsync(bounded(t, 3*time.Minute), "workspace/executeCommand", map[string]any{"command": lsp.CommandSignIn}, &result)
	msg, err := a.c.WaitFor(bounded(t, 30*time.Second), lsp.MethodServalSignIn, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var prompt agent.SignInPrompt
	json.Unmarshal(msg.Params, &prompt)
	if status, _ := user.Do(http.MethodPost, "/device", url.Values{"user_code": {prompt.UserCode}, "action": {"deny"}}); status != http.StatusOK {
		t.Fatalf("deny: %d", status)
	}
	if err := wait(); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("denied sign-in answered %v (%+v)", err, result)
	}

	id, wait := a.c.CallAsync(bounded(t, 3*time.Minute), "workspace/executeCommand", map[string]any{"command": lsp.CommandSignIn}, &result)
	if _, err := a.c.WaitFor(bounded(t, 30*time.Second), lsp.MethodServalSignIn, 1, nil); err != nil {
		t.Fatal(err)
	}
	msg, err = a.c.WaitFor(bounded(t, 30*time.Second), lsp.MethodServalSignIn, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(msg.Params, &prompt)
	a.c.Notify(bounded(t, 5*time.Second), "$/cancelRequest", map[string]any{"id": id})
	if err := wait(); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("cancelled sign-in answered %v", err)
	}
	// The agent told the server: the browser page says the editor cancelled
	// it, and approving it signs nothing in.
	var page string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, page = user.Do(http.MethodGet, prompt.VerificationURIComplete, nil); strings.Contains(page, "cancelled in the editor") {
			break
		}
	}
	if !strings.Contains(page, "cancelled in the editor") {
		t.Fatalf("the device page after Cancel in the editor:\n%s", page)
	}
	status, page := user.Do(http.MethodPost, "/device", url.Values{"user_code": {prompt.UserCode}, "action": {"approve"}})
	if status != http.StatusGone || strings.Contains(page, "Editor signed in") {
		t.Fatalf("approving a sign-in cancelled in the editor: %d\n%s", status, page)
	}
}

// TestSignInAgainAndSignOut: a second sign-in of the same device replaces
// its token (the old one gets 401, no second token appears), and signing
// out revokes the token on the server.
func TestSignInAgainAndSignOut(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{})
	user := srv.SetupAdmin("alice", "a long enough password")
	a := startAgent(t, "SERVAL_ENDPOINT="+srv.URL)
	a.initialize(nil)

	signIn := func(n int) agent.SignInResult {
		t.Helper()
		var result agent.SignInResult
		_, wait := a.c.CallAsync(bounded(t, 3*time.Minute), "workspace/executeCommand",
			map[string]any{"command": lsp.CommandSignIn, "arguments": []any{map[string]any{"deviceName": "vm (Neovim)"}}}, &result)
		msg, err := a.c.WaitFor(bounded(t, 30*time.Second), lsp.MethodServalSignIn, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		var prompt agent.SignInPrompt
		json.Unmarshal(msg.Params, &prompt)
		user.Approve(prompt.UserCode)
		if err := wait(); err != nil {
			t.Fatalf("sign-in %d: %v", n+1, err)
		}
		return result
	}
	health := func(token string) int {
		t.Helper()
		req, _ := httpNewRequest(srv.URL+"/v1/health", token)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	first := signIn(0)
	second := signIn(1)
	if first.TokenName != "vm-(Neovim)" || second.TokenName != "vm-(Neovim)" || first.Token == second.Token {
		t.Fatalf("signing in twice from one device: %q then %q", first.TokenName, second.TokenName)
	}
	if code := health(first.Token); code != http.StatusUnauthorized {
		t.Fatalf("the device's previous token after signing in again: %d, want 401", code)
	}
	if _, page := user.Do(http.MethodGet, "/", nil); !strings.Contains(page, "vm-(Neovim)") || strings.Contains(page, "vm-(Neovim)-2") {
		t.Fatalf("the tokens page after two sign-ins of one device:\n%s", page)
	}

	// The editor passes the token in; signing out revokes it on the server.
	a.c.Notify(bounded(t, 5*time.Second), "workspace/didChangeConfiguration",
		map[string]any{"settings": map[string]any{"serval": map[string]any{"server": map[string]any{"token": second.Token}}}})
	a.waitStatus("ready", 30*time.Second)
	var out lsp.SignOutResult
	if err := a.c.Call(bounded(t, 30*time.Second), "workspace/executeCommand", map[string]any{"command": lsp.CommandSignOut}, &out); err != nil || !out.Revoked {
		t.Fatalf("sign-out: %+v %v", out, err)
	}
	if code := health(second.Token); code != http.StatusUnauthorized {
		t.Fatalf("the token after signing out: %d, want 401", code)
	}
	if strings.Contains(a.c.Stderr(), second.Token) || strings.Contains(srv.Logs(), second.Token) {
		t.Fatal("the token appears in a log")
	}
}
