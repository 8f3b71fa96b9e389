package neovim

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestAgentForThisPlatform: with no cmd and no $SERVAL_AGENT, the plugin
// starts the agent shipped in its bin/<os>-<arch>/ for this machine (the
// serval-nvim archive's layout), passing over other platforms' agents, and
// falls back to serval-agent on PATH when none is shipped.
func TestAgentForThisPlatform(t *testing.T) {
	requireEnabled(t)
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			plugin := filepath.Join(t.TempDir(), "serval.nvim")
			if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), "clients", "neovim"), plugin).CombinedOutput(); err != nil {
				t.Fatalf("copy the plugin: %v\n%s", err, out)
			}
			if got := agentCmd(t, b, plugin); got != "serval-agent" {
				t.Errorf("nothing shipped: %q, want serval-agent (from PATH)", got)
			}
			here := filepath.Join(plugin, "bin", runtime.GOOS+"-"+runtime.GOARCH, "serval-agent")
			for _, p := range []string{filepath.Join(plugin, "bin", "windows-amd64", "serval-agent.exe"), filepath.Join(plugin, "bin", "linux-riscv64", "serval-agent"), here} {
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if got := agentCmd(t, b, plugin); got != here {
				t.Errorf("shipped for %s/%s: %q, want %s", runtime.GOOS, runtime.GOARCH, got, here)
			}
		})
	}
}

// agentCmd asks the plugin at root for its agent command, with $SERVAL_AGENT unset.
func agentCmd(t *testing.T, b nvimBuild, root string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cmd.txt")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE",
		"--cmd", "set rtp^="+root,
		"-c", "lua vim.fn.writefile({ table.concat(require('serval').agent_cmd({}), ' ') }, '"+out+"')",
		"-c", "qa!")
	cmd.Env = append(os.Environ(), "SERVAL_AGENT=", "HOME="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nvim: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(got))
}
