package llama

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/server/engine"
)

// ChatTemplate returns the model's chat template (tokenizer.chat_template), or "".
func (e *Engine) ChatTemplate() string { return e.chatTemplate }

// ApplyChatTemplate renders messages with the model's chat template (or
// ChatML when the model has none), ending with the assistant's turn opened.
func (e *Engine) ApplyChatTemplate(messages []engine.Message) (string, error) {
	if len(messages) == 0 {
		return "", errors.New("llama: no chat messages")
	}
	tmpl := e.chatTemplate
	if tmpl == "" {
		tmpl = "chatml"
	}
	msgs := make([]yz.ChatMessage, len(messages))
	size := 256
	for i, m := range messages {
		msgs[i] = yz.NewChatMessage(strings.ReplaceAll(m.Role, "\x00", ""), strings.ReplaceAll(m.Content, "\x00", ""))
		size += 2 * (len(m.Role) + len(m.Content) + 32)
	}
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed.Load() {
		return "", errClosed
	}
	buf := make([]byte, size)
	n := yz.ChatApplyTemplate(tmpl, msgs, true, buf)
	runtime.KeepAlive(msgs)
	if int(n) > len(buf) {
		buf = make([]byte, n)
		n = yz.ChatApplyTemplate(tmpl, msgs, true, buf)
		runtime.KeepAlive(msgs)
	}
	if n <= 0 || int(n) > len(buf) {
		return "", fmt.Errorf("llama: the model's chat template is not supported by llama.cpp")
	}
	return string(buf[:n]), nil
}

// Chat applies the chat template to req.Messages and generates the reply.
func (e *Engine) Chat(ctx context.Context, req engine.ChatRequest, emit engine.Emit) (engine.Usage, error) {
	prompt, err := e.ApplyChatTemplate(req.Messages)
	if err != nil {
		return engine.Usage{}, err
	}
	return e.Generate(ctx, engine.Request{
		Prompt:      prompt,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Seed:        req.Seed,
		Stop:        req.Stop,
	}, emit)
}
