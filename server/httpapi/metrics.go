package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servalhq/serval/server/engine"
)

// metrics are the Prometheus series /metrics exposes.
type metrics struct {
	latency         *prometheus.HistogramVec
	inFlight        prometheus.Gauge
	promptEvaluated prometheus.Counter
	promptReused    prometheus.Counter
	generated       prometheus.Counter
	tokensPerSecond prometheus.Histogram
	completions     *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, eng engine.Engine) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "serval_http_request_duration_seconds",
			Help:    "Time from request to the end of the response, by route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "serval_http_requests_in_flight",
			Help: "Requests being served now.",
		}),
		promptEvaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "serval_prompt_tokens_evaluated_total",
			Help: "Prompt tokens the engine evaluated.",
		}),
		promptReused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "serval_prompt_tokens_reused_total",
			Help: "Prompt tokens served from a slot's KV cache instead of being evaluated.",
		}),
		generated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "serval_generated_tokens_total",
			Help: "Tokens generated.",
		}),
		tokensPerSecond: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "serval_generation_tokens_per_second",
			Help:    "Generation speed of each completion.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 .. 8192
		}),
		completions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serval_completions_total",
			Help: "Engine generations by why they stopped (eos, max_tokens, stop, cancelled, error).",
		}, []string{"stop_reason"}),
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "serval_queue_depth",
		Help: "Requests waiting for an engine slot.",
	}, func() float64 { return float64(eng.Info().Queued) })
	busy := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "serval_slots_busy",
		Help: "Engine slots generating now.",
	}, func() float64 { return float64(eng.Info().Busy) })
	slots := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "serval_slots",
		Help: "Engine slots (--parallel).",
	}, func() float64 { return float64(eng.Info().Slots) })
	reg.MustRegister(m.latency, m.inFlight, m.promptEvaluated, m.promptReused, m.generated, m.tokensPerSecond, m.completions, queue, busy, slots)
	return m
}

func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// instrument counts in-flight requests and observes their latency under
// route ("" means the pattern the mux matched).
func (m *metrics) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		label := route
		if label == "" {
			label = r.Pattern
		}
		start := time.Now()
		m.inFlight.Inc()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			m.inFlight.Dec()
			m.latency.WithLabelValues(label, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), startKey{}, start)))
	})
}

func (m *metrics) observeCompletion(u engine.Usage) {
	if u.StopReason != "" {
		m.completions.WithLabelValues(u.StopReason).Inc()
	}
	m.promptEvaluated.Add(float64(u.EvaluatedTokens))
	m.promptReused.Add(float64(u.ReusedTokens))
	m.generated.Add(float64(u.GeneratedTokens))
	if u.GeneratedTokens > 0 && u.Generation > 0 {
		m.tokensPerSecond.Observe(float64(u.GeneratedTokens) / u.Generation.Seconds())
	}
}

type startKey struct{}

// requestStart is when the request reached the server (before auth), so
// that the reported overhead includes auth and rate limiting.
func requestStart(r *http.Request) time.Time {
	if t, ok := r.Context().Value(startKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// statusRecorder remembers the status code; Unwrap keeps Flush reachable
// through http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Flush sends what was written so far: streamed routes reach the client
// event by event through w.(http.Flusher) as through ResponseController.
func (s *statusRecorder) Flush() {
	s.wroteHeader = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// registerRuntimeCollectors exports the process's own health (goroutines,
// resident memory, open file descriptors) beside the request metrics, so
// that a soak can watch for leaks; a registry that has them already keeps
// its own.
func registerRuntimeCollectors(reg *prometheus.Registry) {
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		var already prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &already) {
			panic(err)
		}
	}
}
