// Package replicas tests any number of `serval serve` processes on one
// PostgreSQL as one instance, through the real binaries: shared setup,
// sessions, links and device codes, revocation on the next request, rate
// limits across replicas, usage counting every replica's events, and (in
// failover_test.go) HAProxy in front of replicas that are killed, and a
// PostgreSQL that restarts under load.
package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// startReplicas starts n `serval serve` on the PostgreSQL database at dbURL,
// each with its own data directory (the first one's initial token copied to
// the others, as an operator would hand it out), with extra flags.
func startReplicas(t *testing.T, dbURL string, n int, extra ...string) []*servaltest.Server {
	t.Helper()
	args := append([]string{"--database", dbURL}, extra...)
	first := servaltest.Start(t, servaltest.Options{Args: args})
	replicas := []*servaltest.Server{first}
	token, err := os.ReadFile(filepath.Join(first.DataDir, "initial-token"))
	if err != nil {
		t.Fatal(err)
	}
	for range n - 1 {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "initial-token"), token, 0o600); err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, servaltest.Start(t, servaltest.Options{Args: args, DataDir: dir, Model: first.ModelPath}))
	}
	return replicas
}

var setupLine = regexp.MustCompile(`setup: (http://\S+/setup\?code=(\S+))`)

// setupCode is the code of the setup link replica printed.
func setupCode(t *testing.T, s *servaltest.Server) string {
	t.Helper()
	m := setupLine.FindStringSubmatch(s.Logs())
	if m == nil {
		t.Fatalf("no setup link printed:\n%s", s.Logs())
	}
	return m[2]
}

// browser is a cookie-keeping client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// moveCookies gives the cookies c holds for from to to as well (one browser
// whose requests the load balancer sends to another replica).
func moveCookies(t *testing.T, c *http.Client, from, to string) {
	f, _ := url.Parse(from)
	tu, _ := url.Parse(to)
	c.Jar.SetCookies(tu, c.Jar.Cookies(f))
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t *testing.T, c *http.Client, u string, v url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// apiStatus sends a request with the bearer token and returns the status.
func apiStatus(t testing.TB, method, u, token string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// servalCLI runs the serval binary (a command of the operator's, against
// the same database).
func servalCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, servaltest.Binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "SERVAL_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("serval %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var secretRe = regexp.MustCompile(`srv_[A-Za-z0-9]{32}`)

func TestReplicasAreOneInstance(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	rs := startReplicas(t, dbURL, 2, "--rate-limit", "60", "--rate-burst", "8")
	a, b := rs[0], rs[1]

	// First-run setup: A's code works on B; two setups at once, one on
	// each replica with its own code, make one admin.
	codeA, codeB := setupCode(t, a), setupCode(t, b)
	if code, _ := get(t, browser(t), b.URL+"/setup?code="+url.QueryEscape(codeA)); code != 200 {
		t.Fatalf("replica A's setup code on replica B: %d", code)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	browsers := []*http.Client{browser(t), browser(t)}
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := []string{codeA, codeB}[i]
			statuses[i], _ = postForm(t, browsers[i], r.URL+"/setup", url.Values{
				"code": {code}, "username": {fmt.Sprintf("admin%d", i)}, "password": {"correct horse battery"}})
		}()
	}
	wg.Wait()
	won := -1
	for i, s := range statuses {
		if s == http.StatusSeeOther {
			if won >= 0 {
				t.Fatalf("two setups won: %v", statuses)
			}
			won = i
		}
	}
	if won < 0 {
		t.Fatalf("no setup won: %v", statuses)
	}
	if out := servalCLI(t, "", "user", "list", "--database", dbURL); strings.Count(out, "admin0")+strings.Count(out, "admin1") != 1 {
		t.Fatalf("users after two concurrent setups:\n%s", out)
	}

	// The admin's session, made on one replica, works on the other.
	admin := browsers[won]
	moveCookies(t, admin, rs[won].URL, rs[1-won].URL)
	if code, body := get(t, admin, rs[1-won].URL+"/admin/users"); code != 200 || !strings.Contains(body, fmt.Sprintf("admin%d", won)) {
		t.Fatalf("session on the other replica: %d", code)
	}

	// An invitation made on A registers an account on B.
	code, body := postForm(t, admin, a.URL+"/invitations", url.Values{"note": {"bob"}, "days": {"1"}})
	if code != 200 && code != http.StatusSeeOther {
		t.Fatalf("invitation: %d %s", code, body)
	}
	inviteRe := regexp.MustCompile(`invite=([A-Za-z0-9_-]+)`)
	invite := inviteRe.FindStringSubmatch(body)
	if invite == nil {
		// The form redirects (303) to the page that shows the link once.
		_, body = get(t, admin, a.URL+"/admin/invitations")
		if invite = inviteRe.FindStringSubmatch(body); invite == nil {
			t.Fatalf("no invitation link shown:\n%s", body)
		}
	}
	bob := browser(t)
	if code, body := postForm(t, bob, b.URL+"/register", url.Values{"invite": {invite[1]}, "username": {"bob"}, "password": {"bob's long password"}}); code != http.StatusSeeOther {
		t.Fatalf("register on B with A's invitation: %d %s", code, body)
	}

	// A device code asked for on A, approved on B, gives a token on A.
	code, body = postForm(t, http.DefaultClient, a.URL+"/oauth/device/code", url.Values{"client_id": {api.AgentClientID}, "device_name": {"laptop"}})
	if code != 200 {
		t.Fatalf("device code: %d %s", code, body)
	}
	var dc struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	json.Unmarshal([]byte(body), &dc)
	moveCookies(t, bob, b.URL, a.URL)
	if code, body := postForm(t, bob, b.URL+"/device", url.Values{"user_code": {dc.UserCode}, "action": {"approve"}}); code >= 400 {
		t.Fatalf("approve on B: %d %s", code, body)
	}
	code, body = postForm(t, http.DefaultClient, a.URL+"/oauth/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc.DeviceCode}, "client_id": {api.AgentClientID}})
	bobToken := secretRe.FindString(body)
	if code != 200 || bobToken == "" {
		t.Fatalf("device token on A: %d %s", code, body)
	}

	// Usage: events through both replicas all count, on either's pages.
	for i, r := range rs {
		for j := range 3 {
			ev := api.LogEventRequest{Type: "view", CompletionID: fmt.Sprintf("cmpl-%d-%d", i, j), Language: "go"}
			if code, body := apiStatus(t, "POST", r.URL+"/v1/events", bobToken, ev); code != 200 {
				t.Fatalf("event on replica %d: %d %s", i, code, body)
			}
		}
	}
	st, err := store.OpenPostgres(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	totals, err := st.Totals(context.Background(), "bob", time.Now().AddDate(0, 0, -1))
	if err != nil || len(totals.Languages) != 1 || totals.Languages[0].Shown != 6 {
		t.Fatalf("bob's usage = %+v, %v; want 6 shown from two replicas", totals.Languages, err)
	}
	for _, r := range rs {
		if code, body := get(t, bob, r.URL+"/usage?days=1"); code != 200 || !strings.Contains(body, "6") {
			t.Fatalf("usage page: %d", code)
		}
	}

	// Per-token rate limit (burst 8) across replicas: alternating between
	// them, the ninth request is refused.
	rlToken := secretRe.FindString(servalCLI(t, "", "token", "create", "--name", "ratelimited", "--database", dbURL))
	allowed := 0
	for i := range 14 {
		if code, _ := apiStatus(t, "GET", rs[i%2].URL+"/v1/health", rlToken, nil); code == 200 {
			allowed++
		} else if code != http.StatusTooManyRequests {
			t.Fatalf("health: %d", code)
		}
	}
	if allowed < 8 || allowed > 10 { // 8, or more when the 1/s refill landed during the loop
		t.Fatalf("%d of 14 requests allowed over two replicas with a burst of 8", allowed)
	}

	// Revocation on one side is refused on the very next request on both.
	token := a.Token
	if code, _ := apiStatus(t, "GET", b.URL+"/v1/health", token, nil); code != 200 {
		t.Fatalf("initial token on B: %d", code)
	}
	servalCLI(t, "", "token", "revoke", "initial", "--database", dbURL)
	for _, r := range rs {
		if code, _ := apiStatus(t, "GET", r.URL+"/v1/health", token, nil); code != http.StatusUnauthorized {
			t.Fatalf("revoked token: %d, want 401", code)
		}
	}
	// Deactivating bob (admin, on B) stops his device token on A at once.
	moveCookies(t, admin, rs[won].URL, b.URL)
	if code, body := postForm(t, admin, b.URL+"/users/bob/disable", nil); code >= 400 {
		t.Fatalf("disable bob: %d %s", code, body)
	}
	if code, _ := apiStatus(t, "POST", a.URL+"/v1/events", bobToken, api.LogEventRequest{Type: "view", CompletionID: "x"}); code != http.StatusUnauthorized {
		t.Fatalf("deactivated user's token on A: %d, want 401", code)
	}
}

// TestSignInThrottleAcrossReplicas: wrong passwords alternating between two
// replicas draw on one budget per account (10 at once), as a balancer that
// is not sticky sends a browser's posts (no token to hash); per replica,
// a guesser would get 10 on each.
func TestSignInThrottleAcrossReplicas(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	rs := startReplicas(t, dbURL, 2)
	if code, body := postForm(t, browser(t), rs[0].URL+"/setup", url.Values{
		"code": {setupCode(t, rs[0])}, "username": {"admin"}, "password": {"correct horse battery"}}); code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", code, body)
	}
	var statuses []int
	for i := range 12 {
		code, _ := postForm(t, browser(t), rs[i%2].URL+"/login", url.Values{"username": {"admin"}, "password": {"wrong guess"}})
		statuses = append(statuses, code)
	}
	for i, code := range statuses {
		if want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusTooManyRequests}[i < 10]; code != want {
			t.Fatalf("wrong passwords alternating between replicas: %v; want 10 × 401, then 429", statuses)
		}
	}
	// The right password, now, is refused too: the account's budget is spent on both.
	for _, r := range rs {
		if code, _ := postForm(t, browser(t), r.URL+"/login", url.Values{"username": {"admin"}, "password": {"correct horse battery"}}); code != http.StatusTooManyRequests {
			t.Fatalf("the right password during the lockout: %d, want 429", code)
		}
	}
}
