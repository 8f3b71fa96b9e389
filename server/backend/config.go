package backend

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/servalhq/serval/server/engine/pool"
)

// File is the part of a `serval serve --config FILE` TOML file this package
// reads:
//
//	[model.completion]
//	prompt_template = "qwen"            # optional, as --prompt-template
//	[[model.completion.upstream]]
//	model = "openai:http://gpu-1:8000/v1#Qwen2.5-Coder-7B"
//	api_key_env = "VLLM_API_KEY"        # optional; default $SERVAL_UPSTREAM_API_KEY
//	[[model.completion.upstream]]
//	model = "openai:http://gpu-2:8000/v1#Qwen2.5-Coder-7B"
//
//	[[model.chat.upstream]]
//	model = "ollama:qwen2.5-coder:7b-instruct"
//
//	[pool]
//	check_interval = "10s"              # health checks of healthy upstreams
//	check_timeout = "3s"
//	backoff = "2s"                      # first time out after a failure, doubling
//	max_backoff = "1m"
type File struct {
	Model struct {
		Completion Role `toml:"completion"`
		Chat       Role `toml:"chat"`
	} `toml:"model"`
	Pool PoolSettings `toml:"pool"`
}

// Role is the models of one role (completion or chat).
type Role struct {
	PromptTemplate string     `toml:"prompt_template"`
	Upstream       []Upstream `toml:"upstream"`
}

// Upstream is one member of a role's pool.
type Upstream struct {
	Model     string `toml:"model"`       // the same forms as --model
	APIKeyEnv string `toml:"api_key_env"` // openai: only
}

// PoolSettings tune health checks and the circuit breaker (pool.Config).
type PoolSettings struct {
	CheckInterval duration `toml:"check_interval"`
	CheckTimeout  duration `toml:"check_timeout"`
	Backoff       duration `toml:"backoff"`
	MaxBackoff    duration `toml:"max_backoff"`
}

// PoolConfig returns the settings as a pool.Config (zero fields: defaults).
func (p PoolSettings) PoolConfig() pool.Config {
	return pool.Config{
		CheckInterval: time.Duration(p.CheckInterval),
		CheckTimeout:  time.Duration(p.CheckTimeout),
		Backoff:       time.Duration(p.Backoff),
		MaxBackoff:    time.Duration(p.MaxBackoff),
	}
}

// duration is a time.Duration written as "10s" in TOML.
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	*d = duration(v)
	return nil
}

// OtherSection is the config file's table read elsewhere: sign-in
// settings (OpenID providers, LDAP), which serval serve reads itself.
const OtherSection = "auth"

// LoadFile reads and checks a config file; unknown keys and bad specs are
// errors naming the file and the key.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	return ParseFile(path, string(data))
}

// ParseFile parses the contents of the config file called name.
func ParseFile(name, data string) (*File, error) {
	var f File
	meta, err := toml.Decode(data, &f)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", name, err)
	}
	var keys []string
	for _, k := range meta.Undecoded() {
		// [auth] belongs to the web app's sign-in (serval serve reads it: authconfig.go).
		if len(k) > 0 && k[0] == OtherSection {
			continue
		}
		keys = append(keys, k.String())
	}
	if len(keys) > 0 {
		return nil, fmt.Errorf("--config %s: unknown keys %s (known: model.completion|chat.prompt_template, [[model.completion|chat.upstream]] model and api_key_env, pool.check_interval, check_timeout, backoff, max_backoff)",
			name, strings.Join(keys, ", "))
	}
	for _, role := range []struct {
		name string
		r    Role
	}{{"completion", f.Model.Completion}, {"chat", f.Model.Chat}} {
		if _, err := role.r.Specs(fmt.Sprintf("--config %s: model.%s.upstream", name, role.name)); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

// Specs parses the role's upstreams; where names them in errors.
func (r Role) Specs(where string) ([]Spec, error) {
	specs := make([]Spec, 0, len(r.Upstream))
	for i, u := range r.Upstream {
		at := fmt.Sprintf("%s[%d]", where, i)
		s, err := ParseSpec(u.Model)
		if err != nil {
			return nil, fmt.Errorf("%s.model %w", at, err)
		}
		if u.APIKeyEnv != "" {
			if s.Kind != OpenAI {
				return nil, fmt.Errorf("%s.api_key_env: only openai: upstreams take an API key", at)
			}
			s.APIKeyEnv = u.APIKeyEnv
		}
		specs = append(specs, s)
	}
	return specs, checkRole(where, specs)
}
