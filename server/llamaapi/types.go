package llamaapi

import "github.com/servalhq/serval/server/internal/httpx"

// InfillRequest is the body of POST /infill as llama.vim and llama.vscode send
// it to llama-server (tools/server/README.md of llama.cpp). Fields serval has no
// use for (id_slot, n_indent, top_k, top_p, samplers, t_max_prompt_ms,
// t_max_predict_ms, cache_prompt: serval always reuses its prompt cache) are
// accepted and ignored, as llama-server ignores what it does not know.
type InfillRequest struct {
	InputPrefix *string      `json:"input_prefix"`
	InputSuffix *string      `json:"input_suffix"`
	InputExtra  []ExtraChunk `json:"input_extra"`
	// Prompt is the text already typed on the cursor's line after
	// input_prefix (llama.vim's "middle"); it continues the prefix.
	Prompt      string   `json:"prompt"`
	NPredict    *int     `json:"n_predict"`
	Temperature *float32 `json:"temperature"`
	// Seed is llama.cpp's int seed: -1 (or absent) means random.
	Seed           *int64   `json:"seed"`
	Stop           []string `json:"stop"`
	Stream         bool     `json:"stream"`
	CachePrompt    *bool    `json:"cache_prompt"`
	ReturnTokens   bool     `json:"return_tokens"`
	ResponseFields []string `json:"response_fields"`
}

// ExtraChunk is one piece of context from another file (llama.vim's ring buffer).
type ExtraChunk struct {
	Filename string  `json:"filename"`
	Text     *string `json:"text"`
}

// InfillResponse is llama-server's answer to /infill (its "non-OAI-compatible"
// completion result), field for field, except generation_settings (a dump of
// llama.cpp's sampler settings that has no counterpart in serval). Token ids
// are not exposed by serval's engines: Tokens is always empty, as it is in
// llama-server unless return_tokens is set (which serval refuses with a 400).
type InfillResponse struct {
	Index           int           `json:"index"`
	Content         string        `json:"content"`
	Tokens          []int         `json:"tokens"`
	IDSlot          int           `json:"id_slot"`
	Stop            bool          `json:"stop"`
	Model           string        `json:"model"`
	TokensPredicted int           `json:"tokens_predicted"`
	TokensEvaluated int           `json:"tokens_evaluated"`
	Prompt          string        `json:"prompt"`
	HasNewLine      bool          `json:"has_new_line"`
	Truncated       bool          `json:"truncated"`
	StopType        string        `json:"stop_type"`
	StoppingWord    string        `json:"stopping_word"`
	TokensCached    int           `json:"tokens_cached"`
	Timings         httpx.Timings `json:"timings"`
}

// InfillChunk is one streamed piece of an /infill answer (stream: true); the
// last event is a whole InfillResponse with stop true and empty content.
type InfillChunk struct {
	Index           int    `json:"index"`
	Content         string `json:"content"`
	Tokens          []int  `json:"tokens"`
	Stop            bool   `json:"stop"`
	IDSlot          int    `json:"id_slot"`
	TokensPredicted int    `json:"tokens_predicted"`
	TokensEvaluated int    `json:"tokens_evaluated"`
}
