package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// ParseMetrics reads Prometheus text exposition format: each metric name
// maps to the sum of its samples over all labels, and each labelled sample
// also stands under its own series key, the name and label block as the
// server wrote them (MetricAnsweredCompletions). Malformed lines are skipped.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, series := line, ""
		rest := ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			// Label values may contain '}' inside quotes; find the closing brace outside them.
			end, inQuote := -1, false
			for i := 1; i < len(rest); i++ {
				switch rest[i] {
				case '\\':
					i++
				case '"':
					inQuote = !inQuote
				case '}':
					if !inQuote {
						end = i
					}
				}
				if end >= 0 {
					break
				}
			}
			if end < 0 {
				continue
			}
			series = name + rest[:end+1]
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
		if series != "" {
			out[series] += v
		}
	}
	return out, s.Err()
}

// ScrapeMetrics reads the server's /metrics.
func ScrapeMetrics(ctx context.Context, baseURL, token string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// Serval's counters (server/httpapi/metrics.go).
const (
	MetricPromptReused    = "serval_prompt_tokens_reused_total"
	MetricPromptEvaluated = "serval_prompt_tokens_evaluated_total"
	MetricGenerated       = "serval_generated_tokens_total"
	// MetricAnsweredCompletions is the series of completion requests
	// answered 200 (labels in the order the Prometheus client writes them).
	MetricAnsweredCompletions = `serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"}`
)

// PromptReuse is the share of prompt tokens served from the KV cache
// between two scrapes; NaN when the counters are missing or did not move.
func PromptReuse(before, after map[string]float64) Num {
	if before == nil || after == nil {
		return Num(math.NaN())
	}
	_, ok1 := after[MetricPromptReused]
	_, ok2 := after[MetricPromptEvaluated]
	if !ok1 || !ok2 {
		return Num(math.NaN())
	}
	reused := after[MetricPromptReused] - before[MetricPromptReused]
	evaluated := after[MetricPromptEvaluated] - before[MetricPromptEvaluated]
	return ratio(reused, reused+evaluated)
}

// Result is the whole report: what was run and each agent's figures.
type Result struct {
	Seed       uint64  `json:"seed"`
	Speed      float64 `json:"speed"`
	Traces     []Trace `json:"traces"`
	Keystrokes int     `json:"keystrokes_per_agent"`
	Server     string  `json:"server"`
	Oracle     bool    `json:"oracle"` // completions came from the oracle, not a model
	// OracleText: the model's server timed every completion, the oracle
	// wrote its text (--oracle-text).
	OracleText bool      `json:"oracle_text,omitempty"`
	Agents     []Summary `json:"agents"`
	// Keys is every keystroke's outcome, per agent, in play order.
	Keys map[string][]KeyResult `json:"keys"`
}

type row struct {
	name   string
	value  func(Summary) Num
	format string
	// ratio: whether other/first reads as "how many times more" here
	// (counts, times, sizes); shares and quality get no ratio.
	ratio bool
}

var rows = []row{
	{"spawn → initialize (ms)", func(s Summary) Num { return s.InitMs }, "%.0f", true},
	{"latency p50 (ms)", func(s Summary) Num { return s.LatencyP50 }, "%.1f", true},
	{"latency p95 (ms)", func(s Summary) Num { return s.LatencyP95 }, "%.1f", true},
	{"latency p99 (ms)", func(s Summary) Num { return s.LatencyP99 }, "%.1f", true},
	{"server time per request p50 (ms)", func(s Summary) Num { return s.ServerP50 }, "%.0f", true},
	{"keystrokes answered", func(s Summary) Num { return Num(s.Answered) }, "%.0f", true},
	{"shown before next key", func(s Summary) Num { return Num(s.Shown) }, "%.0f", true},
	{"suggestions shown per pause", func(s Summary) Num { return s.ShownPerPause }, "%.2f", true},
	{"server requests / 100 keys", func(s Summary) Num { return s.RequestsPer100 }, "%.1f", true},
	{"answered from cache (share of keys)", func(s Summary) Num { return s.CacheShare }, "%.2f", true},
	{"exact match (of shown)", func(s Summary) Num { return s.ExactMatch }, "%.2f", false},
	{"edit similarity (of shown)", func(s Summary) Num { return s.EditSimilarity }, "%.2f", false},
	{"agent CPU (s)", func(s Summary) Num { return s.CPUSeconds }, "%.2f", true},
	{"agent peak RSS (MB)", func(s Summary) Num { return s.PeakRSSMB }, "%.1f", true},
	{"server prompt-cache reuse", func(s Summary) Num { return s.PromptReuse }, "%.2f", false},
	{"LSP errors", func(s Summary) Num { return Num(s.Errors) }, "%.0f", false},
}

func (n Num) format(f string) string {
	if !n.Known() {
		return "n/a"
	}
	return fmt.Sprintf(f, float64(n))
}

// Ratio is other / base; NaN when either is unknown or base is 0.
func Ratio(base, other Num) Num {
	if !base.Known() || !other.Known() || base == 0 {
		return Num(math.NaN())
	}
	return other / base
}

// Markdown renders the figures as a table, one column per agent, and a
// ratio column per other agent relative to the first.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure |")
	for _, a := range r.Agents {
		fmt.Fprintf(&b, " %s |", a.Agent)
	}
	for _, a := range r.Agents[min(1, len(r.Agents)):] {
		fmt.Fprintf(&b, " %s / %s |", a.Agent, r.Agents[0].Agent)
	}
	b.WriteString("\n|---|")
	for range len(r.Agents) + max(0, len(r.Agents)-1) {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "| method |")
	for _, a := range r.Agents {
		fmt.Fprintf(&b, " %s |", strings.TrimPrefix(a.Method, "textDocument/"))
	}
	for range r.Agents[min(1, len(r.Agents)):] {
		b.WriteString(" |")
	}
	b.WriteString("\n")
	for _, rw := range rows {
		fmt.Fprintf(&b, "| %s |", rw.name)
		for _, a := range r.Agents {
			fmt.Fprintf(&b, " %s |", rw.value(a).format(rw.format))
		}
		for _, a := range r.Agents[min(1, len(r.Agents)):] {
			if rw.ratio {
				fmt.Fprintf(&b, " %s |", Ratio(rw.value(r.Agents[0]), rw.value(a)).format("%.2f×"))
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	for _, a := range r.Agents {
		if a.Error != "" {
			fmt.Fprintf(&b, "\n%s did not finish; its figures are partial: %s\n", a.Agent, a.Error)
		}
	}
	return b.String()
}

// Ratios lists, for each agent after the first, other/first for the
// figures where that reads as "how many times more".
func (r *Result) Ratios() string {
	if len(r.Agents) < 2 {
		return ""
	}
	var b strings.Builder
	base := r.Agents[0]
	for _, a := range r.Agents[1:] {
		fmt.Fprintf(&b, "%s relative to %s:\n", a.Agent, base.Agent)
		for _, rw := range rows {
			if rw.ratio {
				fmt.Fprintf(&b, "  %-38s %s\n", rw.name, Ratio(rw.value(base), rw.value(a)).format("%.2f×"))
			}
		}
	}
	return b.String()
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// CDFSVG draws the latency CDF of each agent (answered keystrokes).
func (r *Result) CDFSVG() string {
	const w, h, left, right, top, bottom = 720.0, 420.0, 60.0, 20.0, 30.0, 50.0
	maxX := 1.0
	for _, a := range r.Agents {
		if n := len(a.Latencies); n > 0 {
			maxX = math.Max(maxX, a.Latencies[n-1])
		}
	}
	maxX = niceCeil(maxX)
	px := func(x float64) float64 { return left + x/maxX*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - y*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">Keystroke-to-suggestion latency CDF</text>`+"\n", left)
	for i := 0; i <= 5; i++ {
		x := maxX * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(x), py(0), px(x), py(1))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", px(x), py(0)+16, x)
		y := float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(0), py(y), px(maxX), py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.1f</text>`+"\n", px(0)-6, py(y)+4, y)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">milliseconds</text>`+"\n", px(maxX/2), h-12)
	for i, a := range r.Agents {
		color := palette[i%len(palette)]
		n := len(a.Latencies)
		if n > 0 {
			var pts []string
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(a.Latencies[0]), py(0)))
			for j, v := range a.Latencies {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(v), py(float64(j)/float64(n))),
					fmt.Sprintf("%.1f,%.1f", px(v), py(float64(j+1)/float64(n))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		// Legend bottom right, where CDFs have not risen yet.
		ly := h - bottom - 12 - float64(len(r.Agents)-1-i)*18
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", w-right-200, ly-10, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s (n=%d)</text>`+"\n", w-right-182, ly, xmlEscape(a.Agent), n)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func niceCeil(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
