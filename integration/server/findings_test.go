package server_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// The security review's findings of 2026-12-07 (issue 27), each through the
// real binary: every test here failed before its fix.

// infillBody is a small valid /infill request.
const infillBody = `{"input_prefix":"func main() {","input_suffix":"}","n_predict":2}`

// M1: with --no-auth, /infill refuses what a web page could send, as the
// /v1 routes do: a foreign Origin, Sec-Fetch-Site: cross-site, a
// DNS-rebinding Host and a body that is not JSON.
func TestNoAuthInfillRefusesCrossSite(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--no-auth"}})
	send := func(name string, edit func(*http.Request)) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+"/infill", strings.NewReader(infillBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		edit(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	port := strings.TrimPrefix(s.URL, "http://127.0.0.1:")
	for _, c := range []struct {
		name string
		edit func(*http.Request)
		want int
	}{
		{"foreign Origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, 403},
		{"Sec-Fetch-Site cross-site", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403},
		{"rebound Host", func(r *http.Request) { r.Host = "rebind.evil.example:" + port }, 403},
		{"text/plain body", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, 415},
		{"loopback Origin", func(r *http.Request) { r.Header.Set("Origin", s.URL) }, 200},
		{"plain request", func(*http.Request) {}, 200},
	} {
		if status, body := send(c.name, c.edit); status != c.want {
			t.Errorf("%s: %d %.200s, want %d", c.name, status, body, c.want)
		}
	}
}

// M3: /infill's bodies are limited to 1 MiB, like every route's and as
// docs/server.md says (it took 4 MiB).
func TestInfillBodyLimitIsOneMiB(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "-1"}})
	body := func(extra int) string {
		b, _ := json.Marshal(map[string]any{"input_prefix": "func main() {", "input_suffix": "}", "n_predict": 1,
			"input_extra": []map[string]string{{"filename": "big.go", "text": strings.Repeat("// filler line\n", extra/15)}}})
		return string(b)
	}
	if status, _, out := do(t, "POST", s.URL+"/infill", s.Token, body(1536<<10)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("1.5 MiB /infill body: %d %.200s, want 413", status, out)
	}
	if status, _, out := do(t, "POST", s.URL+"/infill", s.Token, body(900<<10)); status != http.StatusOK {
		t.Errorf("900 KiB /infill body: %d %.200s, want 200", status, out)
	}
}

// wrongLogin posts a wrong password for user with the X-Forwarded-For
// lines xff (one header line each) and returns the status.
func wrongLogin(t *testing.T, base, user string, xff ...string) int {
	t.Helper()
	form := url.Values{"username": {user}, "password": {"not the password"}}
	req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header["X-Forwarded-For"] = xff
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// L2: behind a trusted proxy every X-Forwarded-For line counts, and the
// client's address is the rightmost hop that is not a trusted proxy. A
// client that sends its own X-Forwarded-For line (a proxy such as HAProxy
// adds one of its own after it) cannot pick the address it is throttled by.
func TestForwardedForReadsEveryLine(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--trusted-proxy", "127.0.0.1,10.0.0.0/8"}})
	admin := s.SetupAdmin("admin", "correct horse battery")
	counts := map[int]int{}
	for i := range 40 {
		// The client's own line (a new address each time), the outer
		// proxy's (the real client), then an inner trusted proxy's.
		counts[wrongLogin(t, s.URL, fmt.Sprintf("nobody%d", i), fmt.Sprintf("198.51.100.%d", i+1), "203.0.113.9", "10.1.2.3")]++
	}
	t.Logf("40 wrong logins, each with its own spoofed first X-Forwarded-For line: %v", counts)
	if counts[http.StatusTooManyRequests] < 5 {
		t.Errorf("answers %v: the address budget (30) refused fewer than 5 of 40", counts)
	}
	status, page := admin.Do(http.MethodGet, "/admin/audit?action=sign-in", nil)
	if status != 200 || !strings.Contains(page, "203.0.113.9") || strings.Contains(page, "198.51.100.") || strings.Contains(page, "10.1.2.3") {
		t.Errorf("audit page %d: want the address 203.0.113.9, never the spoofed 198.51.100.x nor the proxy 10.1.2.3:\n%.3000s", status, page)
	}
}

// formulaLike reports whether a spreadsheet would read cell as a formula.
func formulaLike(cell string) bool {
	cell = strings.TrimLeft(cell, " \u00a0")
	return cell != "" && strings.ContainsRune("=+-@", rune(cell[0]))
}

// L5: usage.csv keeps client-chosen text (token names, languages) inert in
// a spreadsheet whatever its locale's separator: read with ',', ';' or tab
// as the separator, no cell starts a formula.
func TestUsageCSVHasNoFormulas(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "-1"}})
	admin := s.SetupAdmin("admin", "correct horse battery")
	for i, name := range []string{"a;@SUM(1)", "\u00a0=2+2", "=HYPERLINK(1)"} {
		token := newToken(t, s, name)
		for _, lang := range []string{"x;=1+1", "y,+1", "-z;@A1"} {
			ev := fmt.Sprintf(`{"type":"view","completion_id":"c%d","choice_index":0,"language":%q}`, i, lang)
			if status, _, out := do(t, "POST", s.URL+"/v1/events", token, ev); status != 200 {
				t.Fatalf("event %s: %d %s", ev, status, out)
			}
		}
	}
	status, body := admin.Do(http.MethodGet, "/usage.csv", nil)
	if status != 200 || !strings.Contains(body, "x;=1+1") {
		t.Fatalf("usage.csv: %d\n%s", status, body)
	}
	for _, sep := range []rune{',', ';', '\t'} {
		r := csv.NewReader(strings.NewReader(body))
		r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
		rows, err := r.ReadAll()
		if err != nil {
			t.Fatalf("separator %q: %v\n%s", sep, err, body)
		}
		for _, row := range rows {
			for _, cell := range row {
				if formulaLike(cell) {
					t.Errorf("separator %q: cell %q reads as a formula", sep, cell)
				}
			}
		}
	}
}

// L7: the web app logs sign-ins (failed and successful, with the method
// and address, never the password), device approvals and server errors.
func TestWebAppLogs(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	const password = "correct horse battery"
	s.SetupAdmin("alice", password)
	if status := wrongLogin(t, s.URL, "alice"); status != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d", status)
	}
	b := servaltest.NewBrowser(t, s.URL)
	if status, body := b.Do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {password}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d %.300s", status, body)
	}
	resp, err := http.PostForm(s.URL+"/oauth/device/code", url.Values{"client_id": {api.AgentClientID}, "device_name": {"laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	var dc api.DeviceCodeResponse
	json.NewDecoder(resp.Body).Decode(&dc)
	resp.Body.Close()
	b.Approve(dc.UserCode)

	// A server error: the database write-locked past its busy timeout.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "serval.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	status, _ := b.Do(http.MethodPost, "/tokens", url.Values{"name": {"while-locked"}})
	conn.ExecContext(context.Background(), "ROLLBACK")
	if status < 500 {
		t.Fatalf("creating a token while the database is locked: %d, want a 5xx", status)
	}

	logs := s.Logs()
	for _, want := range []string{
		`level=WARN msg="web: sign-in" actor=alice`,
		`address=127.0.0.1 outcome=failure detail="method password: wrong password"`,
		`level=INFO msg="web: sign-in" actor=alice target="" address=127.0.0.1 outcome=success detail="method password"`,
		`msg="web: device.approve" actor=alice target=laptop`,
		`level=ERROR msg="web request failed" method=POST path=/tokens`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %s", want)
		}
	}
	if strings.Contains(logs, password) || strings.Contains(logs, "not the password") {
		t.Error("a password is in the log")
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

// servalIn runs a serval subcommand with stdin and returns its combined output.
func servalIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	bin := servaltest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("serval %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var resetCode = regexp.MustCompile(`/reset\?code=(\S+)`)

// resetLink issues a password-reset link for user with the CLI and returns its code.
func resetLink(t *testing.T, s *servaltest.Server, user string) string {
	t.Helper()
	m := resetCode.FindStringSubmatch(servalIn(t, "", "user", "reset-password", user, "--data-dir", s.DataDir))
	if m == nil {
		t.Fatal("no reset link printed")
	}
	return m[1]
}

// L3: a password-reset link stops working once the password changes,
// whether through a newer link or the owner's own change.
func TestOlderResetLinksDieWithThePassword(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	s.SetupAdmin("admin", "correct horse battery")
	servalIn(t, "bob's first password\n", "user", "create", "bob", "--password-stdin", "--data-dir", s.DataDir)

	older, newer := resetLink(t, s, "bob"), resetLink(t, s, "bob")
	b := servaltest.NewBrowser(t, s.URL)
	if status, body := b.Do(http.MethodPost, "/reset", url.Values{"code": {newer}, "password": {"bob's second password"}}); status != http.StatusSeeOther {
		t.Fatalf("reset with the newer link: %d %.300s", status, body)
	}
	if status, _ := b.Do(http.MethodGet, "/reset?code="+older, nil); status != http.StatusGone {
		t.Errorf("the older link after the newer one was used: %d, want 410", status)
	}
	if status, _ := b.Do(http.MethodPost, "/reset", url.Values{"code": {older}, "password": {"an attacker's password"}}); status != http.StatusGone {
		t.Errorf("setting a password with the older link: %d, want 410", status)
	}

	pending := resetLink(t, s, "bob")
	b = servaltest.NewBrowser(t, s.URL)
	if status, body := b.Do(http.MethodPost, "/login", url.Values{"username": {"bob"}, "password": {"bob's second password"}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d %.300s", status, body)
	}
	if status, body := b.Do(http.MethodPost, "/password", url.Values{"current": {"bob's second password"}, "password": {"bob's third password"}}); status >= 400 {
		t.Fatalf("password change: %d %.300s", status, body)
	}
	if status, _ := b.Do(http.MethodGet, "/reset?code="+pending, nil); status != http.StatusGone {
		t.Errorf("a reset link issued before the owner changed the password: %d, want 410", status)
	}
}

// startDeviceSignIn asks for a device code as serval-agent does, from the
// address xff names ("" for none), and returns the status and answer.
func startDeviceSignIn(t *testing.T, c *http.Client, base, xff string) (int, http.Header, api.DeviceCodeResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth/device/code",
		strings.NewReader(url.Values{"client_id": {api.AgentClientID}, "device_name": {"laptop"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return -1, nil, api.DeviceCodeResponse{}
	}
	defer resp.Body.Close()
	var dc api.DeviceCodeResponse
	if resp.StatusCode == http.StatusOK {
		json.NewDecoder(resp.Body).Decode(&dc)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, resp.Header, dc
}

// L4: an editor sign-in approved by an account that is then deactivated
// yields no token, even after the account is reactivated.
func TestDeactivationDeniesApprovedSignIns(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	s.SetupAdmin("admin", "correct horse battery")
	servalIn(t, "bob's first password\n", "user", "create", "bob", "--password-stdin", "--data-dir", s.DataDir)
	bob := servaltest.NewBrowser(t, s.URL)
	if status, body := bob.Do(http.MethodPost, "/login", url.Values{"username": {"bob"}, "password": {"bob's first password"}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d %.300s", status, body)
	}
	status, _, dc := startDeviceSignIn(t, http.DefaultClient, s.URL, "")
	if status != http.StatusOK {
		t.Fatalf("device code: %d", status)
	}
	bob.Approve(dc.UserCode)
	servalIn(t, "", "user", "disable", "bob", "--data-dir", s.DataDir)
	servalIn(t, "", "user", "enable", "bob", "--data-dir", s.DataDir)

	resp, err := http.PostForm(s.URL+"/oauth/token", url.Values{"grant_type": {api.GrantTypeDeviceCode}, "device_code": {dc.DeviceCode}, "client_id": {api.AgentClientID}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), api.OAuthAccessDenied) {
		t.Errorf("poll after deactivation and reactivation: %d %s, want 400 %s", resp.StatusCode, body, api.OAuthAccessDenied)
	}
}

// deviceCodeWave starts n editor sign-ins, 32 at a time, the i-th from the
// address xff(i), and counts the answers by status.
func deviceCodeWave(t *testing.T, base string, n int, xff func(i int) string) map[int]int {
	t.Helper()
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer c.CloseIdleConnections()
	var mu sync.Mutex
	counts := map[int]int{}
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range next {
				status, h, _ := startDeviceSignIn(t, c, base, xff(i))
				if status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return counts
}

// M2: one address cannot take every live device code (it blocked editor
// sign-in for everyone for 10 minutes), and the store's bound on live
// codes is exact under concurrency (count and insert were two steps: 1,002
// were accepted).
func TestDeviceCodesHaveAPerAddressBudget(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--trusted-proxy", "127.0.0.1"}})
	counts := deviceCodeWave(t, s.URL, 300, func(int) string { return "198.51.100.7" })
	t.Logf("300 sign-ins started from one address: %v", counts)
	if counts[http.StatusOK] > 12 || counts[http.StatusOK]+counts[http.StatusTooManyRequests] != 300 {
		t.Errorf("one address: %v, want at most 12 accepted (a burst of 10), the rest 429", counts)
	}
	if status, _, _ := startDeviceSignIn(t, http.DefaultClient, s.URL, "203.0.113.5"); status != http.StatusOK {
		t.Errorf("another address after the flood: %d, want 200", status)
	}
	accepted := counts[http.StatusOK] + 1
	counts = deviceCodeWave(t, s.URL, 1100, func(i int) string { return fmt.Sprintf("100.64.%d.%d", i/250, i%250+1) })
	t.Logf("1,100 sign-ins from 1,100 addresses: %v", counts)
	if got := accepted + counts[http.StatusOK]; got != 1000 || counts[http.StatusServiceUnavailable] != 1100-counts[http.StatusOK] {
		t.Errorf("%d live codes accepted in all (%v), want exactly the bound 1,000 and 503 for the rest", got, counts)
	}
}

// Unlimited tokens per account (and so unlimited rate-limit budgets): an
// account holds at most --max-tokens-per-user tokens, from the web app, an
// editor's sign-in or the CLI, each refusal saying what to do, and
// concurrent requests cannot overshoot the bound.
func TestTokensPerUserAreBounded(t *testing.T) {
	if out := startFails(t, "--max-tokens-per-user", "0"); !strings.Contains(out, "--max-tokens-per-user must be at least 1") {
		t.Errorf("--max-tokens-per-user 0: %s", out)
	}
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens-per-user", "3"}})
	admin := s.SetupAdmin("admin", "correct horse battery")
	for _, name := range []string{"web-1", "web-2"} {
		if status, body := admin.Do(http.MethodPost, "/tokens", url.Values{"name": {name}}); status != http.StatusSeeOther {
			t.Fatalf("token %s: %d %.300s", name, status, body)
		}
	}
	// An editor sign-in (a new device: a new token) approved at 2 of 3,
	// polled once the web made the third.
	_, _, dc := startDeviceSignIn(t, http.DefaultClient, s.URL, "")
	admin.Approve(dc.UserCode)
	if status, body := admin.Do(http.MethodPost, "/tokens", url.Values{"name": {"ci"}}); status != http.StatusSeeOther {
		t.Fatalf("third token: %d %.300s", status, body)
	}
	resp, err := http.PostForm(s.URL+"/oauth/token", url.Values{"grant_type": {api.GrantTypeDeviceCode}, "device_code": {dc.DeviceCode}, "client_id": {api.AgentClientID}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "most tokens this server allows (3)") {
		t.Errorf("editor sign-in past the limit: %d %s", resp.StatusCode, body)
	}
	if status, page := admin.Do(http.MethodPost, "/tokens", url.Values{"name": {"fourth"}}); status != http.StatusConflict || !strings.Contains(page, "You hold 3 tokens") {
		t.Errorf("fourth token on the web: %d %.2000s", status, page)
	}
	out, err := exec.Command(servaltest.Binary(t), "token", "create", "--user", "admin", "--name", "cli", "--max-tokens-per-user", "3", "--data-dir", s.DataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "admin holds 3 tokens, the most one account may hold") {
		t.Errorf("CLI past the limit: %v %s", err, out)
	}

	// Twenty at once from one account: exactly the limit are made.
	servalIn(t, "bob's first password\n", "user", "create", "bob", "--password-stdin", "--data-dir", s.DataDir)
	bob := servaltest.NewBrowser(t, s.URL)
	if status, body := bob.Do(http.MethodPost, "/login", url.Values{"username": {"bob"}, "password": {"bob's first password"}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d %.300s", status, body)
	}
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			status, _ := bob.Do(http.MethodPost, "/tokens", url.Values{"name": {fmt.Sprintf("t%d", i)}})
			mu.Lock()
			counts[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[http.StatusSeeOther] != 3 || counts[http.StatusConflict] != 17 {
		t.Errorf("20 concurrent token creations with a limit of 3: %v, want 3 made (303) and 17 refused (409)", counts)
	}
}

// trickle opens a raw connection to addr, writes head, then one byte of
// drip every 500 ms until the server closes the connection or limit
// passes; it returns how long the server let it hold the connection, and
// what the server answered before closing (if anything).
func trickle(t *testing.T, addr, head, drip string, limit time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	closed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes (or the deferred Close)
		closed <- string(b)
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
	for i := 0; ; i++ {
		select {
		case answer := <-closed:
			return time.Since(start), answer
		case <-deadline:
			return time.Since(start), "(still open)"
		case <-tick.C:
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write([]byte{drip[i%len(drip)]})
		}
	}
}

// Slowloris: a client that sends its headers, or its body, a byte at a
// time is cut off after the header and body timeouts, on /login as on the
// API, instead of holding a connection and a goroutine for as long as it
// keeps dripping.
func TestSlowlorisIsCutOff(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	addr := strings.TrimPrefix(s.URL, "http://")
	const limit = 90 * time.Second
	cases := []struct {
		name, head, drip string
		within           time.Duration
		answer           string // the start of the answer before the close ("": none needed)
	}{
		{"headers of POST /login", "POST /login HTTP/1.1\r\nHost: " + addr + "\r\n", "X-Pad: aaaaaaaa\r\n", 20 * time.Second, ""},
		{"body of POST /login", "POST /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nusername=alice&password=", "a", 40 * time.Second, "HTTP/1.1 408 "},
		{"body of POST /v1/completions", "POST /v1/completions HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + s.Token + "\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n" + `{"segments":{"prefix":"`, "a", 40 * time.Second, "HTTP/1.1 408 "},
		{"idle after the request line", "GET /login HTTP/1.1\r\n", " ", 20 * time.Second, ""},
	}
	// The drips run side by side; the group ends when all have.
	t.Run("drips", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				held, answer := trickle(t, addr, c.head, c.drip, limit)
				t.Logf("held %s, answered %.80q", held.Round(100*time.Millisecond), answer)
				if held > c.within {
					t.Errorf("the server held a dripping connection for %s (want it cut within %s)", held.Round(time.Second), c.within)
				}
				if !strings.HasPrefix(answer, c.answer) {
					t.Errorf("answered %.200q, want %q (the request timed out)", answer, c.answer)
				}
			})
		}
	})
	if status, _, _ := do(t, "GET", s.URL+"/login", "", ""); status != 200 {
		t.Errorf("GET /login after the slow clients: %d", status)
	}
}

// A slowloris from one address holds at most --max-conns-per-address
// connections: the next is answered 503 with Retry-After and closed at once,
// another address is served meanwhile, and the places come back when the
// slow connections go. Loopback is limited only with --limit-loopback (a
// local reverse proxy carries everyone's connections); without it twelve
// connections from 127.0.0.1 are all served.
func TestConnectionsPerAddressAreBounded(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--max-conns-per-address", "4", "--limit-loopback"}})
	addr := strings.TrimPrefix(s.URL, "http://")
	dialFrom := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// status sends GET /login on a new connection from and reads the status line.
	status := func(from string) string {
		t.Helper()
		c := dialFrom(from)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /login HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		line, _, _ := strings.Cut(string(b), "\r\n")
		if strings.HasPrefix(line, "HTTP/1.1 503 ") && !strings.Contains(string(b), "\r\nRetry-After: ") {
			t.Errorf("a 503 without Retry-After: %.300q", b)
		}
		return line
	}
	var slow []net.Conn
	for range 4 {
		c := dialFrom("127.0.0.1")
		io.WriteString(c, "POST /login HTTP/1.1\r\nHost: "+addr+"\r\n") // headers never finished
		slow = append(slow, c)
	}
	// The server counts a connection when it accepts it: give it a moment
	// (bounded) to accept the four before the fifth.
	var got string
	for i := 0; i < 50; i++ {
		if got = status("127.0.0.1"); strings.HasPrefix(got, "HTTP/1.1 503 ") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("a fifth connection from an address holding four: %q, want 503", got)
	}
	if got := status("127.0.0.2"); got != "HTTP/1.1 200 OK" {
		t.Errorf("another address meanwhile: %q", got)
	}
	for _, c := range slow {
		c.Close()
	}
	for i := 0; i < 50; i++ {
		if got = status("127.0.0.1"); got == "HTTP/1.1 200 OK" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "HTTP/1.1 200 OK" {
		t.Errorf("after the slow connections closed: %q", got)
	}
	if !strings.Contains(s.Logs(), "connections refused") {
		t.Errorf("the refusals were not logged:\n%s", s.Logs())
	}

	open := servaltest.Start(t, servaltest.Options{Args: []string{"--max-conns-per-address", "4"}})
	openAddr := strings.TrimPrefix(open.URL, "http://")
	for range 12 {
		c, err := net.DialTimeout("tcp", openAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		io.WriteString(c, "POST /login HTTP/1.1\r\nHost: "+openAddr+"\r\n")
	}
	if status, _, _ := do(t, "GET", open.URL+"/login", "", ""); status != 200 {
		t.Errorf("loopback without --limit-loopback, twelve connections open: GET /login %d", status)
	}
}
