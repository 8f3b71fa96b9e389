package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/httpapi"
)

// doctorConfig is what `serval doctor` checks, and where each value came from.
type doctorConfig struct {
	server, serverFrom string
	token, tokenFrom   string
	agentConfig        string // the agent's config file path
	agentConfigErr     error  // why it could not be read (nil: read, or absent)
	agentConfigFound   bool
	expectDevice       string
	slow               time.Duration
	timeout            time.Duration
}

// check is one line of the doctor's report.
type check struct {
	name        string
	status      string // "ok", "FAIL" or "skip"
	detail      string
	cause, fix  string
	needsServer bool
}

// runDoctor implements `serval doctor`: the setup checklist and early-failure
// triage, run from a user's machine against the server their editor uses.
func runDoctor(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg doctorConfig
	fs := newFlagSet("serval doctor", stderr)
	server := fs.String("server", "", "server URL (default: $SERVAL_ENDPOINT, else the agent config's [server] endpoint, else http://127.0.0.1:8080)")
	token := fs.String("token", "", "API token (default: $SERVAL_TOKEN, else the agent config's [server] token)")
	fs.StringVar(&cfg.agentConfig, "agent-config", agentConfigPath(getenv), "the editor agent's config file")
	fs.StringVar(&cfg.expectDevice, "device", "", "the device the server should run on (cpu or cuda); empty: any")
	fs.DurationVar(&cfg.slow, "slow", 2*time.Second, "a completion round trip slower than this fails the check")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long each check may wait")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	agent := readAgentServerConfig(&cfg)
	cfg.server, cfg.serverFrom = firstSet(
		setting{*server, "--server"}, setting{getenv("SERVAL_ENDPOINT"), "$SERVAL_ENDPOINT"},
		setting{agent.Endpoint, "the agent config"}, setting{"http://127.0.0.1:8080", "the default"})
	cfg.token, cfg.tokenFrom = firstSet(
		setting{*token, "--token"}, setting{getenv("SERVAL_TOKEN"), "$SERVAL_TOKEN"},
		setting{agent.Token, "the agent config"}, setting{"", "nowhere"})

	// The token is never printed: only where it came from.
	fmt.Fprintf(stdout, "serval doctor: %s (from %s), token from %s\n", cfg.server, cfg.serverFrom, cfg.tokenFrom)
	checks := doctorChecks(ctx, &cfg)
	failed := 0
	for _, c := range checks {
		fmt.Fprintf(stdout, "  %-4s  %-22s %s\n", c.status, c.name, c.detail)
		if c.status == "FAIL" {
			failed++
			fmt.Fprintf(stdout, "        likely cause: %s\n        first fix:    %s\n", c.cause, c.fix)
		}
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", failed, len(checks))
	}
	fmt.Fprintf(stdout, "all %d checks passed\n", len(checks))
	return nil
}

// doctorChecks runs the checks in order; a check whose premise failed is skipped.
func doctorChecks(ctx context.Context, cfg *doctorConfig) []check {
	var checks []check
	reach := checkReachable(ctx, cfg)
	checks = append(checks, reach)
	var health *api.HealthState
	var client *api.Client
	tok := check{name: "token accepted", status: "skip", detail: "(needs a reachable server)"}
	if reach.status == "ok" {
		client, health, tok = checkToken(ctx, cfg)
	}
	checks = append(checks, tok)
	model := check{name: "model and device", status: "skip", detail: "(needs an accepted token)"}
	trip := check{name: "completion round trip", status: "skip", detail: "(needs an accepted token)"}
	if tok.status == "ok" {
		model = checkModel(health, cfg)
		trip = checkCompletion(ctx, client, cfg)
	}
	return append(checks, model, trip, checkAgentConfig(cfg))
}

func checkReachable(ctx context.Context, cfg *doctorConfig) check {
	c := check{name: "server reachable"}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cfg.server, "/")+httpapi.LivenessPath, nil)
	if err != nil {
		c.status, c.detail = "FAIL", err.Error()
		c.cause = "the server URL is not a URL"
		c.fix = "pass --server http://HOST:PORT (or set [server] endpoint in " + cfg.agentConfig + ")"
		return c
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.status, c.detail = "FAIL", err.Error()
		c.cause, c.fix = unreachableCause(err, cfg.server)
		return c
	}
	resp.Body.Close()
	// Any HTTP answer means something serves there; a Tabby server has no /healthz.
	c.status, c.detail = "ok", fmt.Sprintf("%s answered in %s", cfg.server, time.Since(start).Round(time.Millisecond))
	return c
}

// unreachableCause explains a failed connection.
func unreachableCause(err error, server string) (cause, fix string) {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "the host name in " + server + " does not resolve", "check the host name, or use the server's IP address"
	case strings.Contains(err.Error(), "connection refused"):
		return "nothing listens at " + server + ": serval is not running, crashed at start (see its log), or listens on another host/port",
			"start it (`serval serve`, `docker start serval`, `systemctl start serval`) and read its last log lines; a server on another machine needs --host 0.0.0.0"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return "http/https mismatch or an untrusted certificate", "use http:// for a server without TLS, or the proxy's https:// URL with a trusted certificate"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		return "no answer: a firewall drops the connection, or the server is still loading its model",
			"wait for `serval: listening on` in its log, then check firewalls between this machine and the server"
	}
	return "the connection failed", "check the URL and the network between this machine and the server"
}

func checkToken(ctx context.Context, cfg *doctorConfig) (*api.Client, *api.HealthState, check) {
	c := check{name: "token accepted"}
	if cfg.token == "" {
		c.status, c.detail = "FAIL", "no token given"
		c.cause = "neither --token, $SERVAL_TOKEN nor [server] token in " + cfg.agentConfig + " is set"
		c.fix = getTokenFix(cfg)
		return nil, nil, c
	}
	client, err := api.NewClient(cfg.server, cfg.token, nil)
	if err != nil {
		c.status, c.detail, c.cause, c.fix = "FAIL", err.Error(), "the server URL is not usable", "pass --server http://HOST:PORT"
		return nil, nil, c
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	health, err := client.Health(ctx)
	switch code := api.StatusCode(err); {
	case err == nil:
		c.status, c.detail = "ok", "from "+cfg.tokenFrom
		return client, health, c
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		c.cause = "the server does not know this token: mistyped, revoked, or made for another server's data directory"
		c.fix = getTokenFix(cfg)
	case code == http.StatusTooManyRequests:
		c.cause = "this token is over its rate limit"
		c.fix = "wait a minute; if it recurs, raise --rate-limit on the server or give each user their own token"
	default:
		c.cause = "the server answered, but not as Serval or Tabby does"
		c.fix = "check that " + cfg.server + " is the serval server (a reverse proxy must pass /v1/ through)"
	}
	c.status, c.detail = "FAIL", err.Error()
	return nil, nil, c
}

// getTokenFix says how a user gets a token without an admin: the web app's
// Tokens page or the editor's sign-in (`serval token create` is for admins on
// the server), and where the doctor would then find it.
func getTokenFix(cfg *doctorConfig) string {
	fix := "sign in from the editor (VS Code: Serval: Sign In; Neovim: :ServalSignIn; JetBrains: Sign In), " +
		"or create one on the Tokens page of the web app at " + strings.TrimRight(cfg.server, "/") + "/; "
	if cfg.agentConfigFound {
		return fix + "then put it in [server] token of " + cfg.agentConfig + " or pass it with --token"
	}
	return fix + "then pass the token your editor uses with --token (or $SERVAL_TOKEN) to check it here"
}

func checkModel(h *api.HealthState, cfg *doctorConfig) check {
	c := check{name: "model and device", status: "FAIL"}
	device := h.Device
	switch {
	case h.Model == "":
		c.detail = "the server reports no completion model"
		c.cause = "the server was started without a usable model"
		c.fix = "restart it with --model NAME or a GGUF path (see `serval serve --help`)"
	case cfg.expectDevice != "" && device != cfg.expectDevice:
		c.detail = fmt.Sprintf("model %s runs on %s, not %s", h.Model, device, cfg.expectDevice)
		c.cause = "the server was started with another --device, or is not the server you meant"
		c.fix = "restart it with --device " + cfg.expectDevice + " (CUDA needs the CUDA build: make build DEVICE=cuda, or the serval:cuda image)"
	case device == "cuda" && len(h.CUDADevices) == 0:
		c.detail = fmt.Sprintf("model %s on cuda, but the server sees no CUDA device", h.Model)
		c.cause = "a model/device mismatch: no GPU visible to the server (driver, --gpus all, or NVIDIA_VISIBLE_DEVICES)"
		c.fix = "restart with --device cpu and a smaller model, or give the container the GPU (--gpus all)"
	default:
		c.status = "ok"
		c.detail = fmt.Sprintf("model %s on %s", h.Model, device)
		if h.Slots != nil && h.Slots.Total > 0 {
			c.detail += fmt.Sprintf(", %d slots", h.Slots.Total)
		}
	}
	return c
}

func checkCompletion(ctx context.Context, client *api.Client, cfg *doctorConfig) check {
	c := check{name: "completion round trip", status: "FAIL"}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	start := time.Now()
	_, err := client.Complete(ctx, &api.CompletionRequest{
		Language: "python",
		Segments: &api.Segments{Prefix: "def add(a, b):\n    ", Suffix: "\n"},
	})
	took := time.Since(start).Round(time.Millisecond)
	switch code := api.StatusCode(err); {
	case err == nil && took > cfg.slow:
		c.detail = fmt.Sprintf("answered in %s, slower than %s", took, cfg.slow)
		c.cause = "the model is too large for this machine, or requests queue behind others (--parallel slots share the hardware)"
		c.fix = "a smaller model (e.g. --model Qwen2.5-Coder-0.5B), or fewer --parallel slots; on a GPU machine, --device cuda"
	case err == nil:
		c.status, c.detail = "ok", fmt.Sprintf("answered in %s", took)
	case code >= 500 && deviceFailure(err):
		c.detail = err.Error()
		c.cause = "the model failed on its device: out of memory, or a model/device mismatch"
		c.fix = "a smaller model, or restart with --device cpu"
	case code == http.StatusServiceUnavailable && strings.Contains(err.Error(), "upstream"):
		c.detail = err.Error()
		c.cause = "the model servers behind serval (Ollama, vLLM, other servals) are down or failing"
		c.fix = "check the upstream named above and its log; serval retries it by itself once it answers"
	case code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests:
		c.detail = err.Error()
		c.cause = "the server is overloaded: its queue is full"
		c.fix = "retry; if it persists, fewer clients per server, a smaller model, or more servers (docs/deploy.md)"
	case code >= 500:
		c.detail = err.Error()
		c.cause = "the model failed to generate: a model/device mismatch, or a broken model file"
		c.fix = "a smaller model, or restart with --device cpu; the server's log has the engine's error"
	case errors.Is(err, context.DeadlineExceeded):
		c.detail = fmt.Sprintf("no answer within %s", cfg.timeout)
		c.cause = "the model is far too slow here, or the server is stuck"
		c.fix = "a smaller model or fewer --parallel slots; read the server's log"
	default:
		c.detail = err.Error()
		c.cause = "the server refused the request"
		c.fix = "compare the server and doctor versions (`serval version`)"
	}
	return c
}

// deviceFailure reports whether a server error is the engine running out of
// device memory or failing on its device, as llama.cpp, vLLM and Ollama word it.
func deviceFailure(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, sign := range []string{"out of memory", "cuda", "cublas", "failed to allocate", "device"} {
		if strings.Contains(msg, sign) {
			return true
		}
	}
	return false
}

func checkAgentConfig(cfg *doctorConfig) check {
	c := check{name: "agent config"}
	switch {
	case cfg.agentConfigErr != nil:
		c.status, c.detail = "FAIL", cfg.agentConfigErr.Error()
		c.cause = "the editor agent cannot read its config file either, so it runs on defaults"
		c.fix = "fix the TOML in " + cfg.agentConfig + " (keys: docs/agent.md)"
	case !cfg.agentConfigFound:
		// The usual case: VS Code, Neovim's setup{} and JetBrains pass the
		// agent its endpoint and token; the file is optional.
		c.status, c.detail = "ok", "none at "+cfg.agentConfig+" (optional: the editor's settings give the agent its server and token)"
	default:
		c.status, c.detail = "ok", cfg.agentConfig
	}
	return c
}

// agentServerConfig is the [server] table of the agent's config file: the
// only part the doctor needs. server/... may not import agent/ (see
// docs/architecture.md); integration/server checks both read the same file.
type agentServerConfig struct {
	Endpoint string `toml:"endpoint"`
	Token    string `toml:"token"`
}

// agentConfigPath is where serval-agent reads its config: agent.DefaultConfigPath.
func agentConfigPath(getenv env) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "serval", "agent.toml")
}

func readAgentServerConfig(cfg *doctorConfig) agentServerConfig {
	var file struct {
		Server agentServerConfig `toml:"server"`
	}
	data, err := os.ReadFile(cfg.agentConfig)
	if errors.Is(err, os.ErrNotExist) {
		return file.Server
	}
	if err == nil {
		_, err = toml.Decode(string(data), &file)
	}
	if err != nil {
		cfg.agentConfigErr = fmt.Errorf("%s: %w", cfg.agentConfig, err)
		return agentServerConfig{}
	}
	cfg.agentConfigFound = true
	return file.Server
}

type setting struct{ value, from string }

// firstSet returns the first non-empty setting and where it came from.
func firstSet(settings ...setting) (string, string) {
	for _, s := range settings {
		if s.value != "" {
			return s.value, s.from
		}
	}
	last := settings[len(settings)-1]
	return last.value, last.from
}
