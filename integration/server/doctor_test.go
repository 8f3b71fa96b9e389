package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/agent"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// runDoctor runs `serval doctor` with XDG_CONFIG_HOME=configHome (where the
// agent's config is looked for) and no SERVAL_* variables; it returns the
// output and whether the doctor passed.
func runDoctor(t *testing.T, configHome string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, servaltest.Binary(t), append([]string{"doctor", "--timeout", "20s"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SERVAL_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "XDG_CONFIG_HOME="+configHome)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serval doctor did not finish within 2 minutes:\n%s", out.String())
	}
	return out.String(), err == nil
}

// writeAgentConfig writes the agent's config where serval-agent reads it
// (agent.DefaultConfigPath), so the test also proves the doctor looks there.
func writeAgentConfig(t *testing.T, body string) string {
	t.Helper()
	home := t.TempDir()
	path := agent.DefaultConfigPath(func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return home
		}
		return ""
	})
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// wantFailure checks that the named check failed with the expected cause
// and first fix, and that the doctor exited non-zero.
func wantFailure(t *testing.T, out string, passed bool, checkName string, want ...string) {
	t.Helper()
	if passed {
		t.Errorf("doctor passed, want %q to fail:\n%s", checkName, out)
	}
	i := strings.Index(out, "FAIL  "+checkName)
	if i < 0 {
		t.Fatalf("no failed %q check:\n%s", checkName, out)
	}
	block := out[i:]
	if !strings.Contains(block, "likely cause:") || !strings.Contains(block, "first fix:") {
		t.Errorf("%q failed without a cause and a fix:\n%s", checkName, out)
	}
	for _, w := range want {
		if !strings.Contains(block, w) {
			t.Errorf("%q: output lacks %q:\n%s", checkName, w, out)
		}
	}
}

// firstFix returns the first "first fix:" line of the doctor's output.
func firstFix(out string) string {
	_, after, _ := strings.Cut(out, "first fix:")
	line, _, _ := strings.Cut(after, "\n")
	return line
}

func TestDoctor(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	config := fmt.Sprintf("[server]\nendpoint = %q\ntoken = %q\n", s.URL, s.Token)

	t.Run("healthy, from the agent config", func(t *testing.T) {
		out, passed := runDoctor(t, writeAgentConfig(t, config))
		if !passed || strings.Count(out, "  ok    ") != 5 || !strings.Contains(out, "all 5 checks passed") {
			t.Fatalf("healthy server: passed=%v\n%s", passed, out)
		}
		for _, want := range []string{s.URL + " (from the agent config)", "model serval-test", "on cpu", "answered in"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, s.Token) {
			t.Error("the doctor printed the token")
		}
	})

	t.Run("server unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		closed := "http://" + ln.Addr().String()
		ln.Close()
		out, passed := runDoctor(t, writeAgentConfig(t, config), "--server", closed)
		wantFailure(t, out, passed, "server reachable", "nothing listens", "serval serve")
		if !strings.Contains(out, "skip  token accepted") {
			t.Errorf("later checks ran against an unreachable server:\n%s", out)
		}
	})

	t.Run("token refused", func(t *testing.T) {
		out, passed := runDoctor(t, writeAgentConfig(t, config), "--token", "srv_"+strings.Repeat("x", 32))
		wantFailure(t, out, passed, "token accepted", "401", "Tokens page of the web app at "+s.URL+"/", ":ServalSignIn", "[server] token of")
		if strings.Contains(firstFix(out), "serval token create") {
			t.Errorf("a user's fix points to the admin-only `serval token create`:\n%s", out)
		}
	})

	t.Run("no token", func(t *testing.T) {
		out, passed := runDoctor(t, writeAgentConfig(t, fmt.Sprintf("[server]\nendpoint = %q\n", s.URL)))
		wantFailure(t, out, passed, "token accepted", "no token given", "Tokens page of the web app at "+s.URL+"/", "Serval: Sign In")
		if strings.Contains(firstFix(out), "serval token create") {
			t.Errorf("a user's fix points to the admin-only `serval token create`:\n%s", out)
		}
	})

	// The editor passes its settings to the agent and there is no agent
	// config: the token fix says to pass the editor's token, not to edit a file.
	t.Run("no token, no agent config", func(t *testing.T) {
		out, passed := runDoctor(t, t.TempDir(), "--server", s.URL)
		wantFailure(t, out, passed, "token accepted", "no token given", "Tokens page", "pass the token your editor uses with --token")
		if strings.Contains(firstFix(out), "serval token create") || strings.Contains(out, "FAIL  agent config") {
			t.Errorf("want only the token check to fail, with a user's fix:\n%s", out)
		}
	})

	t.Run("slow round trip", func(t *testing.T) {
		out, passed := runDoctor(t, writeAgentConfig(t, config), "--slow", "1ns")
		wantFailure(t, out, passed, "completion round trip", "slower than", "smaller model", "--parallel")
	})

	t.Run("device mismatch", func(t *testing.T) {
		out, passed := runDoctor(t, writeAgentConfig(t, config), "--device", "cuda")
		wantFailure(t, out, passed, "model and device", "runs on cpu, not cuda", "--device cuda")
	})

	// No agent config is normal: the editor passes the agent its settings.
	t.Run("agent config missing", func(t *testing.T) {
		out, passed := runDoctor(t, t.TempDir(), "--server", s.URL, "--token", s.Token)
		if !passed || strings.Count(out, "  ok    ") != 5 || !strings.Contains(out, "all 5 checks passed") {
			t.Fatalf("no agent config failed the doctor: passed=%v\n%s", passed, out)
		}
		if !strings.Contains(out, "ok    agent config           none at ") || !strings.Contains(out, "editor's settings") {
			t.Errorf("the agent config line does not say the file is optional:\n%s", out)
		}
	})

	t.Run("agent config broken", func(t *testing.T) {
		out, passed := runDoctor(t, writeAgentConfig(t, "[server\nendpoint = "), "--server", s.URL, "--token", s.Token)
		wantFailure(t, out, passed, "agent config", "agent.toml", "fix the TOML")
	})
}

// TestDoctorModelFailsOnDevice: a server whose model fails at generation
// (here an OpenAI-compatible upstream answering 500 "out of memory", as vLLM
// or llama.cpp do on a GPU too small for the model) gets the
// smaller-model / --device cpu advice.
func TestDoctorModelFailsOnDevice(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":{"message":"CUDA error: out of memory","type":"server_error"}}`))
	}))
	defer upstream.Close()
	s := servaltest.Start(t, servaltest.Options{Model: "openai:" + upstream.URL + "/v1#coder"})
	out, passed := runDoctor(t, writeAgentConfig(t, fmt.Sprintf("[server]\nendpoint = %q\ntoken = %q\n", s.URL, s.Token)))
	wantFailure(t, out, passed, "completion round trip", "smaller model", "--device cpu")
}
