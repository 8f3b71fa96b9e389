package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/engine/llama"
	"github.com/servalhq/serval/server/engine/ollama"
	"github.com/servalhq/serval/server/engine/openai"
	"github.com/servalhq/serval/server/engine/pool"
	"github.com/servalhq/serval/server/models"
	"github.com/servalhq/serval/server/prompt"
)

// Options are the settings the engines of every role share.
type Options struct {
	// OllamaURL is Ollama's address (see ResolveOllamaURL); "" means Ollama's default.
	OllamaURL string
	// OllamaPull pulls a model Ollama lacks instead of failing (--ollama-pull).
	OllamaPull bool
	// OllamaCPUOnly sends num_gpu = 0 (--device cpu given explicitly).
	OllamaCPUOnly bool
	// Getenv reads API keys; nil means none are set.
	Getenv func(string) string
	// Log receives startup notes and download/pull progress; nil discards them.
	Log io.Writer
	// Registry and DataDir resolve registry names of in-process models.
	Registry *models.Registry
	DataDir  string
	// Llama configures in-process models; ModelPath is set per model.
	Llama llama.Config
	// Pool tunes the health checks and circuit breaker of remote upstreams.
	Pool pool.Config
	// StartupCheckTimeout bounds the check of each Ollama model at startup (0: 10 s).
	StartupCheckTimeout time.Duration
	// HTTPClient is used by remote engines; nil gives each its own.
	HTTPClient *http.Client
}

// Model is an opened model of one role.
type Model struct {
	Engine engine.Engine
	// Chat is the same engine as a chat engine (every backend here can chat;
	// whether a model is meant for it is the caller's choice).
	Chat engine.ChatEngine
	// Tokenizer counts tokens exactly (in-process models); nil means the
	// prompt builder estimates.
	Tokenizer engine.Tokenizer
	// Name is the model's display name.
	Name string
	// Entry is the registry entry: the one resolved for an in-process model,
	// the one whose name matches a remote model's, else a guess from the name
	// (Template "" when nothing matched).
	Entry models.Entry
	// Path is the GGUF file of an in-process model.
	Path   string
	Remote bool
	// Specs are what the model was opened from.
	Specs []Spec
}

// Close closes the engine.
func (m *Model) Close() error { return m.Engine.Close() }

// Describe is a one-line summary for the startup log.
func (m *Model) Describe() string {
	if !m.Remote {
		return fmt.Sprintf("%s (%s)", m.Name, m.Path)
	}
	s := fmt.Sprintf("%s via %d upstream(s):", m.Name, len(m.Specs))
	for _, sp := range m.Specs {
		s += " " + sp.String()
	}
	return s
}

// Open opens the engines for one role's specs (checked by ParseSpecs or
// Role.Specs); flag names the setting in errors. Remote upstreams that are
// down do not fail Open: the pool reports them and answers 503 until they
// return. An Ollama server that answers but lacks the model does fail it.
func Open(ctx context.Context, flag string, specs []Spec, opts Options) (*Model, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s: no model given", flag)
	}
	if err := checkRole(flag, specs); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if specs[0].Kind == Local {
		return openLocal(ctx, flag, specs[0], opts)
	}
	return openRemote(ctx, flag, specs, opts)
}

func openLocal(ctx context.Context, flag string, s Spec, opts Options) (*Model, error) {
	reg := opts.Registry
	if reg == nil {
		reg = models.Builtin()
	}
	path, entry, err := reg.Resolve(ctx, s.Model, opts.DataDir, opts.Log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	cfg := opts.Llama
	cfg.ModelPath = path
	if cfg.DetectTemplate == nil {
		cfg.DetectTemplate = prompt.DetectTemplateName
	}
	if cfg.Log == nil {
		cfg.Log = opts.Log
	}
	eng, err := llama.Open(ctx, cfg)
	if err != nil {
		return nil, err // llama's errors say what to install for this platform
	}
	return &Model{
		Engine: eng, Chat: eng, Tokenizer: eng, Name: eng.Info().Model,
		Entry: entry, Path: path, Specs: []Spec{s},
	}, nil
}

func openRemote(ctx context.Context, flag string, specs []Spec, opts Options) (*Model, error) {
	var members []pool.Member
	closeAll := func() {
		for _, m := range members {
			m.Close()
		}
	}
	for _, s := range specs {
		var m pool.Member
		var err error
		switch s.Kind {
		case OpenAI:
			m, err = openOpenAI(s, opts)
		case Ollama:
			m, err = openOllama(ctx, s, opts)
		default:
			err = fmt.Errorf("%q: an in-process model cannot be pooled", s.Model)
		}
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("%s %s: %w", flag, s, err)
		}
		members = append(members, m)
	}
	p, err := pool.New(ctx, members, opts.Pool)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	for _, u := range p.Info().Upstreams {
		if !u.Healthy {
			fmt.Fprintf(opts.Log, "serval: %s: upstream %s is down (%s); requests it would serve get 503 until its health check passes\n", flag, u.Name, u.LastError)
		}
	}
	name := specs[0].Model
	return &Model{
		Engine: p, Chat: p, Name: name, Entry: remoteEntry(opts.Registry, name),
		Remote: true, Specs: specs,
	}, nil
}

func openOpenAI(s Spec, opts Options) (*openai.Engine, error) {
	keyEnv := s.APIKeyEnv
	if keyEnv == "" {
		keyEnv = DefaultAPIKeyEnv
	}
	return openai.New(openai.Config{
		BaseURL: s.BaseURL,
		Model:   s.Model,
		APIKey:  opts.Getenv(keyEnv),
		Client:  opts.HTTPClient,
	})
}

// openOllama checks at startup that Ollama has the model (pulling it with
// OllamaPull). An unreachable Ollama is left to the pool's health checks.
func openOllama(ctx context.Context, s Spec, opts Options) (*ollama.Engine, error) {
	base, err := ollama.ResolveURL(opts.OllamaURL, "")
	if err != nil {
		return nil, fmt.Errorf("--ollama-url: %w", err)
	}
	e, err := ollama.New(ollama.Config{Model: s.Model, CPUOnly: opts.OllamaCPUOnly, HTTPClient: opts.HTTPClient}, base)
	if err != nil {
		return nil, err
	}
	timeout := opts.StartupCheckTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	err = e.Check(cctx)
	cancel()
	switch {
	case err == nil:
		return e, nil
	case errors.Is(err, engine.ErrUnavailable):
		return e, nil // down now; the pool says so and keeps checking
	case opts.OllamaPull:
		if err := e.Ensure(ctx, true, opts.Log); err != nil {
			e.Close()
			return nil, err
		}
		return e, nil
	default:
		e.Close()
		return nil, err
	}
}

// remoteEntry describes a remote model for prompt building: the registry
// entry of the same name, else one with the template guessed from the name
// ("" when nothing matches: the prompt builder's default then applies).
func remoteEntry(reg *models.Registry, name string) models.Entry {
	if reg == nil {
		reg = models.Builtin()
	}
	if e, ok := reg.Lookup(name); ok {
		return e
	}
	return models.Entry{Name: name, Kind: models.KindCompletion, Template: prompt.GuessTemplateName(name)}
}
