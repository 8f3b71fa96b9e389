package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/server/account"
	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/store"
)

const adminPassword = "correct horse battery"

type fakeEngine struct{ info engine.Info }

func (f fakeEngine) Info() engine.Info { return f.info }

// clock is a settable time for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     testing.TB
	st    *store.Store
	srv   *Server
	ts    *httptest.Server
	dir   string
	clock *clock
	setup string // the printed setup line
}

func newHarness(t testing.TB) *harness { t.Helper(); return newHarnessWith(t, nil) }

// newHarnessWith lets configure change the web app's Config first.
func newHarnessWith(t testing.TB, configure func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, st: st, dir: dir, clock: &clock{t: time.Now()}}
	st.SetClock(h.clock.now)
	cfg := Config{
		Store:   st,
		DataDir: dir,
		Version: "test-1.2.3",
		Engines: []EngineStatus{{Role: "completion", Engine: fakeEngine{engine.Info{
			Model: "tiny-test-model", Device: "cpu", Slots: 2, Busy: 1, Queued: 3, MaxQueue: 8,
			Upstreams: []engine.UpstreamInfo{{Name: "gpu-box", URL: "http://10.0.0.7:11434", Healthy: false, LastError: "connection refused"}},
		}}}},
		ChatEnabled: true,
		Now:         h.clock.now,
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.ts = httptest.NewServer(srv)
	t.Cleanup(h.ts.Close)
	var out strings.Builder
	if err := srv.Start(context.Background(), h.ts.URL, &out); err != nil {
		t.Fatal(err)
	}
	h.setup = out.String()
	return h
}

// setupCode returns the code of the printed setup link.
func (h *harness) setupCode() string {
	h.t.Helper()
	line := strings.TrimSpace(h.setup)
	_, code, ok := strings.Cut(line, "/setup?code=")
	if !ok {
		h.t.Fatalf("setup line %q has no code", line)
	}
	return code
}

type client struct {
	h *harness
	c *http.Client
}

func (h *harness) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(req *http.Request) response {
	c.h.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, string(b), res.Header}
}

func (c *client) get(path string) response {
	c.h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.h.ts.URL+path, nil)
	return c.do(req)
}

// post sends a form as a browser on this server's pages would.
func (c *client) post(path string, form url.Values) response {
	c.h.t.Helper()
	return c.postWith(path, form, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {c.h.ts.URL}})
}

// submit posts a form and, as a browser does, follows the 303 that answers a
// successful post with a GET: the page the user ends on. A post that fails
// answers with its page directly.
func (c *client) submit(path string, form url.Values) response {
	c.h.t.Helper()
	r := c.post(path, form)
	if r.status != http.StatusSeeOther {
		return r
	}
	return c.get(r.header.Get("Location"))
}

func (c *client) postWith(path string, form url.Values, hdr http.Header) response {
	c.h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.h.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return c.do(req)
}

func (c *client) cookie() *http.Cookie {
	u, _ := url.Parse(c.h.ts.URL)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == CookieName {
			return ck
		}
	}
	return nil
}

// admin runs setup and returns the admin's signed-in client.
func (h *harness) admin() *client {
	h.t.Helper()
	c := h.client()
	r := c.post("/setup", url.Values{"code": {h.setupCode()}, "username": {"admin"}, "password": {adminPassword}})
	if r.status != http.StatusSeeOther {
		h.t.Fatalf("setup: %d %s", r.status, r.body)
	}
	return c
}

// invite creates an invitation as admin and returns its code.
func (h *harness) invite(admin *client) string {
	h.t.Helper()
	r := admin.submit("/invitations", url.Values{"note": {"for a colleague"}})
	if r.status != http.StatusOK {
		h.t.Fatalf("invite: %d %s", r.status, r.body)
	}
	_, rest, ok := strings.Cut(r.body, "/register?invite=")
	if !ok {
		h.t.Fatalf("no invitation link in %s", r.body)
	}
	return rest[:strings.IndexAny(rest, "<\" ")]
}

// user registers name with an invitation and returns their client.
func (h *harness) user(admin *client, name string) *client {
	h.t.Helper()
	c := h.client()
	r := c.post("/register", url.Values{"invite": {h.invite(admin)}, "username": {name}, "password": {"password of " + name}})
	if r.status != http.StatusSeeOther {
		h.t.Fatalf("register %s: %d %s", name, r.status, r.body)
	}
	return c
}

// token creates a token through the home page and returns its secret.
func (c *client) token(name string) string {
	c.h.t.Helper()
	r := c.submit("/tokens", url.Values{"name": {name}})
	if r.status != http.StatusOK {
		c.h.t.Fatalf("create token: %d %s", r.status, r.body)
	}
	i := strings.Index(r.body, store.TokenPrefix)
	if i < 0 {
		c.h.t.Fatalf("no token in %s", r.body)
	}
	return r.body[i : i+len(store.TokenPrefix)+32]
}

func mustContain(t testing.TB, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("page lacks %q", p)
		}
	}
}

func fileMode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestMain(m *testing.M) {
	// Many accounts under -race: argon2id stays, at a lower cost.
	account.SetHashCostForTests()
	os.Exit(m.Run())
}
