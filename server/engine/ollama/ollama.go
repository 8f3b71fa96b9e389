// Package ollama is an engine.Engine that fronts an Ollama server through
// github.com/ollama/ollama/api. Completions are sent as raw prompts (Serval
// builds the FIM prompt; the model's template is not applied) and streamed;
// chats go through /api/chat so Ollama applies the model's chat template.
package ollama

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/servalhq/serval/server/engine"
)

// DefaultURL is Ollama's own default address.
const DefaultURL = "http://127.0.0.1:11434"

// Config describes the Ollama server and model.
type Config struct {
	// URL of the Ollama server; empty means $OLLAMA_HOST, else DefaultURL.
	URL   string
	Model string
	// CPUOnly sends num_gpu = 0 so Ollama keeps every layer on the CPU (--device cpu).
	CPUOnly bool
	// IdleTimeout ends a request when Ollama sends nothing for this long; 0 means 60 s
	// (Ollama may load the model before its first token).
	IdleTimeout time.Duration
	HTTPClient  *http.Client
}

// Engine is one Ollama model.
type Engine struct {
	cfg      Config
	base     *url.URL
	client   *api.Client
	http     *http.Client
	inFlight atomic.Int64
}

// ResolveURL picks the Ollama address: the flag, else $OLLAMA_HOST (which, like
// Ollama itself, may omit the scheme), else the default.
func ResolveURL(flagValue, envValue string) (*url.URL, error) {
	raw := flagValue
	if raw == "" {
		raw = envValue
	}
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if u2, err2 := url.Parse("http://" + raw); err2 == nil && u2.Host != "" {
			return u2, nil
		}
		return nil, fmt.Errorf("ollama URL %q: want http(s)://host:port", engine.RedactURLs(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("ollama URL %q: want http(s)://host:port", engine.RedactURLs(raw))
	}
	return u, nil
}

// New prepares the engine without contacting Ollama; call Ensure at startup.
func New(cfg Config, base *url.URL) (*Engine, error) {
	if cfg.Model == "" {
		return nil, errors.New("ollama: model name is empty")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	// Ollama's client has no hook for headers: its transport adds the
	// completion's traceparent.
	traced := *hc
	traced.Transport = engine.PropagatingTransport(hc.Transport)
	return &Engine{cfg: cfg, base: base, client: api.NewClient(base, &traced), http: hc}, nil
}

// Ensure checks at startup that Ollama answers and has the model; with pull it
// pulls a missing model, writing progress to progress.
func (e *Engine) Ensure(ctx context.Context, pull bool, progress io.Writer) error {
	err := e.Check(ctx)
	var missing *missingModelError
	if err == nil || !errors.As(err, &missing) || !pull {
		return err
	}
	stream := true
	last := ""
	err = e.client.Pull(ctx, &api.PullRequest{Model: e.cfg.Model, Stream: &stream}, func(p api.ProgressResponse) error {
		line := p.Status
		if p.Total > 0 {
			line = fmt.Sprintf("%s %5.1f%% of %d MB", p.Status, 100*float64(p.Completed)/float64(p.Total), p.Total>>20)
		}
		if line != last {
			fmt.Fprintf(progress, "\rpulling %s: %s", e.cfg.Model, line)
			last = line
		}
		return nil
	})
	fmt.Fprintln(progress)
	if err != nil {
		return fmt.Errorf("ollama: pull %s: %w", e.cfg.Model, err)
	}
	return e.Check(ctx)
}

type missingModelError struct{ model, url string }

func (m *missingModelError) Error() string {
	return fmt.Sprintf("ollama at %s has no model %q: run `ollama pull %s` there, or start serval with --ollama-pull", m.url, m.model, m.model)
}

// Check implements engine.HealthChecker: Ollama answers and shows the model.
func (e *Engine) Check(ctx context.Context) error {
	_, err := e.client.Show(ctx, &api.ShowRequest{Model: e.cfg.Model})
	if err == nil {
		return nil
	}
	var status api.StatusError
	if errors.As(err, &status) && status.StatusCode == http.StatusNotFound {
		return &missingModelError{model: e.cfg.Model, url: e.base.Redacted()}
	}
	return fmt.Errorf("ollama at %s: %w: %w", e.base.Redacted(), engine.ErrUnavailable, err)
}

func (e *Engine) options(maxTokens int, temperature, topP float32, seed uint32, stop []string, numCtx int) map[string]any {
	opts := map[string]any{"temperature": temperature}
	if maxTokens > 0 {
		opts["num_predict"] = maxTokens
	}
	if topP > 0 && topP < 1 {
		opts["top_p"] = topP
	}
	if seed != 0 {
		opts["seed"] = seed
	}
	if len(stop) > 0 {
		opts["stop"] = stop
	}
	if numCtx > 0 {
		opts["num_ctx"] = numCtx
	}
	if e.cfg.CPUOnly {
		opts["num_gpu"] = 0
	}
	return opts
}

// Generate implements engine.Engine with a raw, streamed /api/generate.
func (e *Engine) Generate(ctx context.Context, req engine.Request, emit engine.Emit) (engine.Usage, error) {
	stream := true
	gen := &api.GenerateRequest{
		Model:   e.cfg.Model,
		Prompt:  req.Prompt,
		Raw:     true,
		Stream:  &stream,
		Options: e.options(req.MaxTokens, req.Temperature, req.TopP, req.Seed, req.Stop, req.NumCtx),
	}
	return e.run(ctx, func(ctx context.Context, on func(text string, done bool, reason string, m api.Metrics) error) error {
		return e.client.Generate(ctx, gen, func(r api.GenerateResponse) error {
			return on(r.Response, r.Done, r.DoneReason, r.Metrics)
		})
	}, emit)
}

// Chat implements engine.ChatEngine through /api/chat (Ollama applies the template).
func (e *Engine) Chat(ctx context.Context, req engine.ChatRequest, emit engine.Emit) (engine.Usage, error) {
	stream := true
	chat := &api.ChatRequest{
		Model:   e.cfg.Model,
		Stream:  &stream,
		Options: e.options(req.MaxTokens, req.Temperature, req.TopP, req.Seed, req.Stop, 0),
	}
	for _, m := range req.Messages {
		chat.Messages = append(chat.Messages, api.Message{Role: m.Role, Content: m.Content})
	}
	return e.run(ctx, func(ctx context.Context, on func(text string, done bool, reason string, m api.Metrics) error) error {
		return e.client.Chat(ctx, chat, func(r api.ChatResponse) error {
			return on(r.Message.Content, r.Done, r.DoneReason, r.Metrics)
		})
	}, emit)
}

// run drives one streamed call with an idle timeout and turns Ollama's
// metrics into engine.Usage.
func (e *Engine) run(ctx context.Context, call func(context.Context, func(string, bool, string, api.Metrics) error) error, emit engine.Emit) (usage engine.Usage, err error) {
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	ctx, endSpan := engine.TraceUpstream(ctx, "ollama", e.Name(), e.base.Host)
	defer func() { endSpan(usage, err) }()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(e.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	done := false
	var emitErr error
	err = call(ctx, func(text string, isDone bool, reason string, m api.Metrics) error {
		idle.Reset(e.cfg.IdleTimeout)
		if text != "" {
			if emitErr = emit(text); emitErr != nil {
				return emitErr
			}
		}
		if isDone {
			done = true
			usage.PromptTokens = m.PromptEvalCount
			usage.EvaluatedTokens = m.PromptEvalCount
			usage.GeneratedTokens = m.EvalCount
			usage.PromptEval = m.PromptEvalDuration
			usage.Generation = m.EvalDuration
			usage.StopReason = map[string]string{"length": engine.StopMaxTokens, "stop": engine.StopEOS}[reason]
		}
		return nil
	})
	if emitErr != nil {
		return usage, emitErr
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if errors.Is(cause, errIdle) {
			return usage, fmt.Errorf("ollama at %s: %w: %w", e.base.Redacted(), engine.ErrUnavailable, cause)
		}
		return usage, fmt.Errorf("ollama: %w", cause)
	}
	if err != nil {
		var status api.StatusError
		if errors.As(err, &status) && status.StatusCode < 500 {
			return usage, fmt.Errorf("ollama: %w", err)
		}
		return usage, fmt.Errorf("ollama at %s: %w", e.base.Redacted(), errors.Join(engine.ErrUnavailable, err))
	}
	if !done {
		return usage, fmt.Errorf("ollama at %s: %w: stream ended before done", e.base.Redacted(), engine.ErrUnavailable)
	}
	return usage, nil
}

var errIdle = errors.New("ollama sent nothing within the idle timeout")

// Info implements engine.Engine.
func (e *Engine) Info() engine.Info {
	n := int(e.inFlight.Load())
	device := "remote"
	return engine.Info{
		Model: e.cfg.Model, Device: device, Busy: n,
		Upstreams: []engine.UpstreamInfo{{Name: e.Name(), URL: e.base.Redacted(), Healthy: true, InFlight: n}},
	}
}

// Name identifies the upstream in logs, health and metrics.
func (e *Engine) Name() string { return "ollama:" + e.base.Host + "/" + e.cfg.Model }

// InFlight is the number of requests this upstream is serving now.
func (e *Engine) InFlight() int { return int(e.inFlight.Load()) }

// Close implements engine.Engine.
func (e *Engine) Close() error {
	e.http.CloseIdleConnections()
	return nil
}
