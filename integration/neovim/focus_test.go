package neovim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// focusReport is what testdata/focus.lua writes.
type focusReport struct {
	Version   string   `json:"version"`
	Steps     []string `json:"steps"`
	Error     string   `json:"error"`
	AfterStep float64  `json:"after_step"`
}

// longGoFile is a Go file of about n lines: far enough apart for G to be a jump.
func longGoFile(n int) string {
	var b strings.Builder
	b.WriteString("package main\n\n")
	for i := 0; i < n/5; i++ {
		fmt.Fprintf(&b, "func f%d(a int) int {\n\tb := a * %d\n\treturn b + a\n}\n\n", i, i)
	}
	return b.String()
}

// TestFocusWarmsTheServer: serval.nvim reports where the user looks
// (serval/didFocus) and the real agent warms the real server for it: the
// file Neovim started with, a jump with G and another buffer each reach the
// server as a warm-up (the scenario never asks for a completion), a step to
// the next line does not.
func TestFocusWarmsTheServer(t *testing.T) {
	requireEnabled(t)
	agent := servaltest.AgentBinary(t)
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			srv := startServer(t)
			dir := t.TempDir()
			file, other := filepath.Join(dir, "main.go"), filepath.Join(dir, "other.go")
			for _, f := range []string{file, other} {
				if err := os.WriteFile(f, []byte(longGoFile(60)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(dir, "report.json")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE",
				"-c", "luafile "+filepath.Join(repoRoot(t), "integration", "neovim", "testdata", "focus.lua"), file)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(),
				"HOME="+dir,
				"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
				"XDG_STATE_HOME="+filepath.Join(dir, "state"),
				"XDG_DATA_HOME="+filepath.Join(dir, "data"),
				"SERVAL_NVIM_PLUGIN="+filepath.Join(repoRoot(t), "clients", "neovim"),
				"SERVAL_AGENT="+agent,
				"SERVAL_TEST_OUT="+out,
				"SERVAL_TEST_OTHER="+other,
				"SERVAL_TEST_ENDPOINT="+srv.URL, "SERVAL_TEST_TOKEN="+srv.Token, "SERVAL_ENDPOINT=", "SERVAL_TOKEN=",
			)
			var r focusReport
			stderr := b.runScenario(t, cmd, out, &r)
			if r.Version != b.version {
				t.Errorf("ran Neovim %q, want %s", r.Version, b.version)
			}
			if r.Error != "" {
				t.Fatalf("scenario failed after steps %v: %s\nnvim output:\n%s\n%s", r.Steps, r.Error, stderr, lspLogs(dir))
			}
			if want := "warmed-on-open,warmed-on-jump,warmed-on-enter"; strings.Join(r.Steps, ",") != want {
				t.Errorf("steps %v, want %s", r.Steps, want)
			}
			if r.AfterStep != 2 {
				t.Errorf("after a step to the next line the server had answered %.0f warm-ups, want still 2", r.AfterStep)
			}
			n, err := srv.Metric(ctx, "serval_completions_total")
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("the server served %.0f completions; the scenario asks for none (only warm-ups)", n)
			}
		})
	}
}
