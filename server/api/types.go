// Package api holds the wire types of Serval's HTTP API and the one typed
// client for it. The types mirror Tabby's API (see shared/reference/tabby-compat.md)
// so that Tabby clients work against serval; Serval's own additions are marked.
// The agent, the benchmark and the tests all talk to the server through Client.
package api

import "time"

// CompletionRequest is the body of POST /v1/completions.
type CompletionRequest struct {
	Language     string        `json:"language,omitempty"`
	Segments     *Segments     `json:"segments,omitempty"`
	User         string        `json:"user,omitempty"`
	Temperature  *float32      `json:"temperature,omitempty"`
	Seed         *uint32       `json:"seed,omitempty"`
	Mode         string        `json:"mode,omitempty"`
	DebugOptions *DebugOptions `json:"debug_options,omitempty"`

	// Stream asks for server-sent events (Serval's addition).
	Stream bool `json:"stream,omitempty"`
	// MaxTokens overrides the server's default output budget (Serval's addition).
	MaxTokens int `json:"max_tokens,omitempty"`
	// N asks for up to N candidates (Serval's addition, 1 to 3; not with
	// Stream): the answer's choices then hold each distinct, non-empty one
	// with its index, the first always. Tabby ignores the field and answers
	// one choice, which a client must accept.
	N int `json:"n,omitempty"`
	// Warmup asks only to evaluate the prompt ahead of the user's first
	// keystroke at this place, at the lowest priority; the answer has no
	// choices (Serval's addition).
	Warmup bool `json:"warmup,omitempty"`
}

// Segments is the code around the cursor and the context the agent gathered.
type Segments struct {
	Prefix                                  string        `json:"prefix"`
	Suffix                                  string        `json:"suffix,omitempty"`
	Filepath                                string        `json:"filepath,omitempty"`
	GitURL                                  string        `json:"git_url,omitempty"`
	Declarations                            []Declaration `json:"declarations,omitempty"`
	RelevantSnippetsFromChangedFiles        []Snippet     `json:"relevant_snippets_from_changed_files,omitempty"`
	RelevantSnippetsFromRecentlyOpenedFiles []Snippet     `json:"relevant_snippets_from_recently_opened_files,omitempty"`
	Clipboard                               string        `json:"clipboard,omitempty"`
}

// Declaration is the definition of a symbol used near the cursor.
type Declaration struct {
	Filepath string `json:"filepath"`
	Body     string `json:"body"`
}

// Snippet is a scored chunk of code from another file.
type Snippet struct {
	Filepath string  `json:"filepath"`
	Body     string  `json:"body"`
	Score    float64 `json:"score"`
}

// DebugOptions asks the server for extra information in DebugData.
type DebugOptions struct {
	RawPrompt                               string `json:"raw_prompt,omitempty"`
	ReturnSnippets                          bool   `json:"return_snippets,omitempty"`
	ReturnPrompt                            bool   `json:"return_prompt,omitempty"`
	DisableRetrievalAugmentedCodeCompletion bool   `json:"disable_retrieval_augmented_code_completion,omitempty"`
}

// CompletionResponse is the plain JSON answer of POST /v1/completions.
type CompletionResponse struct {
	ID        string     `json:"id"`
	Choices   []Choice   `json:"choices"`
	DebugData *DebugData `json:"debug_data,omitempty"`
}

// Choice is one completion. In a stream, Text is the new text since the previous event.
type Choice struct {
	Index int    `json:"index"`
	Text  string `json:"text"`
}

// DebugData is returned when DebugOptions asked for it.
type DebugData struct {
	Snippets []Snippet `json:"snippets,omitempty"`
	Prompt   string    `json:"prompt,omitempty"`
	// Timing and Usage are Serval's additions.
	Timing *Timing `json:"timing,omitempty"`
	Usage  *Usage  `json:"usage,omitempty"`
}

// Timing breaks a request's latency down, in milliseconds.
type Timing struct {
	QueueMS      float64 `json:"queue_ms"`
	PromptEvalMS float64 `json:"prompt_eval_ms"`
	GenerationMS float64 `json:"generation_ms"`
	OverheadMS   float64 `json:"overhead_ms"`
	TotalMS      float64 `json:"total_ms"`
}

// Usage counts the tokens of one request.
type Usage struct {
	PromptTokens    int `json:"prompt_tokens"`
	ReusedTokens    int `json:"reused_tokens"`
	EvaluatedTokens int `json:"evaluated_tokens"`
	GeneratedTokens int `json:"generated_tokens"`
}

// StreamEvent is one `data:` event of a streamed completion; the stream ends
// with `data: [DONE]`. An error after the first byte arrives as an event with Error set.
type StreamEvent struct {
	ID      string   `json:"id"`
	Choices []Choice `json:"choices"`
	Error   string   `json:"error,omitempty"`
	// DebugData comes on the last event when asked for.
	DebugData *DebugData `json:"debug_data,omitempty"`
}

// HealthState is the answer of GET|POST /v1/health.
type HealthState struct {
	Model       string        `json:"model"`
	ChatModel   string        `json:"chat_model,omitempty"`
	ChatDevice  string        `json:"chat_device,omitempty"`
	Device      string        `json:"device"`
	Arch        string        `json:"arch"`
	CPUInfo     string        `json:"cpu_info"`
	CPUCount    int           `json:"cpu_count"`
	CUDADevices []string      `json:"cuda_devices"`
	Models      *HealthModels `json:"models,omitempty"`
	Version     Version       `json:"version"`
	Webserver   *bool         `json:"webserver,omitempty"`

	// Serval's additions.
	Slots     *SlotState      `json:"slots,omitempty"`
	Upstreams []UpstreamState `json:"upstreams,omitempty"`
}

// HealthModels names the configured models by role.
type HealthModels struct {
	Completion string `json:"completion,omitempty"`
	Chat       string `json:"chat,omitempty"`
	Embedding  string `json:"embedding,omitempty"`
}

// Version identifies the server build; agents compare GitDescribe.
type Version struct {
	BuildDate      string `json:"build_date"`
	BuildTimestamp string `json:"build_timestamp"`
	GitSHA         string `json:"git_sha"`
	GitDescribe    string `json:"git_describe"`
}

// SlotState reports the engine's concurrency (Serval's addition).
type SlotState struct {
	Total    int `json:"total"`
	Busy     int `json:"busy"`
	Queued   int `json:"queued"`
	MaxQueue int `json:"max_queue"`
}

// UpstreamState is one member of an engine pool (Serval's addition).
type UpstreamState struct {
	Name      string `json:"name"`
	URL       string `json:"url,omitempty"`
	Role      string `json:"role,omitempty"` // "completion" or "chat"
	Healthy   bool   `json:"healthy"`
	InFlight  int    `json:"in_flight"`
	LastError string `json:"last_error,omitempty"`
}

// Event types of POST /v1/events.
const (
	EventView    = "view"
	EventSelect  = "select"
	EventDismiss = "dismiss"
)

// LogEventRequest is the body of POST /v1/events.
type LogEventRequest struct {
	Type         string `json:"type"`
	CompletionID string `json:"completion_id"`
	ChoiceIndex  int    `json:"choice_index"`
	ViewID       string `json:"view_id,omitempty"`
	Elapsed      *int64 `json:"elapsed,omitempty"` // milliseconds
	SelectKind   string `json:"select_kind,omitempty"`
	// Language is Serval's addition, used by `serval stats`.
	Language string `json:"language,omitempty"`
}

// ServerSetting is the answer of GET /v1beta/server_setting.
type ServerSetting struct {
	DisableClientSideTelemetry bool `json:"disable_client_side_telemetry"`
}

// ErrorResponse is the one error shape on the wire.
type ErrorResponse struct {
	Error string `json:"error"`
}

// DefaultTimeout bounds a client's plain (non-streaming) requests.
const DefaultTimeout = 30 * time.Second
