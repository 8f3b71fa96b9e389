package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/server/api"
)

// TypistConfig says how to play typists who ask for a completion on every
// key, as an agent without debounce does (issue 27's method): each typist
// has its own token and types bursts of BurstKeys keys KeyGap apart, then
// pauses for Pause; every key sends a completion request and abandons the
// previous unanswered one. A pause is served when the request sent at its
// start is answered 200 within the pause.
type TypistConfig struct {
	URL      string
	Tokens   []string // one per typist
	Duration time.Duration
	Traces   []bench.Trace // the text typed: typist i starts at trace i
	// BurstKeys (8), KeyGap (150 ms) and Pause (1.5 s) shape the typing.
	BurstKeys int
	KeyGap    time.Duration
	Pause     time.Duration
	// MaxPrefix and MaxSuffix are the bytes of prefix and suffix sent (1500
	// and 500: about 600 tokens, so the one-slot capacity of the test model
	// on a shared 2-core machine stays in the range issue 27 measured).
	MaxPrefix int
	MaxSuffix int
}

func (c *TypistConfig) setDefaults() {
	if c.BurstKeys <= 0 {
		c.BurstKeys = 8
	}
	if c.KeyGap <= 0 {
		c.KeyGap = 150 * time.Millisecond
	}
	if c.Pause <= 0 {
		c.Pause = 1500 * time.Millisecond
	}
	if c.MaxPrefix <= 0 {
		c.MaxPrefix = 1500
	}
	if c.MaxSuffix <= 0 {
		c.MaxSuffix = 500
	}
}

// TypistReport is the outcome of a typists run.
type TypistReport struct {
	Typists  int            `json:"typists"`
	Seconds  float64        `json:"seconds"`
	Requests int            `json:"requests"`
	ByStatus map[string]int `json:"by_status"` // "200", "409", "429", "503", "cancelled" (abandoned), "error"
	// Pauses counts the pauses that ended within the run; Served those
	// whose request was answered 200 within the pause.
	Pauses, Served int
	// PerTypist is each typist's served pauses; PerTypistInBurst its
	// requests answered 200 within a burst (before the next key: answered,
	// but no pause served).
	PerTypist        []int `json:"per_typist_served"`
	PerTypistInBurst []int `json:"per_typist_answered_in_burst"`
	// Answered is the 200 answers of every request, per second.
	AnsweredPerSec float64 `json:"answered_per_s"`
	// P50 and P95 are the latency of the served pauses' answers, in ms.
	P50, P95 float64
}

// NeverServedInBurst counts the typists never served who were answered
// within a burst all the same: their turn went to a key typed past.
func (r *TypistReport) NeverServedInBurst() int {
	n := 0
	for i, s := range r.PerTypist {
		if s == 0 && r.PerTypistInBurst[i] > 0 {
			n++
		}
	}
	return n
}

// OfferedPerSec is the pauses offered per second.
func (r *TypistReport) OfferedPerSec() float64 { return float64(r.Pauses) / r.Seconds }

// ServedShare is the share of pauses served.
func (r *TypistReport) ServedShare() float64 {
	if r.Pauses == 0 {
		return math.NaN()
	}
	return float64(r.Served) / float64(r.Pauses)
}

// Ideal is the share of pauses one slot serving capacity completions per
// second could serve at best: min(1, capacity / offered).
func (r *TypistReport) Ideal(capacity float64) float64 {
	return math.Min(1, capacity/r.OfferedPerSec())
}

// Jain is Jain's fairness index of the typists' served pauses: 1 when all
// got the same, 1/n when one got them all (NaN when none was served).
func (r *TypistReport) Jain() float64 { return Jain(r.PerTypist) }

// NeverServed counts the typists who saw no suggestion in the run.
func (r *TypistReport) NeverServed() int { return Unserved(r.PerTypist) }

// Unserved counts the zeros of served (per client: pauses served).
func Unserved(served []int) int {
	n := 0
	for _, s := range served {
		if s == 0 {
			n++
		}
	}
	return n
}

// Jain is Jain's fairness index of xs: (Σx)² / (n·Σx²).
func Jain(xs []int) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return math.NaN()
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// RunTypists plays one typist per token for cfg.Duration (or until ctx ends).
func RunTypists(ctx context.Context, cfg TypistConfig) (*TypistReport, error) {
	cfg.setDefaults()
	if len(cfg.Tokens) == 0 || cfg.Duration <= 0 || len(cfg.Traces) == 0 {
		return nil, errors.New("load: need tokens, a duration and traces")
	}
	n := len(cfg.Tokens)
	transport := &http.Transport{MaxIdleConnsPerHost: 2 * n, MaxConnsPerHost: 4 * n}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	deadline := start.Add(cfg.Duration)

	var mu sync.Mutex
	rep := &TypistReport{Typists: n, ByStatus: map[string]int{}, PerTypist: make([]int, n), PerTypistInBurst: make([]int, n)}
	var served []float64
	answered := 0
	var wg sync.WaitGroup
	for i, tok := range cfg.Tokens {
		client, err := api.NewClient(cfg.URL, tok, httpClient)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			t := typist{cfg: cfg, client: client, trace: i % len(cfg.Traces)}
			t.play(ctx, time.Duration(i)*cfg.Pause/time.Duration(n), deadline, func(status string, pause, inBurst bool, lat time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				rep.Requests++
				rep.ByStatus[status]++
				if status == "200" {
					answered++
					if inBurst {
						rep.PerTypistInBurst[i]++
					}
				}
				if pause {
					rep.Pauses++
					if status == "200" && lat <= cfg.Pause {
						rep.Served++
						rep.PerTypist[i]++
						served = append(served, float64(lat)/float64(time.Millisecond))
					}
				}
			})
		})
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.AnsweredPerSec = float64(answered) / rep.Seconds
	sort.Float64s(served)
	if len(served) > 0 {
		rep.P50, rep.P95 = bench.Percentile(served, 50), bench.Percentile(served, 95)
	}
	return rep, nil
}

// typist is one simulated user.
type typist struct {
	cfg    TypistConfig
	client *api.Client
	trace  int
	text   []byte
	off    int
	key    int
}

// next types one key, moving to the next trace when one is done.
func (t *typist) next() {
	if t.text == nil || t.key >= len(t.cfg.Traces[t.trace].Keys) {
		if t.text != nil {
			t.trace = (t.trace + 1) % len(t.cfg.Traces)
		}
		tr := t.cfg.Traces[t.trace]
		t.text, t.off, t.key = []byte(tr.Text), tr.Offset, 0
	}
	if keys := t.cfg.Traces[t.trace].Keys; t.key < len(keys) {
		k := keys[t.key]
		t.key++
		t.text = append(t.text[:t.off], append([]byte(k.Text), t.text[t.off:]...)...)
		t.off += len(k.Text)
	}
}

// request is the completion request for where the typist is now.
func (t *typist) request() *api.CompletionRequest {
	return &api.CompletionRequest{Language: t.cfg.Traces[t.trace].LanguageID, Segments: &api.Segments{
		Prefix: string(t.text[max(0, t.off-t.cfg.MaxPrefix):t.off]),
		Suffix: string(t.text[t.off:min(len(t.text), t.off+t.cfg.MaxSuffix)]),
	}}
}

// play types bursts and pauses until ctx ends. report gets each request's
// outcome, saying whether it was a pause's request or a key within a burst;
// pauses that would end after deadline are neither (the run cut them short).
func (t *typist) play(ctx context.Context, offset time.Duration, deadline time.Time, report func(status string, pause, inBurst bool, lat time.Duration)) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	cancelPrev := context.CancelFunc(func() {})
	defer func() { cancelPrev() }()
	if !sleep(ctx, offset) {
		return
	}
	for ctx.Err() == nil {
		for k := range t.cfg.BurstKeys {
			if k > 0 && !sleep(ctx, t.cfg.KeyGap) {
				return
			}
			t.next()
			cancelPrev() // abandon the previous unanswered request
			rctx, rcancel := context.WithCancel(ctx)
			cancelPrev = rcancel
			pause, inBurst := k == t.cfg.BurstKeys-1, k < t.cfg.BurstKeys-1
			if pause && time.Now().Add(t.cfg.Pause).After(deadline) {
				pause = false // the run ends within this pause
			}
			req := t.request()
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer rcancel()
				began := time.Now()
				_, err := t.client.Complete(rctx, req)
				lat := time.Since(began)
				st := status(err, rctx, ctx)
				if ctx.Err() != nil && st == "cancelled" {
					if pause {
						report("cancelled", true, false, lat) // unanswered when the run ended
					}
					return
				}
				report(st, pause, inBurst, lat)
			}()
		}
		if !sleep(ctx, t.cfg.Pause) {
			return
		}
	}
}

// Capacity measures what one client gets back to back: completions per
// second over d, each at a different place of the traces.
func Capacity(ctx context.Context, url, token string, traces []bench.Trace, d time.Duration) (float64, error) {
	client, err := api.NewClient(url, token, nil)
	if err != nil {
		return 0, err
	}
	t := typist{cfg: TypistConfig{Traces: traces}, client: client}
	t.cfg.setDefaults()
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		t.next()
		req := t.request()
		rctx, cancel := context.WithTimeout(ctx, time.Minute) // a loaded machine is slow, not broken
		_, err := client.Complete(rctx, req)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("load: capacity request: %w", err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// TypistRow is one line of the overload table.
func (r *TypistReport) TypistRow(label string, capacity float64) string {
	ideal := r.Ideal(capacity)
	return fmt.Sprintf("| %s | %d | %.1f | %.1f | %.0f %% | %.0f %% | %.2f | %.2f | %d | %.1f (%.0f %%) | %.0f / %.0f | %d | %d |",
		label, r.Typists, capacity, r.OfferedPerSec(), 100*r.ServedShare(), 100*ideal, r.ServedShare()/ideal, r.Jain(),
		r.NeverServed(), r.AnsweredPerSec, 100*r.AnsweredPerSec/capacity, r.P50, r.P95, r.ByStatus["503"]+r.ByStatus["429"], r.Requests)
}

// TypistHeader is the overload table's header, TypistRow's columns
// followed by extra ones (each row's own cells after TypistRow's).
func TypistHeader(extra ...string) string {
	cols := append([]string{"binary", "typists", "capacity (/s)", "pauses offered (/s)", "served", "ideal", "served / ideal", "Jain",
		"never served", "answered /s (of capacity)", "served latency p50 / p95 (ms)", "503+429", "requests"}, extra...)
	return "| " + strings.Join(cols, " | ") + " |\n|" + strings.Repeat("---|", len(cols))
}
