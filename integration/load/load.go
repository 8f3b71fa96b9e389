// Package load plays many agents typing at once against one serval, over
// HTTP on loopback, for a bounded time, and samples the server meanwhile:
// latency percentiles, requests by status, queue depth, resident memory,
// goroutines and open file descriptors over time. Each simulated agent
// types a real trace (integration/bench) at a typist's pace and asks for a
// completion when the typist pauses longer than the debounce, cancelling
// its previous request as serval-agent does; it is the HTTP traffic of an
// agent, not an agent process (100 of those would measure this machine,
// not the server).
package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/servalhq/serval/integration/bench"
	"github.com/servalhq/serval/server/api"
)

// Config says what to play.
type Config struct {
	URL, Token string
	Agents     int
	Duration   time.Duration
	Traces     []bench.Trace // agent i types Traces[i%len], then the next ones
	// Debounce is the pause after which an agent asks (150 ms, the agent's
	// starting rhythm).
	Debounce time.Duration
	// SampleEvery is the sampling period of the server's metrics (1 s).
	SampleEvery time.Duration
	MaxPrefix   int // bytes of prefix sent (4000)
	MaxSuffix   int // bytes of suffix sent (1000)
	// Timeout bounds one request, as the agent's completion.timeout (4 s).
	Timeout time.Duration
}

// Sample is the server's state at one moment.
type Sample struct {
	AtSec      float64 `json:"at_s"`
	QueueDepth float64 `json:"queue_depth"`
	SlotsBusy  float64 `json:"slots_busy"`
	InFlight   float64 `json:"http_in_flight"`
	RSSMB      float64 `json:"rss_mb"`
	Goroutines float64 `json:"goroutines"`
	FDs        float64 `json:"open_fds"`
}

// Report is the outcome of a run.
type Report struct {
	Agents   int            `json:"agents"`
	Seconds  float64        `json:"seconds"`
	Requests int            `json:"requests"`
	ByStatus map[string]int `json:"by_status"` // "200", "409" (replaced in the queue), "429", "503", "cancelled" (superseded), "timeout", "error"
	// Latency of the answered (200) requests, in milliseconds.
	P50, P95, P99, Max float64
	Samples            []Sample `json:"samples"`
	// Slopes per minute over the samples (least squares), the leak check.
	RSSSlopeMBPerMin     float64 `json:"rss_slope_mb_per_min"`
	GoroutineSlopePerMin float64 `json:"goroutine_slope_per_min"`
	FDSlopePerMin        float64 `json:"fd_slope_per_min"`
}

func (c *Config) setDefaults() {
	if c.Debounce <= 0 {
		c.Debounce = 150 * time.Millisecond
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = time.Second
	}
	if c.MaxPrefix <= 0 {
		c.MaxPrefix = 4000
	}
	if c.MaxSuffix <= 0 {
		c.MaxSuffix = 1000
	}
	if c.Timeout <= 0 {
		c.Timeout = 4 * time.Second
	}
}

type outcome struct {
	status  string
	latency time.Duration
}

// Run plays cfg.Agents agents for cfg.Duration (or until ctx ends) and
// returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if cfg.Agents <= 0 || cfg.Duration <= 0 || len(cfg.Traces) == 0 {
		return nil, errors.New("load: need agents, a duration and traces")
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Agents * 2, MaxConnsPerHost: cfg.Agents * 2}}
	defer httpClient.CloseIdleConnections()
	if _, err := api.NewClient(cfg.URL, cfg.Token, httpClient); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()

	outcomes := make(chan outcome, 1024)
	var collected []outcome
	collectDone := make(chan struct{})
	go func() {
		for o := range outcomes {
			collected = append(collected, o)
		}
		close(collectDone)
	}()

	var samples []Sample
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(cfg.SampleEvery)
		defer tick.Stop()
		for {
			if s, err := sample(ctx, cfg, start); err == nil {
				samples = append(samples, s)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var agents sync.WaitGroup
	for i := range cfg.Agents {
		agents.Add(1)
		go func() {
			defer agents.Done()
			// Each agent is its own editor session, as serval-agent
			// processes are: the agents share a token, and the server's
			// queue keeps one request per token and session.
			client, _ := api.NewClient(cfg.URL, cfg.Token, httpClient)
			client.Header = http.Header{api.SessionHeader: {fmt.Sprintf("load-agent-%d", i)}}
			playAgent(ctx, cfg, client, i, outcomes)
		}()
	}
	agents.Wait()
	close(outcomes)
	<-collectDone
	<-sampleDone
	return report(cfg, time.Since(start), collected, samples), nil
}

// playAgent types traces in a loop until ctx ends.
func playAgent(ctx context.Context, cfg Config, client *api.Client, agent int, outcomes chan<- outcome) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	var cancelPrev context.CancelFunc = func() {}
	defer func() { cancelPrev() }()
	// Agents start spread over the first second, not all at one instant.
	if !sleep(ctx, time.Duration(agent)*time.Second/time.Duration(cfg.Agents)) {
		return
	}
	for n := agent; ctx.Err() == nil; n++ {
		tr := cfg.Traces[n%len(cfg.Traces)]
		text := []byte(tr.Text)
		off := tr.Offset
		for k, key := range tr.Keys {
			if !sleep(ctx, time.Duration(key.Delay*float64(time.Millisecond))) {
				return
			}
			text = append(text[:off], append([]byte(key.Text), text[off:]...)...)
			off += len(key.Text)
			if k+1 < len(tr.Keys) && time.Duration(tr.Keys[k+1].Delay*float64(time.Millisecond)) < cfg.Debounce {
				continue // still typing: the debounce has not fired
			}
			cancelPrev() // the agent supersedes its request in flight
			rctx, rcancel := context.WithTimeout(ctx, cfg.Timeout)
			cancelPrev = rcancel
			req := &api.CompletionRequest{Language: tr.LanguageID, Segments: &api.Segments{
				Prefix: string(text[max(0, off-cfg.MaxPrefix):off]),
				Suffix: string(text[off:min(len(text), off+cfg.MaxSuffix)]),
			}}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer rcancel()
				began := time.Now()
				_, err := client.Complete(rctx, req)
				o := outcome{status: status(err, rctx, ctx), latency: time.Since(began)}
				if ctx.Err() != nil && o.status == "cancelled" {
					return // the run ended, not the agent's choice
				}
				outcomes <- o
			}()
		}
	}
}

func status(err error, rctx, runCtx context.Context) string {
	switch {
	case err == nil:
		return "200"
	case api.StatusCode(err) != 0:
		return strconv.Itoa(api.StatusCode(err))
	case errors.Is(rctx.Err(), context.DeadlineExceeded) && runCtx.Err() == nil:
		return "timeout"
	case errors.Is(err, context.Canceled) || rctx.Err() != nil:
		return "cancelled"
	default:
		return "error"
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func sample(ctx context.Context, cfg Config, start time.Time) (Sample, error) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := bench.ScrapeMetrics(sctx, cfg.URL, cfg.Token)
	if err != nil {
		return Sample{}, err
	}
	return Sample{
		AtSec:      time.Since(start).Seconds(),
		QueueDepth: m["serval_queue_depth"],
		SlotsBusy:  m["serval_slots_busy"],
		InFlight:   m["serval_http_requests_in_flight"],
		RSSMB:      m["process_resident_memory_bytes"] / (1 << 20),
		Goroutines: m["go_goroutines"],
		FDs:        m["process_open_fds"],
	}, nil
}

func report(cfg Config, elapsed time.Duration, outcomes []outcome, samples []Sample) *Report {
	r := &Report{Agents: cfg.Agents, Seconds: elapsed.Seconds(), Requests: len(outcomes), ByStatus: map[string]int{}, Samples: samples}
	var ok []float64
	for _, o := range outcomes {
		r.ByStatus[o.status]++
		if o.status == "200" {
			ok = append(ok, float64(o.latency)/float64(time.Millisecond))
		}
	}
	sort.Float64s(ok)
	if len(ok) > 0 {
		r.P50, r.P95, r.P99, r.Max = bench.Percentile(ok, 50), bench.Percentile(ok, 95), bench.Percentile(ok, 99), ok[len(ok)-1]
	}
	xs := make([]float64, len(samples))
	series := func(f func(Sample) float64) []float64 {
		ys := make([]float64, len(samples))
		for i, s := range samples {
			xs[i], ys[i] = s.AtSec/60, f(s)
		}
		return ys
	}
	r.RSSSlopeMBPerMin = Slope(xs, series(func(s Sample) float64 { return s.RSSMB }))
	r.GoroutineSlopePerMin = Slope(xs, series(func(s Sample) float64 { return s.Goroutines }))
	r.FDSlopePerMin = Slope(xs, series(func(s Sample) float64 { return s.FDs }))
	return r
}

// Slope is the least-squares slope of ys over xs; NaN with fewer than two
// distinct xs.
func Slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}

// Table formats the report for a terminal and for docs/reliability.md.
func (r *Report) Table() string {
	keys := make([]string, 0, len(r.ByStatus))
	for k := range r.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	statuses := ""
	for _, k := range keys {
		statuses += fmt.Sprintf(" %s=%d", k, r.ByStatus[k])
	}
	s := fmt.Sprintf("agents %d, %.0f s, %d requests (%.1f/s):%s\n", r.Agents, r.Seconds, r.Requests, float64(r.Requests)/r.Seconds, statuses)
	s += fmt.Sprintf("latency of answered requests: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms\n", r.P50, r.P95, r.P99, r.Max)
	var maxQ, maxRSS, maxG, maxFD float64
	for _, x := range r.Samples {
		maxQ, maxRSS, maxG, maxFD = math.Max(maxQ, x.QueueDepth), math.Max(maxRSS, x.RSSMB), math.Max(maxG, x.Goroutines), math.Max(maxFD, x.FDs)
	}
	s += fmt.Sprintf("samples %d: max queue depth %.0f, max RSS %.1f MB, max goroutines %.0f, max open fds %.0f\n", len(r.Samples), maxQ, maxRSS, maxG, maxFD)
	s += fmt.Sprintf("slopes per minute: RSS %+.2f MB, goroutines %+.2f, open fds %+.2f\n", r.RSSSlopeMBPerMin, r.GoroutineSlopePerMin, r.FDSlopePerMin)
	return s
}
