package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// BenchmarkRealServerOverhead runs completions through the real serval
// binary and the generated model, and reports the server's own time per
// request (debug_data.timing.overhead_ms: the total minus queue wait, prompt
// evaluation and generation) as p50/p99, next to the whole request.
func BenchmarkRealServerOverhead(b *testing.B) {
	s := servaltest.Start(b, servaltest.Options{Args: []string{"--rate-limit", "-1", "--max-tokens", "16"}})
	ctx := context.Background()
	var overhead, total []float64
	i := 0
	for b.Loop() {
		i++
		// A typing sequence: each prompt extends the previous one.
		req := &api.CompletionRequest{
			Language:     "go",
			Segments:     &api.Segments{Prefix: fmt.Sprintf("package main\n\nfunc main() {\n\tx := %d\n\t", i), Suffix: "\n}\n"},
			DebugOptions: &api.DebugOptions{},
		}
		res, err := s.Client.Complete(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		overhead = append(overhead, res.DebugData.Timing.OverheadMS)
		total = append(total, res.DebugData.Timing.TotalMS)
	}
	pct := func(xs []float64, p float64) float64 {
		slices.Sort(xs)
		return xs[int(p*float64(len(xs)-1))]
	}
	b.ReportMetric(pct(overhead, 0.5)*1000, "overhead-p50-µs")
	b.ReportMetric(pct(overhead, 0.99)*1000, "overhead-p99-µs")
	b.ReportMetric(pct(total, 0.5), "total-p50-ms")
}
