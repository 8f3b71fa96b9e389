// Package openai is an engine.Engine for OpenAI-compatible completion servers
// (vLLM, llama.cpp's server, TGI, LM Studio, and serval itself under /openai/v1).
// It sends Serval's finished FIM prompt to {base}/completions and chats to
// {base}/chat/completions, both streamed as server-sent events; cancelling the
// context closes the stream, which is how these servers learn to stop.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/servalhq/serval/server/engine"
)

// Config describes one upstream.
type Config struct {
	// BaseURL is the API root including its version path, e.g.
	// http://gpu-1:8000/v1 (vLLM) or http://host:8080/openai/v1 (serval).
	BaseURL string
	Model   string
	APIKey  string // sent as a Bearer token when set ($SERVAL_UPSTREAM_API_KEY)
	// IdleTimeout ends a request when the upstream sends nothing for this long
	// (a hung upstream); 0 means 30 s.
	IdleTimeout time.Duration
	Client      *http.Client // nil: a client with no overall timeout (streams are long)
}

// Engine talks to one OpenAI-compatible upstream.
type Engine struct {
	cfg      Config
	base     *url.URL
	client   *http.Client
	inFlight atomic.Int64
}

// ParseSpec splits the `--model openai:<base-url>#<model-name>` form (without
// the "openai:" prefix) into a Config.
func ParseSpec(spec string) (Config, error) {
	base, model, ok := strings.Cut(spec, "#")
	if !ok || model == "" {
		return Config{}, fmt.Errorf("openai upstream %q: want <base-url>#<model-name>", spec)
	}
	if _, err := parseBase(base); err != nil {
		return Config{}, err
	}
	return Config{BaseURL: base, Model: model}, nil
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("openai upstream URL %q: %w", engine.RedactURLs(raw), err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai upstream URL %q: want http(s)://host[:port]/path", engine.RedactURLs(raw))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// New checks the configuration; it does not contact the upstream (a pool's
// health check does), so a server can start while an upstream is down.
func New(cfg Config) (*Engine, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Model == "" {
		return nil, errors.New("openai upstream: model name is empty")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	return &Engine{cfg: cfg, base: base, client: client}, nil
}

// completionRequest is the body of POST {base}/completions.
type completionRequest struct {
	Model       string   `json:"model"`
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature float32  `json:"temperature"`
	TopP        float32  `json:"top_p,omitempty"`
	Seed        *uint32  `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Stream      bool     `json:"stream"`
	N           int      `json:"n,omitempty"` // several choices (candidates.go)
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatRequest is the body of POST {base}/chat/completions.
type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
	Temperature float32       `json:"temperature"`
	TopP        float32       `json:"top_p,omitempty"`
	Seed        *uint32       `json:"seed,omitempty"`
	Stop        []string      `json:"stop,omitempty"`
	Stream      bool          `json:"stream"`
}

// chunk is one streamed event of either endpoint.
type chunk struct {
	Choices []struct {
		Index int    `json:"index"`
		Text  string `json:"text"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error any `json:"error"`
}

// Generate implements engine.Engine.
func (e *Engine) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	body := completionRequest{
		Model: e.cfg.Model, Prompt: req.Prompt, MaxTokens: req.MaxTokens,
		Temperature: req.Temperature, TopP: req.TopP, Stop: upstreamStops(req.Stop), Stream: true,
	}
	if req.Seed != 0 {
		body.Seed = &req.Seed
	}
	return e.stream(ctx, "/completions", body, emit, func(c *chunk) string { return c.Choices[0].Text })
}

// Chat implements engine.ChatEngine: the upstream applies its model's chat template.
func (e *Engine) Chat(ctx context.Context, req engine.ChatRequest, emit engine.Emit) (engine.Usage, error) {
	body := chatRequest{
		Model: e.cfg.Model, MaxTokens: req.MaxTokens,
		Temperature: req.Temperature, TopP: req.TopP, Stop: upstreamStops(req.Stop), Stream: true,
	}
	for _, m := range req.Messages {
		body.Messages = append(body.Messages, chatMessage{Role: m.Role, Content: m.Content})
	}
	if req.Seed != 0 {
		body.Seed = &req.Seed
	}
	return e.stream(ctx, "/chat/completions", body, emit, func(c *chunk) string { return c.Choices[0].Delta.Content })
}

// upstreamStops passes at most four stop words on (OpenAI's limit; vLLM takes
// more but four cover the blank-line rules). The caller matches all of them
// on the stream anyway, so this only saves upstream work.
func upstreamStops(stops []string) []string {
	if len(stops) > 4 {
		return stops[:4]
	}
	return stops
}

// stream posts body and feeds each event's text to emit until [DONE].
func (e *Engine) stream(ctx context.Context, path string, body any, emit engine.Emit, text func(*chunk) string) (usage engine.Usage, err error) {
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	start := time.Now()
	ctx, endSpan := engine.TraceUpstream(ctx, "openai "+path, e.Name(), e.base.Host)
	defer func() { endSpan(usage, err) }()

	payload, err := json.Marshal(body)
	if err != nil {
		return usage, fmt.Errorf("openai: encode request: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(e.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base.String()+path, bytes.NewReader(payload))
	if err != nil {
		return usage, fmt.Errorf("openai: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "text/event-stream")
	// A generation has no side effect, so the request counts as idempotent
	// (an empty key is never sent): Go's transport then retries it once when
	// a kept-alive connection turns out to have been closed by the upstream
	// (llama-server closes idle ones), instead of failing the request and
	// marking a healthy upstream down.
	httpReq.Header["X-Idempotency-Key"] = nil
	if e.cfg.APIKey != "" {
		httpReq.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	// An upstream that traces (vLLM, another serval) continues this trace.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(httpReq.Header))
	resp, err := e.client.Do(httpReq)
	if err != nil {
		return usage, e.wrap(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return usage, statusError(resp)
	}

	firstToken := true
	reader := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := reader.ReadBytes('\n')
		if err != nil {
			if err == io.EOF && len(line) == 0 {
				return usage, e.wrap(ctx, fmt.Errorf("upstream closed the stream before [DONE]: %w", io.ErrUnexpectedEOF))
			}
			if err != io.EOF {
				return usage, e.wrap(ctx, err)
			}
		}
		idle.Reset(e.cfg.IdleTimeout)
		line = bytes.TrimRight(line, "\r\n")
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // comments, event names and blank separators
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			usage.Generation = time.Since(start) - usage.PromptEval
			if usage.StopReason == "" {
				usage.StopReason = engine.StopEOS
			}
			return usage, nil
		}
		var c chunk
		if err := json.Unmarshal(data, &c); err != nil {
			return usage, fmt.Errorf("openai %s: %w: invalid event %.80q: %w", e.base.Host, engine.ErrUnavailable, data, err)
		}
		if c.Error != nil {
			return usage, fmt.Errorf("openai %s: %w: upstream error: %v", e.base.Host, engine.ErrUnavailable, c.Error)
		}
		if c.Usage != nil {
			usage.PromptTokens = c.Usage.PromptTokens
			usage.EvaluatedTokens = c.Usage.PromptTokens
			usage.GeneratedTokens = c.Usage.CompletionTokens
		}
		if len(c.Choices) == 0 {
			continue
		}
		if fr := c.Choices[0].FinishReason; fr != nil && *fr != "" {
			usage.StopReason = map[string]string{"length": engine.StopMaxTokens, "stop": engine.StopWord}[*fr]
		}
		t := text(&c)
		if t == "" {
			continue
		}
		if firstToken {
			usage.PromptEval = time.Since(start)
			firstToken = false
		}
		if c.Usage == nil {
			usage.GeneratedTokens++
		}
		if err := emit(t); err != nil {
			return usage, err
		}
	}
}

var errIdle = errors.New("upstream sent nothing within the idle timeout")

// wrap turns a transport error into one that says why: the caller went away,
// the upstream hung, or it could not be reached.
func (e *Engine) wrap(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errIdle) {
			return fmt.Errorf("openai %s: %w: %w", e.base.Host, engine.ErrUnavailable, cause)
		}
		return fmt.Errorf("openai %s: %w", e.base.Host, cause)
	}
	return fmt.Errorf("openai %s: %w: %w", e.base.Host, engine.ErrUnavailable, err)
}

// statusError reads an upstream's error body ({"error": "..."} or
// {"error": {"message": "..."}}) into an error carrying the status.
func statusError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var shape struct {
		Error json.RawMessage `json:"error"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &shape) == nil && len(shape.Error) > 0 {
		var s string
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(shape.Error, &s) == nil {
			msg = s
		} else if json.Unmarshal(shape.Error, &obj) == nil && obj.Message != "" {
			msg = obj.Message
		}
	}
	err := &StatusError{Code: resp.StatusCode, Message: msg}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
	}
	return err
}

// StatusError is a non-200 answer from the upstream.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Check implements engine.HealthChecker with GET {base}/models.
func (e *Engine) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base.String()+"/models", nil)
	if err != nil {
		return err
	}
	if e.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("openai %s: %w", e.base.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&list); err != nil {
		return fmt.Errorf("openai %s: invalid /models answer: %w", e.base.Host, err)
	}
	for _, m := range list.Data {
		if m.ID == e.cfg.Model {
			return nil
		}
	}
	return fmt.Errorf("openai %s: model %q is not served (it serves %d others)", e.base.Host, e.cfg.Model, len(list.Data))
}

// Info implements engine.Engine.
func (e *Engine) Info() engine.Info {
	return engine.Info{
		Model:  e.cfg.Model,
		Device: "remote",
		Busy:   int(e.inFlight.Load()),
		Upstreams: []engine.UpstreamInfo{{
			Name: e.Name(), URL: e.base.Redacted(), Healthy: true, InFlight: int(e.inFlight.Load()),
		}},
	}
}

// Name identifies the upstream in logs, health and metrics.
func (e *Engine) Name() string { return "openai:" + e.base.Host + "#" + e.cfg.Model }

// InFlight is the number of requests this upstream is serving now.
func (e *Engine) InFlight() int { return int(e.inFlight.Load()) }

// Close implements engine.Engine.
func (e *Engine) Close() error {
	e.client.CloseIdleConnections()
	return nil
}
