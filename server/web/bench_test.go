package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/servalhq/serval/server/account"
	"github.com/servalhq/serval/server/store"
)

// BenchmarkPages measures the server time of each page with 100 accounts
// (2 tokens each) and 100,000 events over the last 30 days, and reports the
// p50/p99 of the individual requests and the process's CPU time per request
// (which the machine's load does not inflate):
//
//	go test -run '^$' -bench Pages -benchtime 200x ./server/web/
func BenchmarkPages(b *testing.B) {
	h := newHarness(b)
	admin := h.admin()
	ctx := context.Background()
	hash, err := account.HashPassword("benchmark password")
	if err != nil {
		b.Fatal(err)
	}
	var users []store.User
	for i := range 100 {
		u, err := h.st.CreateUser(ctx, fmt.Sprintf("user%03d", i), hash, false)
		if err != nil {
			b.Fatal(err)
		}
		users = append(users, u)
		for _, name := range []string{"laptop", "desktop"} {
			if _, err := h.st.CreateUserToken(ctx, u, name, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	langs := []string{"go", "python", "typescript", "rust", "java", "c"}
	now := h.clock.now()
	for i := range 100_000 {
		u := users[i%len(users)]
		lat := time.Duration(20+i%200) * time.Millisecond
		typ := "view"
		if i%3 == 0 {
			typ = "select"
		}
		err := h.st.AddEvent(ctx, store.Event{
			Time: now.Add(-time.Duration(i%(30*24)) * time.Hour), TokenName: store.OwnedTokenName(u.Name, "laptop"),
			Type: typ, CompletionID: fmt.Sprintf("cmpl-%d", i/2), Language: langs[i%len(langs)], Latency: &lat,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	user := h.client()
	if r := user.post("/login", url.Values{"username": {"user007"}, "password": {"benchmark password"}}); r.status != http.StatusSeeOther {
		b.Fatalf("login: %d", r.status)
	}
	pages := []struct {
		name string
		as   *client
		path string
	}{
		{"home", user, "/"},
		{"usage-user", user, "/usage"},
		{"usage-admin", admin, "/usage"},
		{"usage-csv-admin", admin, "/usage.csv"},
		{"admin-users", admin, "/admin/users"},
		{"admin-tokens", admin, "/admin/tokens"},
		{"admin-system", admin, "/admin/system"},
		{"playground", user, "/playground"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, p.path, nil)
			req.AddCookie(p.as.cookie())
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			cpu := processCPU()
			for range b.N {
				rec := httptest.NewRecorder()
				start := time.Now()
				h.srv.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", p.path, rec.Code)
				}
			}
			cpu = processCPU() - cpu
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[(len(times)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}
