package bench

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0-100) of sorted values by
// linear interpolation between closest ranks; NaN for no values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[len(sorted)-1]
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// EditSimilarity is 1 - Levenshtein(a, b) / max(len(a), len(b)) over runes:
// 1 for equal strings, 0 for nothing in common.
func EditSimilarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 && len(rb) == 0 {
		return 1
	}
	d := levenshtein(ra, rb)
	return 1 - float64(d)/float64(max(len(ra), len(rb)))
}

func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// maxCompareRunes bounds the quality comparison (and its cost).
const maxCompareRunes = 200

// Compare scores a suggestion against what was typed next: exact when
// the typist went on to type exactly the suggestion, and the edit
// similarity between the suggestion and as many runes of what came next.
func Compare(suggestion, typedNext string) (exact bool, similarity float64) {
	s := truncateRunes(suggestion, maxCompareRunes)
	ref := truncateRunes(typedNext, len([]rune(s)))
	return strings.HasPrefix(typedNext, suggestion), EditSimilarity(s, ref)
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// Summary is the per-agent figures the report shows.
type Summary struct {
	Agent  string `json:"agent"`
	Method string `json:"method"`
	// Error says why the agent's run ended early ("" when it played every trace).
	Error string `json:"error,omitempty"`

	Keystrokes int `json:"keystrokes"`
	Answered   int `json:"answered"` // keystrokes that got a non-empty suggestion
	Shown      int `json:"shown"`    // ... before the next keystroke

	LatencyP50 Num `json:"latency_p50_ms"`
	LatencyP95 Num `json:"latency_p95_ms"`
	LatencyP99 Num `json:"latency_p99_ms"`
	// Latencies (ms, ascending) of answered keystrokes, for the CDF.
	Latencies []float64 `json:"latencies_ms"`

	Pauses         int `json:"pauses"`
	ShownPerPause  Num `json:"shown_per_pause"`
	RequestsPer100 Num `json:"server_requests_per_100_keys"`
	CacheShare     Num `json:"cache_share"` // keystrokes answered with no server request in between
	ExactMatch     Num `json:"exact_match"` // of shown suggestions
	EditSimilarity Num `json:"edit_similarity"`

	// ServerP50 is the median time the server took for the completion
	// requests this agent made (answered in full, through the proxy).
	ServerP50 Num `json:"server_p50_ms"`

	InitMs     Num `json:"init_ms"`
	CPUSeconds Num `json:"agent_cpu_s"`
	PeakRSSMB  Num `json:"agent_peak_rss_mb"`
	Errors     int `json:"errors"`

	// PromptReuse is the server's prompt tokens reused / (reused + evaluated)
	// during this agent's run; NaN when the server exposes no such counters.
	PromptReuse Num `json:"prompt_cache_reuse"`
}

// Summarize turns an agent's observations into its figures.
func Summarize(run *AgentRun) Summary {
	s := Summary{
		Agent:      run.Agent,
		Method:     run.Method,
		Keystrokes: len(run.Keys),
		InitMs:     Num(ms(run.InitLatency)),
		CPUSeconds: Num(run.Usage.CPU.Seconds()),
		PeakRSSMB:  Num(float64(run.Usage.PeakRSSKB) / 1024),
		Errors:     run.Errors,
	}
	var exact, sim float64
	var cached, shownAtPause int
	for _, k := range run.Keys {
		if k.Paused {
			s.Pauses++
		}
		if !k.Answered {
			continue
		}
		s.Answered++
		s.Latencies = append(s.Latencies, k.LatencyMs)
		if k.FromCache {
			cached++
		}
		if k.Shown {
			s.Shown++
			if k.Paused {
				shownAtPause++
			}
			e, sm := Compare(k.Text, k.Expected)
			if e {
				exact++
			}
			sim += sm
		}
	}
	sort.Float64s(s.Latencies)
	s.LatencyP50 = Num(Percentile(s.Latencies, 50))
	s.LatencyP95 = Num(Percentile(s.Latencies, 95))
	s.LatencyP99 = Num(Percentile(s.Latencies, 99))
	s.ServerP50 = Num(Percentile(run.ServerTimes, 50))
	s.ShownPerPause = ratio(float64(shownAtPause), float64(s.Pauses))
	s.RequestsPer100 = ratio(100*float64(run.Requests), float64(s.Keystrokes))
	s.CacheShare = ratio(float64(cached), float64(s.Keystrokes))
	s.ExactMatch = ratio(exact, float64(s.Shown))
	s.EditSimilarity = ratio(sim, float64(s.Shown))
	s.PromptReuse = Num(math.NaN())
	return s
}

func ratio(a, b float64) Num {
	if b == 0 {
		return Num(math.NaN())
	}
	return Num(a / b)
}

// Num is a figure that may be unknown (NaN): JSON null, "n/a" in tables.
type Num float64

// Known reports whether the figure was measured.
func (n Num) Known() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }

func (n Num) MarshalJSON() ([]byte, error) {
	if !n.Known() {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(n), 'g', 6, 64), nil
}

func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
