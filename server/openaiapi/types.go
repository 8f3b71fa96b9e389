package openaiapi

import (
	"encoding/json"
	"errors"

	"github.com/servalhq/serval/server/internal/httpx"
)

// CompletionRequest is the body of POST /openai/v1/completions. The prompt is
// used as is: callers (another serval, vLLM-style clients) send a finished prompt.
type CompletionRequest struct {
	Model       string       `json:"model"`
	Prompt      stringOrList `json:"prompt"`
	MaxTokens   *int         `json:"max_tokens,omitempty"`
	Temperature *float32     `json:"temperature,omitempty"`
	TopP        *float32     `json:"top_p,omitempty"`
	Seed        *uint32      `json:"seed,omitempty"`
	Stop        stringOrList `json:"stop,omitempty"`
	Stream      bool         `json:"stream,omitempty"`
}

// ChatRequest is the body of POST /v1/chat/completions and /openai/v1/chat/completions.
type ChatRequest struct {
	Model       string        `json:"model"`
	Messages    []ChatMessage `json:"messages"`
	MaxTokens   *int          `json:"max_tokens,omitempty"`
	Temperature *float32      `json:"temperature,omitempty"`
	TopP        *float32      `json:"top_p,omitempty"`
	Seed        *uint32       `json:"seed,omitempty"`
	Stop        stringOrList  `json:"stop,omitempty"`
	Stream      bool          `json:"stream,omitempty"`
}

// ChatMessage is one turn; content may also come as OpenAI's list of text parts.
type ChatMessage struct {
	Role    string      `json:"role"`
	Content textContent `json:"content"`
}

// Completion is a text_completion object or stream chunk.
type Completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
	// Timings is llama-server's extension of its OpenAI-compatible answers
	// (the engine's prompt and generation times), in the whole answer and
	// the last chunk of a stream.
	Timings *httpx.Timings `json:"timings,omitempty"`
}

// CompletionChoice is one choice of a Completion.
type CompletionChoice struct {
	Index        int     `json:"index"`
	Text         string  `json:"text"`
	FinishReason *string `json:"finish_reason"`
}

// ChatCompletion is a chat.completion object or chat.completion.chunk.
type ChatCompletion struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Created int64          `json:"created"`
	Model   string         `json:"model"`
	Choices []ChatChoice   `json:"choices"`
	Usage   *Usage         `json:"usage,omitempty"`
	Timings *httpx.Timings `json:"timings,omitempty"` // as in Completion
}

// ChatChoice carries Message in a whole answer and Delta in a chunk.
type ChatChoice struct {
	Index        int           `json:"index"`
	Message      *ChatResponse `json:"message,omitempty"`
	Delta        *ChatResponse `json:"delta,omitempty"`
	FinishReason *string       `json:"finish_reason"`
}

// ChatResponse is the assistant's text (whole or a delta).
type ChatResponse struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

// Usage counts tokens as OpenAI does.
type Usage struct {
	PromptTokens        int                  `json:"prompt_tokens"`
	CompletionTokens    int                  `json:"completion_tokens"`
	TotalTokens         int                  `json:"total_tokens"`
	PromptTokensDetails *PromptTokensDetails `json:"prompt_tokens_details,omitempty"`
}

// PromptTokensDetails says how many prompt tokens came from the prompt cache
// (OpenAI's and llama-server's field): prompt_tokens minus cached_tokens were evaluated.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// ModelList is the answer of GET /openai/v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Model is one entry of ModelList.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// stringOrList accepts "x" or ["x", "y"].
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*s = many
	return nil
}

// textContent accepts "text" or [{"type":"text","text":"..."}].
type textContent string

func (c *textContent) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*c = textContent(one)
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("want a string or a list of text parts")
	}
	var all string
	for _, p := range parts {
		if p.Type != "text" {
			return errors.New("only text parts are supported")
		}
		all += p.Text
	}
	*c = textContent(all)
	return nil
}
