package peers_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// coldSamples are one engine's cold-request measurements, one per round.
type coldSamples struct {
	ready    []time.Duration // from starting the engine until it reports ready
	first    []time.Duration // the first request after that, as the client saw it
	promptMS []float64       // the engine's own prompt evaluation time of that request (-1: not reported)
	prompt   int             // prompt tokens of that request (-1: not reported)
}

// coldRequests measures the cold request, the first one a freshly started
// engine answers: in each of rounds, each engine is started (with one slot),
// and once it reports ready (model loaded and, where the engine does it,
// warmed up) the replay's first prompt is sent once; the engine is stopped
// before the next one starts. The order of the engines rotates every round,
// so that none is always first after a restart or always last on a machine
// whose load drifts. One sample per run cannot tell a cause from the shared
// machine's noise; medians over rounds can.
func coldRequests(b *testing.B, targets []engineTarget, prompt string, rounds int) map[string]*coldSamples {
	out := map[string]*coldSamples{}
	for _, t := range targets {
		out[t.name] = &coldSamples{prompt: -1}
	}
	for round := range rounds {
		for i := range targets {
			t := targets[(round+i)%len(targets)]
			// Its own sub-benchmark: the engine's cleanup (kill) runs when it ends.
			b.Run(fmt.Sprintf("cold/%s/round=%d", t.name, round+1), func(b *testing.B) {
				started := time.Now()
				complete := t.start(b, 1).complete
				ready := time.Since(started)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				s, err := complete(ctx, prompt)
				if err != nil {
					b.Fatalf("%s: cold request: %v", t.name, err)
				}
				c := out[t.name]
				c.ready = append(c.ready, ready)
				c.first = append(c.first, s.latency)
				c.promptMS = append(c.promptMS, s.promptMS)
				if s.prompt >= 0 {
					c.prompt = s.prompt
				}
			})
		}
	}
	return out
}

// median returns the middle value of v (the mean of the two middle ones for
// an even count); 0 for none.
func median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printCold prints the cold-request table: per engine the median, the
// spread and every sample, the engine's own prompt evaluation time, the time
// to ready, and the ratio Serval : engine of the medians.
func printCold(w io.Writer, targets []engineTarget, cold map[string]*coldSamples, threads int) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	servalMedian := time.Duration(0)
	if c, ok := cold["serval"]; ok {
		servalMedian = median(c.first)
	}
	rounds := 0
	for _, c := range cold {
		rounds = max(rounds, len(c.first))
	}
	fmt.Fprintf(w, "\nCold request: the replay's first prompt, the first request after a fresh start; %d rounds, engines interleaved, %d thread(s) each\n\n",
		rounds, threads)
	fmt.Fprintln(w, "| engine | prompt tokens | cold ms median | min–max | samples ms | engine prompt eval ms median | start to ready ms median | Serval:peer cold |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		c := cold[t.name]
		if c == nil || len(c.first) == 0 {
			continue
		}
		var samples []string
		for _, d := range c.first {
			samples = append(samples, fmt.Sprintf("%.0f", ms(d)))
		}
		engineMS := "–"
		if m := median(c.promptMS); m >= 0 && !slices.Contains(c.promptMS, -1) {
			engineMS = fmt.Sprintf("%.0f", m)
		}
		prompt := "–"
		if c.prompt >= 0 {
			prompt = fmt.Sprint(c.prompt)
		}
		ratio := "–"
		if m := median(c.first); servalMedian > 0 && m > 0 {
			ratio = fmt.Sprintf("%.2f", float64(servalMedian)/float64(m))
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.0f–%.0f | %s | %s | %.0f | %s |\n", t.name, prompt,
			ms(median(c.first)), ms(slices.Min(c.first)), ms(slices.Max(c.first)), strings.Join(samples, ", "),
			engineMS, ms(median(c.ready)), ratio)
	}
	fmt.Fprintln(w, "\nRatios below 1 mean Serval's cold request is faster.")
}
