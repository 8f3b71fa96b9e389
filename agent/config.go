package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/servalhq/serval/context/ignore"
)

// Config is the agent's configuration. Every layer (file, environment,
// initializationOptions, didChangeConfiguration) decodes into this shape;
// a zero field means "not set in this layer".
type Config struct {
	Server     ServerConfig     `toml:"server" json:"server"`
	Completion CompletionConfig `toml:"completion" json:"completion"`
	Logs       LogsConfig       `toml:"logs" json:"logs"`
}

// ServerConfig says where the Serval (or Tabby) server is.
type ServerConfig struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:8080.
	Endpoint string `toml:"endpoint" json:"endpoint"`
	// Token is sent as "Authorization: Bearer <token>".
	Token string `toml:"token" json:"token"`
	// RequestHeaders are extra headers sent with every request.
	RequestHeaders map[string]string `toml:"requestHeaders" json:"requestHeaders"`
}

// CompletionConfig tunes when and how completions are requested.
type CompletionConfig struct {
	// TimeoutMS bounds one completion request to the server.
	TimeoutMS int `toml:"timeout" json:"timeout"`
	// MaxTokens overrides the server's output budget (0: the server's default).
	MaxTokens int            `toml:"maxTokens" json:"maxTokens"`
	Debounce  DebounceConfig `toml:"debounce" json:"debounce"`
	Prompt    PromptConfig   `toml:"prompt" json:"prompt"`
	Disabled  *bool          `toml:"disabled" json:"disabled"`
	Cache     CacheConfig    `toml:"cache" json:"cache"`
	Stream    *bool          `toml:"stream" json:"stream"`
	// Warmup (default on) lets the agent ask the server to evaluate the
	// prompt of a place the user focuses before the first keystroke there
	// (agent/warmup.go).
	Warmup    *bool           `toml:"warmup" json:"warmup"`
	Languages LanguagesConfig `toml:"languages" json:"languages"`
	// Context picks the context source at startup: "syntax" (default:
	// context/gather's tree-sitter windows, declarations and snippets) or
	// "windows" (plain prefix/suffix windows by a character budget).
	Context string `toml:"context" json:"context"`
	// Exclude are globs of files kept out of completion context (nothing
	// of them is sent, and completing inside them sends nothing), added to
	// the built-in list of credential files (context/ignore.DefaultExcludes).
	// Every layer adds to it; the gatherer reads it at startup.
	Exclude []string `toml:"exclude" json:"exclude"`
}

// DebounceConfig picks the debounce for automatic triggers.
type DebounceConfig struct {
	// Mode is "adaptive" (default) or "fixed".
	Mode string `toml:"mode" json:"mode"`
	// IntervalMS is the fixed delay, or the adaptive mode's starting rhythm.
	IntervalMS int `toml:"interval" json:"interval"`
}

// PromptConfig sizes the prefix and suffix windows, in characters.
type PromptConfig struct {
	MaxPrefixChars int `toml:"maxPrefixChars" json:"maxPrefixChars"`
	MaxSuffixChars int `toml:"maxSuffixChars" json:"maxSuffixChars"`
}

// CacheConfig sizes the completion cache.
type CacheConfig struct {
	Entries int `toml:"entries" json:"entries"`
	TTLSec  int `toml:"ttl" json:"ttl"`
}

// LanguagesConfig turns completion off for some language ids.
type LanguagesConfig struct {
	Disabled []string `toml:"disabled" json:"disabled"`
}

// LogsConfig sets the log level ("debug", "info", "warn", "error").
type LogsConfig struct {
	Level string `toml:"level" json:"level"`
}

// DefaultConfig is the bottom layer.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{Endpoint: "http://127.0.0.1:8080"},
		Completion: CompletionConfig{
			TimeoutMS: 4000,
			Debounce:  DebounceConfig{Mode: "adaptive", IntervalMS: 150},
			Prompt:    PromptConfig{MaxPrefixChars: 8000, MaxSuffixChars: 4000},
			Cache:     CacheConfig{Entries: 100, TTLSec: 300},
			Context:   "syntax",
		},
		Logs: LogsConfig{Level: "info"},
	}
}

// Merge returns c with every field that is set in over replacing c's: an
// empty value never overrides a set one.
func (c Config) Merge(over Config) Config {
	setS := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setS(&c.Server.Endpoint, over.Server.Endpoint)
	setS(&c.Server.Token, over.Server.Token)
	if len(over.Server.RequestHeaders) > 0 {
		h := make(map[string]string, len(c.Server.RequestHeaders)+len(over.Server.RequestHeaders))
		for k, v := range c.Server.RequestHeaders {
			h[k] = v
		}
		for k, v := range over.Server.RequestHeaders {
			if v != "" {
				h[k] = v
			}
		}
		c.Server.RequestHeaders = h
	}
	setI(&c.Completion.TimeoutMS, over.Completion.TimeoutMS)
	setI(&c.Completion.MaxTokens, over.Completion.MaxTokens)
	setS(&c.Completion.Debounce.Mode, over.Completion.Debounce.Mode)
	setI(&c.Completion.Debounce.IntervalMS, over.Completion.Debounce.IntervalMS)
	setI(&c.Completion.Prompt.MaxPrefixChars, over.Completion.Prompt.MaxPrefixChars)
	setI(&c.Completion.Prompt.MaxSuffixChars, over.Completion.Prompt.MaxSuffixChars)
	setI(&c.Completion.Cache.Entries, over.Completion.Cache.Entries)
	setI(&c.Completion.Cache.TTLSec, over.Completion.Cache.TTLSec)
	if over.Completion.Disabled != nil {
		c.Completion.Disabled = over.Completion.Disabled
	}
	if over.Completion.Warmup != nil {
		c.Completion.Warmup = over.Completion.Warmup
	}
	if over.Completion.Stream != nil {
		c.Completion.Stream = over.Completion.Stream
	}
	setS(&c.Completion.Context, over.Completion.Context)
	if len(over.Completion.Exclude) > 0 {
		c.Completion.Exclude = append(append([]string(nil), c.Completion.Exclude...), over.Completion.Exclude...)
	}
	if len(over.Completion.Languages.Disabled) > 0 {
		c.Completion.Languages.Disabled = over.Completion.Languages.Disabled
	}
	setS(&c.Logs.Level, over.Logs.Level)
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch c.Completion.Debounce.Mode {
	case "adaptive", "fixed":
	default:
		return fmt.Errorf("completion.debounce.mode %q: want adaptive or fixed", c.Completion.Debounce.Mode)
	}
	switch c.Completion.Context {
	case "syntax", "windows":
	default:
		return fmt.Errorf("completion.context %q: want syntax or windows", c.Completion.Context)
	}
	if err := ignore.CheckGlobs(c.Completion.Exclude); err != nil {
		return fmt.Errorf("completion.exclude: %w", err)
	}
	if c.Completion.TimeoutMS < 0 || c.Completion.Prompt.MaxPrefixChars < 0 || c.Completion.Prompt.MaxSuffixChars < 0 {
		return fmt.Errorf("negative timeout or prompt budget")
	}
	return nil
}

// ConfigLayer names one source of configuration, in increasing precedence.
type ConfigLayer int

// The layers, lowest precedence first.
const (
	LayerDefaults ConfigLayer = iota
	LayerFile
	LayerEnv
	LayerInitOptions
	LayerClient // workspace/didChangeConfiguration, under "serval"
	numLayers
)

// ConfigStack holds every layer and computes the effective configuration.
type ConfigStack struct {
	mu       sync.Mutex
	layers   [numLayers]Config
	filePath string // where LayerFile comes from, for messages
}

// NewConfigStack starts with the defaults and the environment.
func NewConfigStack(getenv func(string) string) *ConfigStack {
	s := &ConfigStack{}
	s.layers[LayerDefaults] = DefaultConfig()
	s.layers[LayerEnv] = EnvConfig(getenv)
	return s
}

// Set replaces one layer and returns the effective configuration.
func (s *ConfigStack) Set(layer ConfigLayer, c Config) Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.layers[layer] = c
	return s.effectiveLocked()
}

// Layer returns one layer as last set.
func (s *ConfigStack) Layer(layer ConfigLayer) Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layers[layer]
}

// Effective merges the layers.
func (s *ConfigStack) Effective() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.effectiveLocked()
}

func (s *ConfigStack) effectiveLocked() Config {
	c := s.layers[0]
	for _, l := range s.layers[1:] {
		c = c.Merge(l)
	}
	return c
}

// EnvConfig reads SERVAL_ENDPOINT and SERVAL_TOKEN.
func EnvConfig(getenv func(string) string) Config {
	var c Config
	c.Server.Endpoint = getenv("SERVAL_ENDPOINT")
	c.Server.Token = getenv("SERVAL_TOKEN")
	return c
}

// ParseConfigTOML decodes the agent.toml file format.
func ParseConfigTOML(data []byte) (Config, error) {
	var c Config
	if _, err := toml.Decode(string(data), &c); err != nil {
		return Config{}, fmt.Errorf("agent config: %w", err)
	}
	return c, nil
}

// ParseConfigJSON decodes initializationOptions or the "serval" section of
// didChangeConfiguration; null or empty input is an empty layer.
func ParseConfigJSON(data []byte) (Config, error) {
	var c Config
	if len(data) == 0 || string(data) == "null" {
		return c, nil
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("agent settings: %w", err)
	}
	return c, nil
}

// DefaultConfigPath is ~/.config/serval/agent.toml (XDG_CONFIG_HOME honoured).
func DefaultConfigPath(getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			if h, err := os.UserHomeDir(); err == nil {
				home = h
			}
		}
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "serval", "agent.toml")
}

// Timeout is the completion request timeout.
func (c Config) Timeout() time.Duration {
	return time.Duration(c.Completion.TimeoutMS) * time.Millisecond
}
