package neovim

import (
	"context"
	"encoding/binary"
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

// macAgentScript asks the plugin, on a Mac faked through os_uname (machine
// arm64 or x86_64) with the quarantine check answering yes for
// $FAKE_QUARANTINED only, for its agent command, the problem it sees with
// that agent, and, after starting for a file, why the agent is not running.
const macAgentScript = `
local uv = vim.uv or vim.loop
local machine = os.getenv('FAKE_MACHINE')
uv.os_uname = function() return { sysname = 'Darwin', machine = machine, release = '23.6.0', version = '' } end
local serval = require('serval')
serval.is_quarantined = function(f) return f == os.getenv('FAKE_QUARANTINED') end
local cmd = serval.agent_cmd({})[1]
local problem = serval.agent_problem(cmd) or ''
local reason = ''
if problem ~= '' then
  serval.setup({ start = false })
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('FAKE_FILE')))
  serval.start(0)
  reason = serval.not_running_reason()
end
vim.fn.writefile({ cmd, problem, reason }, os.getenv('FAKE_OUT'))
`

// machO writes a file whose header is a 64-bit Mach-O executable's for cpu.
func machO(t *testing.T, path string, cpu uint32) {
	t.Helper()
	h := make([]byte, 32)
	binary.LittleEndian.PutUint32(h[0:], 0xfeedfacf)
	binary.LittleEndian.PutUint32(h[4:], cpu)
	binary.LittleEndian.PutUint32(h[12:], 2) // MH_EXECUTE
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, h, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestAgentOnAMac: on Apple silicon (os_uname's machine arm64) the plugin
// starts bin/darwin-arm64/serval-agent, on an Intel Mac (x86_64)
// bin/darwin-amd64/serval-agent; an agent built for the other Mac, or one
// macOS quarantined, is not started, and the reason says what to do: for
// the quarantine, the exact xattr command (as in the VS Code extension).
func TestAgentOnAMac(t *testing.T) {
	requireEnabled(t)
	const arm64, amd64 = 0x0100000c, 0x01000007
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			plugin := filepath.Join(t.TempDir(), "serval.nvim")
			if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), "clients", "neovim"), plugin).CombinedOutput(); err != nil {
				t.Fatalf("copy the plugin: %v\n%s", err, out)
			}
			appleSilicon := filepath.Join(plugin, "bin", "darwin-arm64", "serval-agent")
			intel := filepath.Join(plugin, "bin", "darwin-amd64", "serval-agent")
			machO(t, appleSilicon, arm64)
			machO(t, intel, amd64)
			file := filepath.Join(t.TempDir(), "main.go")
			if err := os.WriteFile(file, []byte("package main\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(machine, quarantined string) (cmd, problem, reason string) {
				t.Helper()
				script := filepath.Join(t.TempDir(), "mac.lua")
				out := filepath.Join(t.TempDir(), "out.txt")
				if err := os.WriteFile(script, []byte(macAgentScript), 0o644); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				c := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE",
					"--cmd", "set rtp^="+plugin, "-c", "luafile "+script, "-c", "qa!")
				c.Env = append(os.Environ(), "SERVAL_AGENT=", "HOME="+t.TempDir(), "FAKE_MACHINE="+machine,
					"FAKE_QUARANTINED="+quarantined, "FAKE_FILE="+file, "FAKE_OUT="+out)
				if b, err := c.CombinedOutput(); err != nil {
					t.Fatalf("nvim: %v\n%s", err, b)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatalf("the script wrote nothing: %v", err)
				}
				lines := strings.SplitN(strings.TrimRight(string(got), "\n"), "\n", 3)
				for len(lines) < 3 {
					lines = append(lines, "")
				}
				return lines[0], lines[1], lines[2]
			}
			if cmd, problem, _ := run("arm64", ""); cmd != appleSilicon || problem != "" {
				t.Errorf("Apple silicon: %q (problem %q), want %s", cmd, problem, appleSilicon)
			}
			if cmd, problem, _ := run("x86_64", ""); cmd != intel || problem != "" {
				t.Errorf("Intel Mac: %q (problem %q), want %s", cmd, problem, intel)
			}
			cmd, problem, reason := run("arm64", appleSilicon)
			want := `xattr -d com.apple.quarantine "` + appleSilicon + `"`
			if cmd != appleSilicon || !strings.Contains(problem, "macOS has quarantined "+appleSilicon) || !strings.Contains(problem, want) || reason != problem {
				t.Errorf("quarantined: cmd %q, problem %q, not running because %q; want the message with %s", cmd, problem, reason, want)
			}
			machO(t, appleSilicon, amd64) // the Intel build where Apple silicon's belongs
			cmd, problem, reason = run("arm64", "")
			if !strings.Contains(problem, "serval-agent "+appleSilicon+" is built for darwin-amd64, but this machine is darwin-arm64") ||
				!strings.Contains(problem, "serval-VERSION-darwin-arm64 release archive") || reason != problem {
				t.Errorf("the wrong architecture: cmd %q, problem %q, not running because %q", cmd, problem, reason)
			}
		})
	}
}
