package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tokens is a lookup over a map that counts its calls.
type tokens struct {
	mu    sync.Mutex
	names map[string]string
	calls int
}

func (tk *tokens) lookup(ctx context.Context, secret string) (string, error) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.calls++
	if name, ok := tk.names[secret]; ok {
		return name, nil
	}
	return "", ErrUnknownToken
}

func newTestAuth(cfg Config) (*Authenticator, *tokens, *fakeClock) {
	tk := &tokens{names: map[string]string{"srv_good": "alice", "srv_other": "bob"}}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg.Lookup = tk.lookup
	cfg.Now = clock.Now
	return New(cfg), tk, clock
}

func serve(a *Authenticator, header string) *httptest.ResponseRecorder {
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello " + TokenName(r.Context())))
	}))
	req := httptest.NewRequest("GET", "/v1/health", nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareAuthenticates(t *testing.T) {
	a, _, _ := newTestAuth(Config{})
	for _, tc := range []struct {
		header string
		code   int
	}{
		{"", 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"Basic srv_good", 401},
		{"Bearer srv_bad", 401},
		{"Bearer srv_good", 200},
		{"bearer srv_good", 200},
		{"Bearer  srv_good ", 200},
	} {
		rec := serve(a, tc.header)
		if rec.Code != tc.code {
			t.Errorf("%q: code %d, want %d", tc.header, rec.Code, tc.code)
			continue
		}
		if tc.code == 401 {
			var e api.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("401 body %q: %v", rec.Body, err)
			}
			// Where a user gets a token: the web app's Tokens page, or signing in from the editor.
			if !strings.Contains(e.Error, "serval token create --name NAME") || !strings.Contains(e.Error, "web app (sign in, then Tokens)") ||
				!strings.Contains(e.Error, "Serval: Sign In") || !strings.Contains(e.Error, ":ServalSignIn") {
				t.Errorf("401 error %q does not say how to get a token", e.Error)
			}
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		} else if rec.Body.String() != "hello alice" {
			t.Errorf("handler saw %q", rec.Body)
		}
	}
}

// A revoked token is refused on the very next request, and a token created
// later works at once.
func TestRevocationIsImmediate(t *testing.T) {
	a, tk, _ := newTestAuth(Config{})
	for range 3 {
		if rec := serve(a, "Bearer srv_good"); rec.Code != 200 {
			t.Fatal(rec.Code)
		}
	}
	tk.mu.Lock()
	delete(tk.names, "srv_good")
	tk.mu.Unlock()
	if rec := serve(a, "Bearer srv_good"); rec.Code != 401 {
		t.Fatalf("revoked token: %d, want 401 on the next request", rec.Code)
	}
	tk.mu.Lock()
	tk.names["srv_new"] = "carol"
	tk.mu.Unlock()
	serve(a, "Bearer srv_new2")
	if rec := serve(a, "Bearer srv_new"); rec.Code != 200 {
		t.Fatalf("new token: %d", rec.Code)
	}
}

// A failing token store is 503 with Retry-After, its error text kept from the client.
func TestLookupFailureIs503(t *testing.T) {
	a := New(Config{Lookup: func(context.Context, string) (string, error) { return "", errors.New("disk on fire") }})
	rec := serve(a, "Bearer srv_x")
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "disk on fire") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	a, _, clock := newTestAuth(Config{RatePerMinute: 60, Burst: 3})
	for i := range 3 {
		if rec := serve(a, "Bearer srv_good"); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := serve(a, "Bearer srv_good")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d, want 429", rec.Code)
	}
	retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || retry != 1 {
		t.Fatalf("Retry-After %q, want 1 (one request per second)", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "rate limit") {
		t.Errorf("429 body %s", rec.Body)
	}
	// Another token has its own budget.
	if rec := serve(a, "Bearer srv_other"); rec.Code != 200 {
		t.Fatalf("other token: %d", rec.Code)
	}
	// Refused requests do not consume budget: after one second exactly one more passes.
	clock.Advance(time.Second)
	if rec := serve(a, "Bearer srv_good"); rec.Code != 200 {
		t.Fatalf("after refill: %d", rec.Code)
	}
	if rec := serve(a, "Bearer srv_good"); rec.Code != 429 {
		t.Fatalf("second after refill: %d, want 429", rec.Code)
	}
}

func TestRateLimitDefaultsAndDisabled(t *testing.T) {
	a, _, _ := newTestAuth(Config{})
	for i := range DefaultBurst {
		if _, ok := a.Allow("x"); !ok {
			t.Fatalf("default burst refused request %d", i)
		}
	}
	wait, ok := a.Allow("x")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("after the burst: wait %v ok %v; want 500ms (120/min)", wait, ok)
	}
	off, _, _ := newTestAuth(Config{RatePerMinute: -1})
	for range 1000 {
		if _, ok := off.Allow("x"); !ok {
			t.Fatal("disabled limit refused")
		}
	}
}

func TestStoreLookup(t *testing.T) {
	s, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret, err := s.CreateToken(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Lookup: StoreLookup(s)})
	if rec := serve(a, "Bearer "+secret); rec.Code != 200 || rec.Body.String() != "hello dev" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rec := serve(a, "Bearer srv_nope"); rec.Code != 401 {
		t.Fatalf("unknown token: %d", rec.Code)
	}
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer x", "bearer  y ", "Basic z", "Bearer", "BEARER \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := bearer(header)
		if ok && (tok == "" || strings.TrimSpace(tok) != tok) {
			t.Fatalf("bearer(%q) = %q", header, tok)
		}
	})
}

func TestDatabaseUnavailableIs503(t *testing.T) {
	a := New(Config{Lookup: func(context.Context, string) (string, error) {
		return "", fmt.Errorf("look up token: %w: connection refused", store.ErrUnavailable)
	}})
	rec := serve(a, "Bearer srv_x")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "database is unavailable") {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

// TestSharedRateLimit: with a shared budget (replicas on PostgreSQL) the
// shared one decides; when it fails, this process's limiter does.
func TestSharedRateLimitDecides(t *testing.T) {
	var fail bool
	calls := 0
	shared := func(ctx context.Context, name string, perMinute float64, burst int) (time.Duration, bool, error) {
		calls++
		if perMinute != 60 || burst != 3 {
			t.Errorf("shared limit asked for %g/min burst %d", perMinute, burst)
		}
		if fail {
			return 0, false, errors.New("database gone")
		}
		return 7 * time.Second, false, nil // another replica used the budget up
	}
	a, _, _ := newTestAuth(Config{RatePerMinute: 60, Burst: 3, Shared: shared})
	rec := serve(a, "Bearer srv_good")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "7" {
		t.Fatalf("shared budget empty: %d %v", rec.Code, rec.Header())
	}
	fail = true
	for i := range 4 {
		rec := serve(a, "Bearer srv_good")
		if want := map[bool]int{true: 200, false: 429}[i < 3]; rec.Code != want {
			t.Fatalf("request %d with the shared limiter failing: %d, want %d (the local limiter's burst of 3)", i, rec.Code, want)
		}
	}
	if calls != 5 {
		t.Fatalf("shared limiter asked %d times, want 5", calls)
	}
}
