package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"github.com/servalhq/serval/server/engine"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/store"
)

// addEvents stores n shown completions through token, the first accepted
// ones accepted, on day (0 = today, 1 = yesterday, ...).
func addEvents(t testing.TB, st *store.Store, now time.Time, token, lang string, day, shown, accepted int) {
	addEventsChoice(t, st, now, token, lang, day, shown, accepted, 0)
}

// addEventsChoice is addEvents for the candidate choice of each completion
// (0: the first).
func addEventsChoice(t testing.TB, st *store.Store, now time.Time, token, lang string, day, shown, accepted, choice int) {
	t.Helper()
	at := now.AddDate(0, 0, -day)
	for i := range shown {
		id := token + "-" + lang + "-" + itoa(int64(day)) + "-" + itoa(int64(i))
		lat := time.Duration(10*(i+1)) * time.Millisecond
		if err := st.AddEvent(context.Background(), store.Event{Time: at, TokenName: token, Type: "view", CompletionID: id, ChoiceIndex: choice, Language: lang, Latency: &lat}); err != nil {
			t.Fatal(err)
		}
		if i < accepted {
			if err := st.AddEvent(context.Background(), store.Event{Time: at, TokenName: token, Type: "select", CompletionID: id, ChoiceIndex: choice, Language: lang}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestUsageOwnAndAll(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	now := h.clock.now()
	addEvents(t, h.st, now, "bob/laptop", "go", 0, 4, 3)
	addEvents(t, h.st, now, "bob/laptop", "python", 2, 2, 0)
	addEventsChoice(t, h.st, now, "bob/laptop", "python", 3, 1, 1, 2) // the third candidate, cycled to
	addEvents(t, h.st, now, "admin/ci", "rust", 1, 5, 1)
	addEvents(t, h.st, now, "initial", "go", 0, 1, 1)
	addEvents(t, h.st, now, "bob/laptop", "go", 40, 7, 7) // older than 30 days

	mine := bob.get("/usage")
	if mine.status != 200 {
		t.Fatalf("bob /usage: %d", mine.status)
	}
	mustContain(t, mine.body, `id="total-shown">7<`, `id="total-accepted">4<`, `id="total-accepted-other">1<`, "25% of the accepted were not the first candidate",
		"<svg", ">go<", ">python<", "Your completions")
	if strings.Contains(mine.body, ">rust<") || strings.Contains(mine.body, "By user") {
		t.Fatal("bob sees someone else's usage")
	}
	all := admin.get("/usage")
	mustContain(t, all.body, `id="total-shown">13<`, `id="total-accepted">6<`, `id="total-accepted-other">1<`, ">rust<", "By user", ">bob<", ">admin<", "server token initial")
	// Latency percentiles of the shown completions: bob's are 10,20,30,40,10,20,10 ms.
	mustContain(t, mine.body, "20 ms / 40 ms")

	r := bob.get("/usage.csv")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v", r.status, r.header)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != "day,user,token,language,shown,accepted,accepted_other_candidate" {
		t.Fatalf("csv rows = %q, %v", rows, err)
	}
	for _, row := range rows[1:] {
		if row[1] != "bob" {
			t.Fatalf("bob's csv has %q", row)
		}
	}
	if r := admin.get("/usage.csv"); strings.Count(r.body, "\n") != 6 {
		t.Fatalf("admin csv:\n%s", r.body)
	}
	if r := h.client().get("/usage.csv"); r.status != http.StatusSeeOther {
		t.Fatalf("signed-out csv: %d", r.status)
	}
}

func TestCSVKeepsFormulasInert(t *testing.T) {
	if got := csvSafe("=HYPERLINK(\"x\")"); got != "'=HYPERLINK(\"x\")" {
		t.Fatalf("csvSafe = %q", got)
	}
	if got := csvSafe("go"); got != "go" {
		t.Fatalf("csvSafe = %q", got)
	}
}

func TestPlaygroundAndSessionToken(t *testing.T) {
	h := newHarness(t)
	admin := h.admin()
	bob := h.user(admin, "bob")
	r := bob.get("/playground")
	mustContain(t, r.body, `id="pg-code"`, `id="pg-language"`, "<option>python</option>", `id="chat-form"`, "/static/app.js")
	h.srv.cfg.ChatEnabled = false
	if r := bob.get("/playground"); strings.Contains(r.body, `id="chat-form"`) || !strings.Contains(r.body, "--chat-model") {
		t.Fatal("chat box shown without a chat model")
	}
	if strings.Contains(r.body, "demonstration model") {
		t.Fatal("a real model called a demonstration model")
	}
	h.srv.cfg.Engines = []EngineStatus{{Role: "completion", Engine: fakeEngine{engine.Info{Model: "serval-tiny", Device: "cpu", Slots: 1}}}}
	mustContain(t, bob.get("/playground").body, `id="pg-demo"`, "<code>serval-tiny</code>, a small demonstration model")
	apiReq := func(c *client, hdr map[string]string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/v1/completions", nil)
		u, _ := url.Parse(h.ts.URL)
		if c != nil {
			for _, ck := range c.c.Jar.Cookies(u) {
				req.AddCookie(ck)
			}
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return req
	}
	same := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": h.ts.URL}
	if name, ok := h.srv.SessionToken(apiReq(bob, same)); !ok || name != "bob/web" {
		t.Fatalf("session token = %q, %v", name, ok)
	}
	for what, req := range map[string]*http.Request{
		"no cookie":        apiReq(nil, same),
		"cross-site":       apiReq(bob, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}),
		"foreign origin":   apiReq(bob, map[string]string{"Origin": "https://evil.example"}),
		"not from browser": apiReq(bob, nil),
	} {
		if name, ok := h.srv.SessionToken(req); ok {
			t.Errorf("%s: authenticated as %q", what, name)
		}
	}
	bob.post("/logout", nil)
	if _, ok := h.srv.SessionToken(apiReq(bob, same)); ok {
		t.Fatal("session token after logout")
	}
}

func TestStaticAssetsSmall(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	total := 0
	for _, p := range []string{"/static/app.css", "/static/app.js"} {
		r := c.get(p)
		if r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
		total += len(r.body)
	}
	if total > 150<<10 {
		t.Fatalf("JS+CSS = %d bytes, over 150 KB", total)
	}
	r := c.get("/login")
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if r.header.Get(hdr) == "" {
			t.Errorf("no %s", hdr)
		}
	}
	if r := c.get("/no/such/page"); r.status != http.StatusNotFound {
		t.Fatalf("unknown page: %d", r.status)
	}
}

// TestPercentileFromBuckets: the percentile read from the latency histogram
// is the bucket of the nearest-rank percentile of the latencies themselves.
func TestPercentileFromBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + rng.IntN(300)
		values := make([]int64, n)
		counts := map[int]int64{}
		for i := range values {
			values[i] = rng.Int64N(1 << uint(1+rng.IntN(20)))
			counts[store.LatencyBucket(values[i])]++
		}
		slices.Sort(values)
		var hist []store.LatencyCount
		for b, c := range counts {
			hist = append(hist, store.LatencyCount{Bucket: b, Count: c})
		}
		slices.SortFunc(hist, func(a, b store.LatencyCount) int { return a.Bucket - b.Bucket })
		for _, p := range []float64{0.5, 0.95, 0.99, 0.01, 1} {
			rank := max(0, min(int(p*float64(n)+0.999999)-1, n-1))
			want := store.LatencyBucket(values[rank])
			got := percentile(hist, int64(n), p)
			lo, hi := store.LatencyBounds(want)
			label := fmt.Sprintf("%d–%d ms", lo, hi)
			if lo == hi {
				label = fmt.Sprintf("%d ms", lo)
			}
			if got != label {
				t.Fatalf("p%v of %v = %q, want %q", p, values, got, label)
			}
		}
	}
	if got := percentile(nil, 0, 0.5); got != "–" {
		t.Fatalf("no latencies: %q", got)
	}
}
