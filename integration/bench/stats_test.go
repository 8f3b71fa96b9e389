package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	v := []float64{10, 20, 30, 40, 50}
	for _, c := range []struct{ p, want float64 }{
		{0, 10}, {50, 30}, {100, 50}, {25, 20}, {95, 48}, {99, 49.6},
	} {
		if got := Percentile(v, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
	if got := Percentile([]float64{7}, 99); got != 7 {
		t.Errorf("single value p99 = %v", got)
	}
}

func TestEditSimilarityAndCompare(t *testing.T) {
	if s := EditSimilarity("return x", "return x"); s != 1 {
		t.Errorf("equal strings: %v", s)
	}
	if s := EditSimilarity("abcd", "wxyz"); s != 0 {
		t.Errorf("disjoint strings: %v", s)
	}
	if s := EditSimilarity("kitten", "sitting"); math.Abs(s-(1-3.0/7)) > 1e-9 {
		t.Errorf("kitten/sitting: %v", s)
	}
	if s := EditSimilarity("", ""); s != 1 {
		t.Errorf("empty strings: %v", s)
	}
	exact, sim := Compare("return a", "return a + b\n}")
	if !exact || sim != 1 {
		t.Errorf("prefix suggestion: exact=%v sim=%v", exact, sim)
	}
	exact, sim = Compare("return b", "return a + b")
	if exact || math.Abs(sim-7.0/8) > 1e-9 {
		t.Errorf("one-off suggestion: exact=%v sim=%v", exact, sim)
	}
	// Runes, not bytes.
	if _, sim := Compare("é😀", "é😀x"); sim != 1 {
		t.Errorf("multibyte: %v", sim)
	}
}

func TestSummarize(t *testing.T) {
	at := time.Unix(1000, 0)
	run := &AgentRun{
		Agent: "a", Method: methodInline, Requests: 2, InitLatency: 250 * time.Millisecond,
		Usage: ProcUsage{CPU: 1500 * time.Millisecond, PeakRSSKB: 2048},
		Keys: []KeyResult{
			{At: at, Paused: false, Answered: true, LatencyMs: 10, Shown: true, FromCache: true, Text: "ab", Expected: "abc"},
			{At: at, Paused: true, Answered: true, LatencyMs: 30, Shown: true, Text: "xx", Expected: "bc"},
			{At: at, Paused: true, Answered: true, LatencyMs: 900, Shown: false, Text: "c", Expected: "c"},
			{At: at, Paused: false},
		},
	}
	s := Summarize(run)
	check := func(name string, got Num, want float64) {
		t.Helper()
		if math.Abs(float64(got)-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if s.Keystrokes != 4 || s.Answered != 3 || s.Shown != 2 || s.Pauses != 2 {
		t.Fatalf("counts: %+v", s)
	}
	check("p50", s.LatencyP50, 30)
	check("shown per pause", s.ShownPerPause, 0.5)
	check("requests per 100", s.RequestsPer100, 50)
	check("cache share", s.CacheShare, 0.25)
	check("exact", s.ExactMatch, 0.5)
	check("similarity", s.EditSimilarity, 0.5)
	check("cpu", s.CPUSeconds, 1.5)
	check("rss", s.PeakRSSMB, 2)
	check("init", s.InitMs, 250)
	if s.PromptReuse.Known() {
		t.Error("prompt reuse known without metrics")
	}
	// NaN figures are null in JSON, not a marshalling error.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"prompt_cache_reuse":null`)) {
		t.Errorf("JSON: %s", data)
	}
	var back Summary
	if err := json.Unmarshal(data, &back); err != nil || back.LatencyP50 != 30 || back.PromptReuse.Known() {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

const metricsSample = `# HELP serval_prompt_tokens_evaluated_total Prompt tokens the engine evaluated.
# TYPE serval_prompt_tokens_evaluated_total counter
serval_prompt_tokens_evaluated_total 300
serval_prompt_tokens_reused_total 100
serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"} 4
serval_http_request_duration_seconds_count{code="401",route="weird}label"} 1
garbage line here
`

func TestParseMetricsAndPromptReuse(t *testing.T) {
	before, err := ParseMetrics(strings.NewReader(metricsSample))
	if err != nil {
		t.Fatal(err)
	}
	if before[MetricPromptEvaluated] != 300 || before["serval_http_request_duration_seconds_count"] != 5 ||
		before[MetricAnsweredCompletions] != 4 || before[`serval_http_request_duration_seconds_count{code="401",route="weird}label"}`] != 1 {
		t.Fatalf("parsed %v", before)
	}
	after := map[string]float64{MetricPromptEvaluated: 400, MetricPromptReused: 400}
	if got := PromptReuse(before, after); math.Abs(float64(got)-0.75) > 1e-9 {
		t.Errorf("reuse = %v, want 0.75", got)
	}
	if PromptReuse(before, before).Known() {
		t.Error("reuse known when counters did not move")
	}
	if PromptReuse(nil, after).Known() || PromptReuse(before, map[string]float64{}).Known() {
		t.Error("reuse known without counters")
	}
}

func TestMarkdownAndSVG(t *testing.T) {
	r := &Result{Agents: []Summary{
		{Agent: "serval", Method: methodInline, LatencyP50: 10, Latencies: []float64{5, 10, 20}, PromptReuse: Num(math.NaN())},
		{Agent: "tabby", Method: methodCompletion, LatencyP50: 300, Latencies: []float64{300}, PromptReuse: 0.5},
	}}
	md := r.Markdown()
	for _, want := range []string{"| figure | serval | tabby | tabby / serval |", "| latency p50 (ms) | 10.0 | 300.0 | 30.00× |", "| server prompt-cache reuse | n/a | 0.50 | |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(r.Ratios(), "30.00×") {
		t.Errorf("ratios: %s", r.Ratios())
	}
	svg := r.CDFSVG()
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<polyline") != 2 || !strings.Contains(svg, "tabby (n=1)") {
		t.Errorf("svg:\n%s", svg)
	}
}

func TestParseStat(t *testing.T) {
	line := "1234 (node (x) y) S 99 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 1000 100\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 99 || st.utime != 250 || st.stime != 50 {
		t.Fatalf("%+v", st)
	}
	if _, err := parseStat([]byte("1 (x) S 1")); err == nil {
		t.Fatal("short stat parsed")
	}
}

func TestSuggestionText(t *testing.T) {
	// tabby-agent: newText repeats the word before the cursor over its range.
	tabby := `{"isIncomplete":false,"items":[{"label":"x","textEdit":{"newText":"retval = 1","range":{"start":{"line":3,"character":1},"end":{"line":3,"character":4}}}}]}`
	if got := suggestionText(methodCompletion, json.RawMessage(tabby), 3, "\tret"); got != "val = 1" {
		t.Errorf("tabby item: %q", got)
	}
	inline := `[{"insertText":"urn x"}]`
	if got := suggestionText(methodInline, json.RawMessage(inline), 0, "ret"); got != "urn x" {
		t.Errorf("inline array: %q", got)
	}
	snippet := `{"items":[{"insertText":{"kind":"snippet","value":"a"}}]}`
	if got := suggestionText(methodInline, json.RawMessage(snippet), 0, ""); got != "a" {
		t.Errorf("snippet: %q", got)
	}
	for _, empty := range []string{`null`, `{"items":[]}`, `[]`, `{"isIncomplete":true,"items":[]}`} {
		if got := suggestionText(methodInline, json.RawMessage(empty), 0, ""); got != "" {
			t.Errorf("%s: %q", empty, got)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(metricsSample)
	f.Add(`a{b="}"} 1`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseMetrics(strings.NewReader(s))
	})
}
