package httpx

import (
	"time"

	"github.com/servalhq/serval/server/engine"
)

// Timings are llama.cpp server's per-request counts and times, the
// "timings" object llama-server adds to its /completion and /infill answers
// and to its OpenAI-compatible ones: cache_n prompt tokens reused from the
// cache, prompt_n evaluated, predicted_n generated. Serval's /infill and
// OpenAI routes answer the same object, so what reads llama-server's timings
// (llama.vim's and llama.vscode's info line, benchmarks) reads serval's.
type Timings struct {
	CacheN              int     `json:"cache_n"`
	PromptN             int     `json:"prompt_n"`
	PromptMS            float64 `json:"prompt_ms"`
	PromptPerTokenMS    float64 `json:"prompt_per_token_ms"`
	PromptPerSecond     float64 `json:"prompt_per_second"`
	PredictedN          int     `json:"predicted_n"`
	PredictedMS         float64 `json:"predicted_ms"`
	PredictedPerTokenMS float64 `json:"predicted_per_token_ms"`
	PredictedPerSecond  float64 `json:"predicted_per_second"`
}

// TimingsOf converts an engine's usage to llama.cpp's timings.
func TimingsOf(u engine.Usage) Timings {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	per := func(d time.Duration, n int) (perToken, perSecond float64) {
		if n == 0 || d <= 0 {
			return 0, 0
		}
		return ms(d) / float64(n), float64(n) / d.Seconds()
	}
	t := Timings{CacheN: u.ReusedTokens, PromptN: u.EvaluatedTokens, PromptMS: ms(u.PromptEval),
		PredictedN: u.GeneratedTokens, PredictedMS: ms(u.Generation)}
	t.PromptPerTokenMS, t.PromptPerSecond = per(u.PromptEval, u.EvaluatedTokens)
	t.PredictedPerTokenMS, t.PredictedPerSecond = per(u.Generation, u.GeneratedTokens)
	return t
}
