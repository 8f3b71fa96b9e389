package servaltest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser plays a person's browser on the web app: a cookie jar that does
// not follow redirects, sending the headers a browser sends on the server's
// own forms (so that cross-origin protection lets them through).
type Browser struct {
	t   testing.TB
	c   *http.Client
	url string
}

// NewBrowser returns a browser with no cookies for the server at base.
func NewBrowser(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, url: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends a GET (form nil) or a form POST to target (a path on the server,
// or a full URL) and returns the status and body.
func (b *Browser) Do(method, target string, form url.Values) (int, string) {
	b.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = b.url + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.url)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var setupLine = regexp.MustCompile(`setup: http://\S+/setup\?code=(\S+)`)

// SetupAdmin creates the first account with the setup code serve printed
// and returns a browser signed in as it.
func (s *Server) SetupAdmin(name, password string) *Browser {
	s.t.Helper()
	m := setupLine.FindStringSubmatch(s.Logs())
	if m == nil {
		s.t.Fatalf("no setup line in the server's output:\n%s", s.Logs())
	}
	b := NewBrowser(s.t, s.URL)
	if status, body := b.Do(http.MethodPost, "/setup", url.Values{"code": {m[1]}, "username": {name}, "password": {password}}); status != http.StatusSeeOther {
		s.t.Fatalf("setup: %d %s", status, body)
	}
	return b
}

// Approve approves an editor's sign-in code on the /device page, as the
// signed-in user of b would.
func (b *Browser) Approve(userCode string) {
	b.t.Helper()
	status, page := b.Do(http.MethodGet, "/device?user_code="+url.QueryEscape(userCode), nil)
	if status != http.StatusOK || !strings.Contains(page, `value="approve"`) {
		b.t.Fatalf("device page for %s: %d\n%s", userCode, status, page)
	}
	if status, body := b.Do(http.MethodPost, "/device", url.Values{"user_code": {userCode}, "action": {"approve"}}); status != http.StatusOK {
		b.t.Fatalf("approve %s: %d %s", userCode, status, body)
	}
}
