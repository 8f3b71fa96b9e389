package engine

import "context"

// Message is one turn of a chat.
type Message struct {
	Role    string // "system", "user", "assistant"
	Content string
}

// ChatRequest is one chat generation; the engine applies the model's chat template.
type ChatRequest struct {
	Messages    []Message
	MaxTokens   int
	Temperature float32
	TopP        float32
	Seed        uint32
	Stop        []string
}

// ChatEngine is implemented by engines that can run a chat model.
type ChatEngine interface {
	Chat(ctx context.Context, req ChatRequest, emit Emit) (Usage, error)
}

// HealthChecker is implemented by remote engines: Check returns nil when the
// upstream can serve requests. Pools call it to put members back in rotation.
type HealthChecker interface {
	Check(ctx context.Context) error
}
