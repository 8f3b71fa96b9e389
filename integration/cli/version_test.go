// Package cli tests what a newcomer meets in the terminal, through the real
// binaries: versions, help, error messages and hints.
package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/lspclient"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// TestOneVersionStampedIntoBoth builds serval and serval-agent with the
// Makefile's GO_LDFLAGS, as `make build` and release builds do, and checks
// that all four places show the version `make version` prints.
func TestOneVersionStampedIntoBoth(t *testing.T) {
	root := llamalib.RepoRoot()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: the Makefile's version stamp cannot be read")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mk := func(target string) string {
		out, err := exec.CommandContext(ctx, "make", "-s", "--no-print-directory", "-C", root, target).Output()
		if err != nil {
			t.Fatalf("make %s: %v", target, err)
		}
		return strings.TrimSpace(string(out))
	}
	version, ldflags := mk("version"), mk("print-ldflags")
	if version == "" || !strings.Contains(ldflags, "buildinfo.version="+version) {
		t.Fatalf("make version %q, print-ldflags %q", version, ldflags)
	}
	dir := t.TempDir()
	for name, pkg := range map[string]string{"serval": "./server/cmd/serval", "serval-agent": "./agent/cmd/serval-agent"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", ldflags, "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	// "serval v0.2.0-3-gabc (commit 0123456789ab, 2026-12-03)"
	line := regexp.MustCompile(`^(serval|serval-agent) ` + regexp.QuoteMeta(version) + ` \(commit [0-9a-f]{12}, \d{4}-\d\d-\d\d\)\n$`)
	for _, c := range [][]string{{"serval", "version"}, {"serval", "--version"}, {"serval-agent", "--version"}} {
		out, err := exec.CommandContext(ctx, filepath.Join(dir, c[0]), c[1:]...).Output()
		if err != nil || !line.Match(out) {
			t.Errorf("%s: %q %v, want %s", strings.Join(c, " "), out, err, line)
		}
	}

	// make build stamps its binaries the same way (make test builds them just before).
	if binDir := os.Getenv("SERVAL_BIN_DIR"); binDir != "" {
		for _, name := range []string{"serval", "serval-agent"} {
			out, err := exec.CommandContext(ctx, filepath.Join(binDir, name), "--version").Output()
			if err != nil || !line.Match(out) {
				t.Errorf("make build's %s --version: %q %v, want %s", name, out, err, line)
			}
		}
	}

	srv := servaltest.Start(t, servaltest.Options{Binary: filepath.Join(dir, "serval")})
	health, err := srv.Client.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := health.Version; v.GitDescribe != version || len(v.GitSHA) != 40 || v.BuildDate == "" || v.BuildTimestamp == "" {
		t.Errorf("/v1/health version %+v, want %s with commit and date", v, version)
	}

	agent, err := lspclient.Start(ctx, filepath.Join(dir, "serval-agent"), lspclient.Options{Env: []string{"HOME=" + t.TempDir(), "SERVAL_ENDPOINT=" + srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	var init struct {
		ServerInfo struct{ Name, Version string } `json:"serverInfo"`
	}
	if err := agent.Call(ctx, "initialize", json.RawMessage(`{"capabilities":{}}`), &init); err != nil {
		t.Fatal(err)
	}
	if init.ServerInfo.Name != "serval-agent" || init.ServerInfo.Version != version {
		t.Errorf("initialize serverInfo %+v, want serval-agent %s", init.ServerInfo, version)
	}
}
