package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// TestSystemdUnit: `systemd-analyze verify` accepts docs/deploy/serval.service
// with no unknown or ignored settings (it only warns about those, so the
// output is checked too), pointed at a real serval binary.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd unit not checked: systemd-analyze is not installed")
	}
	unit, err := os.ReadFile(filepath.Join(deployDir(t), "serval.service"))
	if err != nil {
		t.Fatal(err)
	}
	const installed = "/usr/local/lib/serval/serval"
	if !strings.Contains(string(unit), "ExecStart="+installed+" serve") {
		t.Fatalf("the unit no longer starts %s serve", installed)
	}
	path := filepath.Join(t.TempDir(), "serval.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), installed, servaltest.Binary(t))), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "serval.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
