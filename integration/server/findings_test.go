package server_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
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
