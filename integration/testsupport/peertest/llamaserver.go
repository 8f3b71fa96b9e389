package peertest

import (
	"fmt"
	"strconv"
	"testing"
)

// LlamaServerOptions configure StartLlamaServer.
type LlamaServerOptions struct {
	Threads  int    // -t; 0: 1 (the CI machine has 2 cores)
	Parallel int    // --parallel slots; 0: 1
	CtxSize  int    // -c, the whole context over all slots; 0: 4096 × Parallel
	Alias    string // --alias, the model name /v1/models reports; "" keeps llama-server's default
	APIKey   string // --api-key
	Args     []string
	// Binary runs this llama-server instead of the one build.sh built (a
	// build with other options, for comparisons).
	Binary string
}

// StartLlamaServer runs llama-server on model (a GGUF path) on a free
// loopback port and waits until /health says the model is loaded.
func StartLlamaServer(t testing.TB, model string, o LlamaServerOptions) *Process {
	t.Helper()
	bin := o.Binary
	if bin == "" {
		bin = Binary(t, "llama-server")
	}
	o.Threads = max(o.Threads, 1)
	o.Parallel = max(o.Parallel, 1)
	if o.CtxSize == 0 {
		o.CtxSize = 4096 * o.Parallel
	}
	port := FreePort(t)
	args := []string{"-m", model, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"-t", strconv.Itoa(o.Threads), "-tb", strconv.Itoa(o.Threads), "--parallel", strconv.Itoa(o.Parallel),
		"-c", strconv.Itoa(o.CtxSize), "--no-webui"}
	if o.Alias != "" {
		args = append(args, "--alias", o.Alias)
	}
	if o.APIKey != "" {
		args = append(args, "--api-key", o.APIKey)
	}
	args = append(args, o.Args...)
	p := newProcess(t, "llama-server", bin, port, args, nil, func(p *Process) error {
		code, body, err := get(p.URL + "/health")
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("/health: %d %s", code, body)
		}
		return nil
	})
	p.start(startBound)
	return p
}
