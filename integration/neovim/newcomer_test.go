package neovim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// newcomerReport is what testdata/newcomer.lua writes.
type newcomerReport struct {
	Version            string   `json:"version"`
	Steps              []string `json:"steps"`
	Error              string   `json:"error"`
	MissingNotes       []string `json:"missing_notes"`
	MissingStatus      string   `json:"missing_status"`
	MissingMessages    string   `json:"missing_messages"`
	UnauthorizedNotes  []string `json:"unauthorized_notes"`
	UnauthorizedHealth string   `json:"unauthorized_health"`
	DisconnectedNotes  []string `json:"disconnected_notes"`
	DisconnectedStatus string   `json:"disconnected_status"`
	ReadyNotes         []string `json:"ready_notes"`
	ReadyHealth        string   `json:"ready_health"`
	HLCterm            string   `json:"hl_cterm"`
	HLGui              string   `json:"hl_gui"`
	HLAfterColorscheme string   `json:"hl_after_colorscheme"`
	HLOption           string   `json:"hl_option"`
}

// deadEndpoint is a loopback URL nothing listens on.
func deadEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// TestNewcomerMessages: every failure a newcomer meets in Neovim says what is
// wrong once (a notification per state change, not per keystroke), and
// :checkhealth serval and :ServalStatus say what to do.
func TestNewcomerMessages(t *testing.T) {
	requireEnabled(t)
	srv := startServer(t)
	agent := servaltest.AgentBinary(t)
	versionOut, err := exec.Command(agent, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	agentVersion := strings.TrimSpace(string(versionOut))
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			r := runNewcomer(t, b, srv, agent)
			if r.Error != "" {
				t.Fatalf("scenario failed after %v: %s", r.Steps, r.Error)
			}
			one := func(phase string, notes []string, want ...string) {
				t.Helper()
				if len(notes) != 1 {
					t.Errorf("%s: %d notifications %q, want exactly one", phase, len(notes), notes)
					return
				}
				for _, w := range want {
					if !strings.Contains(notes[0], w) {
						t.Errorf("%s: notification %q lacks %q", phase, notes[0], w)
					}
				}
			}
			one("agent missing", r.MissingNotes, "serval-agent not found", "no-such-dir/serval-agent", "cmd = {", "make build")
			if !strings.Contains(r.MissingStatus, "serval: not running") || !strings.Contains(r.MissingStatus, "serval-agent not found") {
				t.Errorf(":ServalStatus with the agent missing: %q, want why it is not running", r.MissingStatus)
			}
			if strings.Contains(r.MissingMessages, "Spawning language server") {
				t.Errorf("Neovim's own spawn error still shows: %q", r.MissingMessages)
			}
			// One short Neovim line: which token, and what to do (no "Press ENTER").
			one("wrong token", r.UnauthorizedNotes, "token from setup{ token } refused", ":ServalSignIn", "web app")
			for phase, notes := range map[string][]string{"wrong token": r.UnauthorizedNotes, "server down": r.DisconnectedNotes} {
				for _, n := range notes {
					if strings.Contains(n, "\n") || len(n) > 80 || strings.Contains(n, "VS Code") || strings.Contains(n, "JetBrains") || strings.Contains(n, "token create") {
						t.Errorf("%s: notification %q is not one short Neovim line", phase, n)
					}
				}
			}
			for _, want := range []string{"found: " + agent, "runs: " + agentVersion, "token rejected", "ERROR"} {
				if !strings.Contains(r.UnauthorizedHealth, want) {
					t.Errorf(":checkhealth serval with a wrong token lacks %q:\n%s", want, r.UnauthorizedHealth)
				}
			}
			one("server down", r.DisconnectedNotes, "disconnected: is serval running at http://127.0.0.1:")
			one("all well again", r.ReadyNotes, "ready again")
			wantFeature := "serval draws the ghost text itself"
			if b.version == "0.12.4" {
				wantFeature = "built-in inline completion (vim.lsp.inline_completion)"
			}
			for _, want := range []string{"runs: " + agentVersion, "server reachable", "token accepted", "model loaded", wantFeature, "ServalSuggestion is defined"} {
				if !strings.Contains(r.ReadyHealth, want) {
					t.Errorf(":checkhealth serval when all is well lacks %q:\n%s", want, r.ReadyHealth)
				}
			}
			if strings.Contains(r.ReadyHealth, "ERROR") || strings.Contains(r.ReadyHealth, "WARNING") {
				t.Errorf(":checkhealth serval when all is well reports a problem:\n%s", r.ReadyHealth)
			}
			if r.HLOption != "ServalSuggestion" || r.HLCterm == "" || r.HLGui != "#808080" || r.HLAfterColorscheme == "" {
				t.Errorf("ServalSuggestion: option %q, cterm fg %q, gui fg %q, after :colorscheme %q", r.HLOption, r.HLCterm, r.HLGui, r.HLAfterColorscheme)
			}
			t.Logf("Neovim %s: notifications: missing %q; unauthorized %q; disconnected %q; ready %q", b.version, r.MissingNotes, r.UnauthorizedNotes, r.DisconnectedNotes, r.ReadyNotes)
		})
	}
}

func runNewcomer(t *testing.T, b nvimBuild, srv *servaltest.Server, agent string) newcomerReport {
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(goFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE",
		"-c", "luafile "+filepath.Join(repoRoot(t), "integration", "neovim", "testdata", "newcomer.lua"), file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"), "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"SERVAL_NVIM_PLUGIN="+filepath.Join(repoRoot(t), "clients", "neovim"),
		"SERVAL_AGENT="+agent, "SERVAL_TEST_OUT="+out,
		"SERVAL_TEST_ENDPOINT="+srv.URL, "SERVAL_TEST_TOKEN="+srv.Token,
		"SERVAL_TEST_DEAD_ENDPOINT="+deadEndpoint(t), "SERVAL_ENDPOINT=", "SERVAL_TOKEN=")
	cmd.WaitDelay = 5 * time.Second
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nvim %s: %v\n%s", b.version, err, output)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no report from nvim %s: %v\n%s", b.version, err, output)
	}
	var r newcomerReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, data)
	}
	if r.Version != b.version {
		t.Errorf("ran Neovim %q, want %s", r.Version, b.version)
	}
	if r.Error != "" {
		fmt.Fprintf(os.Stderr, "nvim output:\n%s\n", output)
	}
	return r
}

// The token :ServalSignIn stored outlives a token in setup{} (the home page's
// old os.getenv("SERVAL_TOKEN") snippet) that the server may refuse: the
// sign-in is the user's latest act. Without one, setup{ token } is used.
func TestStoredSignInTokenWins(t *testing.T) {
	requireEnabled(t)
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			dir := t.TempDir()
			out := filepath.Join(dir, "choice.txt")
			script := filepath.Join(dir, "choice.lua")
			lua := `vim.opt.runtimepath:prepend(vim.env.SERVAL_NVIM_PLUGIN)
local serval = require('serval')
local f = assert(io.open(vim.env.OUT, 'w'))
local tok, src = serval.token_choice({ token = 'srv_from_setup' })
f:write(tostring(tok) .. ' ' .. src .. '\n')
local path = require('serval.signin').token_path()
vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
local t = assert(io.open(path, 'w')); t:write('srv_signed_in\n'); t:close()
tok, src = serval.token_choice({ token = 'srv_from_setup' })
f:write(tostring(tok) .. ' ' .. src .. '\n')
f:close()
vim.cmd('qa!')
`
			if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE", "-c", "luafile "+script)
			cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
				"XDG_STATE_HOME="+filepath.Join(dir, "state"), "SERVAL_NVIM_PLUGIN="+filepath.Join(repoRoot(t), "clients", "neovim"), "OUT="+out)
			cmd.Stdin = nil
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("nvim: %v\n%s", err, b)
			}
			got, _ := os.ReadFile(out)
			want := "srv_from_setup setup{ token }\nsrv_signed_in :ServalSignIn\n"
			if string(got) != want {
				t.Errorf("token choice:\n%s\nwant\n%s", got, want)
			}
		})
	}
}
