package neovim

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// signInReport is what testdata/signin.lua writes.
type signInReport struct {
	Version     string   `json:"version"`
	Steps       []string `json:"steps"`
	Error       string   `json:"error"`
	Opened      string   `json:"opened"`
	CodeShown   string   `json:"code_shown"`
	TokenMode   string   `json:"token_mode"`
	TokenPrefix string   `json:"token_prefix"`
	Notices     []string `json:"notices"`
}

// TestSignIn: :ServalSignIn with no token anywhere; the test plays the
// browser the plugin opens (signs in, approves the code); the agent becomes
// ready, the token is kept 0600 under stdpath('data'), and a restarted agent
// is ready from the stored token alone. On every Neovim version.
func TestSignIn(t *testing.T) {
	requireEnabled(t)
	srv := servaltest.Start(t, servaltest.Options{})
	user := srv.SetupAdmin("alice", "a long enough password")
	agent := servaltest.AgentBinary(t)
	for _, b := range builds(t) {
		t.Run(b.version, func(t *testing.T) {
			b.check(t)
			dir := t.TempDir()
			file := filepath.Join(dir, "main.go")
			if err := os.WriteFile(file, []byte(goFile), 0o644); err != nil {
				t.Fatal(err)
			}
			out, opened := filepath.Join(dir, "report.json"), filepath.Join(dir, "opened")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, b.path, "--headless", "-u", "NONE", "-i", "NONE",
				"-c", "luafile "+filepath.Join(repoRoot(t), "integration", "neovim", "testdata", "signin.lua"), file)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
				"XDG_STATE_HOME="+filepath.Join(dir, "state"), "XDG_DATA_HOME="+filepath.Join(dir, "data"),
				"SERVAL_NVIM_PLUGIN="+filepath.Join(repoRoot(t), "clients", "neovim"), "SERVAL_AGENT="+agent,
				"SERVAL_TEST_OUT="+out, "SERVAL_TEST_OPENED="+opened, "SERVAL_TEST_ENDPOINT="+srv.URL,
				"SERVAL_ENDPOINT=", "SERVAL_TOKEN=")
			cmd.WaitDelay = 5 * time.Second
			var output strings.Builder
			cmd.Stdout, cmd.Stderr = &output, &output
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			// The browser: wait for the link the plugin opened, then approve its code.
			var link string
			for link == "" {
				select {
				case err := <-done:
					t.Fatalf("nvim %s ended before opening the browser: %v\n%s\n%s", b.version, err, readReport(out), output.String())
				case <-time.After(100 * time.Millisecond):
				}
				data, _ := os.ReadFile(opened)
				link = string(data)
			}
			u, err := url.Parse(link)
			if err != nil || !strings.HasPrefix(link, srv.URL+"/device?") || u.Query().Get("user_code") == "" {
				t.Fatalf("the plugin opened %q", link)
			}
			user.Approve(u.Query().Get("user_code"))
			if err := <-done; err != nil {
				t.Fatalf("nvim %s: %v\n%s", b.version, err, output.String())
			}

			var r signInReport
			if err := json.Unmarshal([]byte(readReport(out)), &r); err != nil {
				t.Fatalf("report: %v", err)
			}
			if r.Error != "" {
				t.Fatalf("scenario failed after %v: %s\nnotices: %q", r.Steps, r.Error, r.Notices)
			}
			if got := strings.Join(r.Steps, ","); got != "unauthorized,opened,ready,ready-after-restart" {
				t.Errorf("steps %s", got)
			}
			if !strings.Contains(r.CodeShown, u.Query().Get("user_code")) || !strings.Contains(r.CodeShown, srv.URL) {
				t.Errorf("the notice %q does not show the code and the link", r.CodeShown)
			}
			if r.TokenMode != "600" || r.TokenPrefix != "srv_" {
				t.Errorf("stored token: mode %s, prefix %q; want 600, srv_", r.TokenMode, r.TokenPrefix)
			}
		})
	}
}

func readReport(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}
