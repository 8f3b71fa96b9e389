package peertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Ollama is a running `ollama serve` with its models in a temporary directory.
type Ollama struct {
	*Process
	bin string
	env []string
}

// StartOllama runs `ollama serve` on a free loopback port, with its models
// and its home (keys) in temporary directories, and waits until it answers.
// env adds settings (OLLAMA_NUM_PARALLEL=4, OLLAMA_DEBUG=2, ...).
func StartOllama(t testing.TB, env ...string) *Ollama {
	t.Helper()
	bin := Binary(t, "ollama")
	port := FreePort(t)
	home := t.TempDir()
	base := []string{
		"OLLAMA_HOST=127.0.0.1:" + strconv.Itoa(port),
		"OLLAMA_MODELS=" + filepath.Join(home, "models"),
		"HOME=" + home,
		"OLLAMA_NOPRUNE=1",
		"OLLAMA_KEEP_ALIVE=10m",
		// No cloud models, no update checks: only loopback is used.
		"OLLAMA_NO_CLOUD=1",
		// A pull (--ollama-pull of a missing name) must not reach for
		// registry.ollama.ai, not even its DNS name: every request other
		// than to loopback goes to a closed loopback port, where the proxy
		// resolves names (so none is looked up here) and fails at once.
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	}
	env = append(base, env...)
	p := newProcess(t, "ollama", bin, port, []string{"serve"}, env, func(p *Process) error {
		code, body, err := get(p.URL + "/")
		if err != nil {
			return err
		}
		if code != 200 || !strings.Contains(body, "Ollama is running") {
			return fmt.Errorf("/: %d %q", code, body)
		}
		return nil
	})
	p.start(startBound)
	return &Ollama{Process: p, bin: bin, env: p.env}
}

// Create imports the GGUF file at gguf as model name with `ollama create`
// (Modelfile: FROM the file, a raw template, so the prompt is used as sent).
func (o *Ollama) Create(t testing.TB, name, gguf string, params ...string) {
	t.Helper()
	dir := t.TempDir()
	modelfile := "FROM " + gguf + "\nTEMPLATE {{ .Prompt }}\n"
	for _, p := range params {
		modelfile += "PARAMETER " + p + "\n"
	}
	mf := filepath.Join(dir, "Modelfile")
	if err := os.WriteFile(mf, []byte(modelfile), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, "create", name, "-f", mf)
	cmd.Dir = dir
	cmd.Env = o.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ollama create %s: %v\n%s\nserver log:\n%s", name, err, out, o.Logs())
	}
}
