package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/servalhq/serval/server/engine"
)

// upstreamCollector exports each pool member's state at scrape time, so
// that the series follow the engines' own view (no copies to keep in sync).
type upstreamCollector struct {
	roles    []upstreamRole
	healthy  *prometheus.Desc
	inFlight *prometheus.Desc
}

type upstreamRole struct {
	name string
	eng  engine.Engine
}

func newUpstreamCollector(completion, chat engine.Engine) *upstreamCollector {
	c := &upstreamCollector{
		roles: []upstreamRole{{"completion", completion}},
		healthy: prometheus.NewDesc("serval_upstream_healthy",
			"1 while the upstream passes its health checks and takes traffic, 0 while its circuit is open.",
			[]string{"role", "upstream"}, nil),
		inFlight: prometheus.NewDesc("serval_upstream_in_flight",
			"Requests the upstream is serving now.",
			[]string{"role", "upstream"}, nil),
	}
	if chat != nil && chat != completion {
		c.roles = append(c.roles, upstreamRole{"chat", chat})
	}
	return c
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.inFlight
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.roles {
		seen := map[string]bool{} // one series per name, even if listed twice
		for _, u := range r.eng.Info().Upstreams {
			if seen[u.Name] {
				continue
			}
			seen[u.Name] = true
			healthy := 0.0
			if u.Healthy {
				healthy = 1
			}
			ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy, r.name, u.Name)
			ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(u.InFlight), r.name, u.Name)
		}
	}
}

// ObserveGeneration counts a generation served by a route outside this
// package (the OpenAI-compatible completions and chat of server/openaiapi)
// in the same engine metrics as /v1/completions.
func (s *Server) ObserveGeneration(u engine.Usage) { s.metrics.observeCompletion(u) }
