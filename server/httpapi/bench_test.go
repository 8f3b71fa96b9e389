package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/completion/completiontest"
)

// A realistic request: ~1.5 KB of prefix, a suffix, two snippets.
var benchRequest = &api.CompletionRequest{
	Language: "go",
	Segments: &api.Segments{
		Prefix:   strings.Repeat("\tx := strings.TrimSpace(s)\n", 55) + "\treturn ",
		Suffix:   "\n}\n\nfunc other() {}\n",
		Filepath: "pkg/file.go",
		Declarations: []api.Declaration{
			{Filepath: "pkg/types.go", Body: "type Thing struct {\n\tName string\n}"},
		},
		RelevantSnippetsFromChangedFiles: []api.Snippet{{Filepath: "pkg/b.go", Body: "func helper() int { return 1 }", Score: 0.5}},
	},
}

// benchEngine answers instantly: the benchmark measures the server alone
// (auth, rate limit, decode, prompt building, stop words, encode).
func benchEngine() *completiontest.Engine {
	return &completiontest.Engine{Deltas: []string{"x", ".Name", "\n", "\treturn y", "\n\n"}}
}

func reportPercentiles(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	at := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)-1))].Microseconds())
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkServerOverheadHTTP: the whole request over loopback HTTP with a
// kept-alive connection, as the agent sends it (plain JSON).
func BenchmarkServerOverheadHTTP(b *testing.B) {
	f := newFixture(b, benchEngine(), fixtureOptions{ratePerMinute: -1})
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := f.client.Complete(ctx, benchRequest); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	reportPercentiles(b, samples)
}

// BenchmarkServerOverheadStreamHTTP: the same, streamed (SSE).
func BenchmarkServerOverheadStreamHTTP(b *testing.B) {
	f := newFixture(b, benchEngine(), fixtureOptions{ratePerMinute: -1})
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	nop := func(string) bool { return false }
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := f.client.CompleteStream(ctx, benchRequest, nop); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	reportPercentiles(b, samples)
}

// BenchmarkServerOverheadHandler: the handler stack alone (no sockets).
func BenchmarkServerOverheadHandler(b *testing.B) {
	f := newFixture(b, benchEngine(), fixtureOptions{ratePerMinute: -1})
	h := f.srv.Config.Handler
	body := mustJSON(b, benchRequest)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		req := httptest.NewRequest("POST", "/v1/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		samples = append(samples, time.Since(start))
	}
	reportPercentiles(b, samples)
}
