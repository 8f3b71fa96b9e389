package engines_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
)

// deviceCheck runs integration/device-check.sh with a PATH that has bash and
// the basic tools but no nvidia-smi, and returns its exit code and output.
func deviceCheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	script := filepath.Join(llamalib.RepoRoot(), "integration", "device-check.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", "DEVICE_CHECK_DIR="+t.TempDir(), "DEVICE_CHECK_WORK="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// The GPU step says plainly why it cannot run on a machine without an
// NVIDIA driver; the other steps say what they need.
func TestDeviceCheckScriptWithoutGPU(t *testing.T) {
	for _, p := range []string{"/usr/bin/nvidia-smi", "/bin/nvidia-smi"} {
		if _, err := os.Stat(p); err == nil {
			t.Skip("this machine has nvidia-smi: the no-GPU path cannot be checked here")
		}
	}
	code, out := deviceCheck(t, "run")
	if code != 1 || !strings.Contains(out, "nvidia-smi not found") || !strings.Contains(out, "NVIDIA GPU") {
		t.Errorf("run without a GPU: exit %d\n%s", code, out)
	}
	code, out = deviceCheck(t, "compare", "cpu")
	if code != 1 || !strings.Contains(out, "run `integration/device-check.sh prepare` first") {
		t.Errorf("compare before prepare: exit %d\n%s", code, out)
	}
	code, out = deviceCheck(t, "frobnicate")
	if code != 1 || !strings.Contains(out, "want prepare, run or compare") {
		t.Errorf("unknown step: exit %d\n%s", code, out)
	}
	code, out = deviceCheck(t, "help")
	if code != 0 || !strings.Contains(out, "device-check.sh prepare") || !strings.Contains(out, "device-check.sh run") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}
