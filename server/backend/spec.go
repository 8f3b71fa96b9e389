// Package backend turns the model settings of `serval serve` (the --model and
// --chat-model specs and the upstream lists of a --config TOML file) into
// engines: a GGUF path or registry name becomes the in-process llama.cpp
// engine, `ollama:<name>` an Ollama model, `openai:<base-url>#<model>` an
// OpenAI-compatible upstream, and several remote specs for one role a pool.
// Remote engines always sit in a pool (even alone) so that their health is
// checked, shown per upstream, and a down upstream answers 503 until it
// returns.
package backend

import (
	"errors"
	"fmt"
	"strings"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/engine/ollama"
	"github.com/servalhq/serval/server/engine/openai"
)

// Kind says which engine a Spec selects.
type Kind int

const (
	Local  Kind = iota // in-process llama.cpp: a GGUF path or a registry name
	Ollama             // ollama:<model>
	OpenAI             // openai:<base-url>#<model>
)

func (k Kind) String() string {
	switch k {
	case Ollama:
		return "ollama"
	case OpenAI:
		return "openai"
	}
	return "local"
}

// Spec is one parsed model spec.
type Spec struct {
	Kind Kind
	// Model is the GGUF path or registry name (Local), Ollama's model name,
	// or the model name the OpenAI-compatible upstream serves.
	Model string
	// BaseURL is the OpenAI-compatible API root (OpenAI only).
	BaseURL string
	// APIKeyEnv names the environment variable holding the upstream's API key
	// (OpenAI only); "" means $SERVAL_UPSTREAM_API_KEY.
	APIKeyEnv string
}

// DefaultAPIKeyEnv holds the API key sent to OpenAI-compatible upstreams.
const DefaultAPIKeyEnv = "SERVAL_UPSTREAM_API_KEY"

// String gives the spec back in --model form.
func (s Spec) String() string {
	switch s.Kind {
	case Ollama:
		return "ollama:" + s.Model
	case OpenAI:
		return "openai:" + engine.RedactURLs(s.BaseURL) + "#" + s.Model
	}
	return s.Model
}

// ParseSpec parses one --model value. It checks URLs and names but contacts
// nothing.
func ParseSpec(raw string) (Spec, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Spec{}, errors.New("empty model spec")
	}
	if name, ok := strings.CutPrefix(raw, "ollama:"); ok {
		if name == "" || strings.ContainsAny(name, " \t\r\n#") {
			return Spec{}, fmt.Errorf("%q: want ollama:<model name>, e.g. ollama:qwen2.5-coder:1.5b", raw)
		}
		return Spec{Kind: Ollama, Model: name}, nil
	}
	if rest, ok := strings.CutPrefix(raw, "openai:"); ok {
		cfg, err := openai.ParseSpec(rest)
		if err != nil {
			return Spec{}, fmt.Errorf("%q: %w (e.g. openai:http://gpu-1:8000/v1#Qwen2.5-Coder-7B)", raw, err)
		}
		return Spec{Kind: OpenAI, Model: cfg.Model, BaseURL: cfg.BaseURL}, nil
	}
	return Spec{Kind: Local, Model: raw}, nil
}

// ParseSpecs parses several values of flag (named in errors) and checks that
// they can serve one role together: one in-process model, or any number of
// remote upstreams.
func ParseSpecs(flag string, raws []string) ([]Spec, error) {
	var specs []Spec
	for _, raw := range raws {
		s, err := ParseSpec(raw)
		if err != nil {
			return nil, fmt.Errorf("%s %w", flag, err)
		}
		specs = append(specs, s)
	}
	return specs, checkRole(flag, specs)
}

func checkRole(flag string, specs []Spec) error {
	if len(specs) <= 1 {
		return nil
	}
	for _, s := range specs {
		if s.Kind == Local {
			return fmt.Errorf("%s %q: an in-process model cannot be pooled; several %s values must all be ollama: or openai: upstreams (run more serval instances and pool them with openai:http://host:port/openai/v1#<model>)", flag, s.Model, flag)
		}
	}
	return nil
}

// ResolveOllamaURL picks Ollama's address from --ollama-url, else $OLLAMA_HOST,
// naming the source in the error.
func ResolveOllamaURL(flagValue string, getenv func(string) string) (string, error) {
	env := getenv("OLLAMA_HOST")
	u, err := ollama.ResolveURL(flagValue, env)
	if err != nil {
		source := "--ollama-url"
		if flagValue == "" {
			source = "$OLLAMA_HOST"
		}
		return "", fmt.Errorf("%s: %w", source, err)
	}
	return u.String(), nil
}
