package engines_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// An upstream that is down when the front starts: the front starts anyway,
// health names the upstream as down, requests get 503 with a message, and
// traffic resumes once the upstream is up. The upstream has auth on; the
// front reaches it with $SERVAL_UPSTREAM_API_KEY. Chat goes through the same
// upstream (--chat-model openai:...), whose own chat model is the in-process
// test model with the ChatML template from its GGUF.
func TestDownAtStartupThenRecoversAndChatPassesThrough(t *testing.T) {
	model := servaltest.TestModel(t, ggufgen.Options{})
	port := freePort(t)
	up := servaltest.Start(t, servaltest.Options{Model: model, Args: []string{"--port", itoa(port), "--chat-model", model}})
	if err := up.Stop(); err != nil {
		t.Fatal(err)
	}
	front := servaltest.Start(t, servaltest.Options{
		Model: openaiSpec(port),
		Args:  []string{"--chat-model", openaiSpec(port), "--config", fastPoolConfig(t), "--max-tokens", "8"},
		Env:   []string{"SERVAL_UPSTREAM_API_KEY=" + up.Token},
	})

	h := health(t, front)
	if u := upstream(t, h, "completion", port); u.Healthy || u.LastError == "" {
		t.Errorf("down upstream shows %+v", u)
	}
	if u := upstream(t, h, "chat", port); u.Healthy {
		t.Errorf("down chat upstream shows %+v", u)
	}
	_, err := complete(front)
	if api.StatusCode(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "127.0.0.1:"+itoa(port)) {
		t.Errorf("completion while the upstream is down: %v (want 503 naming the upstream)", err)
	}
	resp := post(context.Background(), t, front, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	if msg := errorBody(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(msg, "upstream") {
		t.Errorf("chat while the upstream is down: %d %q", resp.StatusCode, msg)
	}
	resp.Body.Close()

	up.Restart() // same port and data directory: the token still holds
	waitFor(t, "the upstream healthy", 30*time.Second, func() bool {
		h := health(t, front)
		return upstream(t, h, "completion", port).Healthy && upstream(t, h, "chat", port).Healthy
	})
	if _, err := complete(front); err != nil {
		t.Fatalf("completion after the upstream came up: %v", err)
	}
	// The key is what let the front in: the upstream refuses requests without it.
	resp, err = http.Get(up.URL + "/openai/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("upstream without a token: %d, want 401", resp.StatusCode)
	}

	chatBody := `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Write a loop."}],"max_tokens":12,"temperature":0}`
	t.Run("in-process chat streams in order", func(t *testing.T) {
		checkChatStream(t, up, chatBody)
	})
	t.Run("chat through the openai upstream streams the same text", func(t *testing.T) {
		direct := chatText(t, up, chatBody)
		if via := checkChatStream(t, front, chatBody); via != direct {
			t.Errorf("through the front %q, directly %q", via, direct)
		}
	})
	t.Run("cancelling an in-process chat frees the slot", func(t *testing.T) {
		checkChatCancel(t, up, up)
	})
	t.Run("cancelling a chat at the front stops the upstream", func(t *testing.T) {
		checkChatCancel(t, front, up)
		waitFor(t, "the front's chat upstream idle", 30*time.Second, func() bool {
			return upstream(t, health(t, front), "chat", port).InFlight == 0
		})
	})
	// The upstream served everything through its OpenAI-compatible routes;
	// /metrics counts those generations too, the cancelled ones included.
	if n := metric(t, up, "serval_generated_tokens_total"); n == 0 {
		t.Error("serval_generated_tokens_total is 0 after OpenAI-route completions and chats")
	}
	if n := metric(t, up, `serval_completions_total{stop_reason="cancelled"}`); n < 2 {
		t.Errorf(`serval_completions_total{stop_reason="cancelled"} = %v, want the 2 cancelled chats`, n)
	}
}

// chatText returns the whole (non-streamed) reply to body.
func chatText(t *testing.T, s *servaltest.Server, body string) string {
	t.Helper()
	resp := post(context.Background(), t, s, "/v1/chat/completions", body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chat: %d %s", resp.StatusCode, errorBody(resp))
	}
	var c struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || c.Object != "chat.completion" || len(c.Choices) != 1 || c.Choices[0].Message.Role != "assistant" {
		t.Fatalf("chat answer %+v %v", c, err)
	}
	return c.Choices[0].Message.Content
}

// checkChatStream streams body and checks OpenAI's chunk order: the role
// first, then content deltas, then one chunk with finish_reason, then
// [DONE]. It returns the text.
func checkChatStream(t *testing.T, s *servaltest.Server, body string) string {
	t.Helper()
	resp := post(context.Background(), t, s, "/v1/chat/completions", strings.Replace(body, "{", `{"stream":true,`, 1))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("chat stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var chunks []chatChunk
	done, err := readEvents(resp.Body, func(data string) bool {
		var c chatChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		chunks = append(chunks, c)
		return true
	})
	if err != nil || !done {
		t.Fatalf("stream ended without [DONE] (%v) after %d chunks", err, len(chunks))
	}
	if len(chunks) < 3 {
		t.Fatalf("want role, content and finish chunks, got %+v", chunks)
	}
	var text strings.Builder
	for i, c := range chunks {
		if c.Object != "chat.completion.chunk" || len(c.Choices) != 1 {
			t.Fatalf("chunk %d: %+v", i, c)
		}
		ch := c.Choices[0]
		switch {
		case i == 0:
			if ch.Delta.Role != "assistant" || ch.Delta.Content != "" || ch.FinishReason != nil {
				t.Errorf("first chunk %+v, want the assistant role alone", ch)
			}
		case i == len(chunks)-1:
			if ch.FinishReason == nil || (*ch.FinishReason != "stop" && *ch.FinishReason != "length") || ch.Delta.Content != "" {
				t.Errorf("last chunk %+v, want finish_reason and no content", ch)
			}
		default:
			if ch.Delta.Content == "" || ch.FinishReason != nil {
				t.Errorf("chunk %d %+v, want content only", i, ch)
			}
			text.WriteString(ch.Delta.Content)
		}
	}
	return text.String()
}

// checkChatCancel starts a long chat stream on s, goes away after the first
// content chunk, and waits for the engine's slot on slots to be free again.
// Generating to the end of the context takes the test model many seconds,
// so a slot freed within the wait means the cancel reached the decode loop.
func checkChatCancel(t *testing.T, s, slots *servaltest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := post(ctx, t, s, "/v1/chat/completions", `{"stream":true,"max_tokens":4096,"messages":[{"role":"user","content":"Go on forever."}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chat: %d %s", resp.StatusCode, errorBody(resp))
	}
	content := false
	readEvents(resp.Body, func(data string) bool {
		var c chatChunk
		json.Unmarshal([]byte(data), &c)
		content = len(c.Choices) == 1 && c.Choices[0].Delta.Content != ""
		return !content
	})
	if !content {
		t.Fatal("no content before the stream ended")
	}
	if h := health(t, slots); h.Slots.Busy != 1 {
		t.Fatalf("busy slots while streaming: %d", h.Slots.Busy)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, "the slot freed after the client went away", 30*time.Second, func() bool {
		return health(t, slots).Slots.Busy == 0
	})
}
