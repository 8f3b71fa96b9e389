package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// TestWithoutLibffi runs serval on a root file system that has the
// libraries its binary links against but no libffi.so.8 (a Linux machine
// without libffi8), in a user and mount namespace (unshare --root). Without
// the check, github.com/jupiterrider/ffi's package init panicked with a Go
// stack trace; serval must say it in one line. Both builds: the cgo one
// (make build; a constructor checks before Go starts) and CGO_ENABLED=0
// (the release archives; libffi.so.8 is a needed library, the loader says it).
// The same root with libffi.so.8 added runs `serval version`, so the failure
// is the missing library and nothing else.
func TestWithoutLibffi(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("libffi.so.8 is how serval loads llama.cpp on Linux")
	}
	for _, tool := range []string{"unshare", "ldd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	if err := exec.Command("unshare", "-r", "-R", "/", "true").Run(); err != nil {
		t.Skipf("unshare -r -R cannot run here (user namespaces refused?): %v", err)
	}
	nocgo := filepath.Join(t.TempDir(), "serval")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", nocgo, "./server/cmd/serval")
	build.Dir, build.Env = llamalib.RepoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	libffi := hostLibffi(t)
	for _, c := range []struct {
		name, binary string
		want         *regexp.Regexp
	}{
		{"cgo", servaltest.Binary(t), regexp.MustCompile(`^serval: cannot load libffi\.so\.8 \(.*\); install libffi .*apt-get install libffi8.*\n$`)},
		{"CGO_ENABLED=0", nocgo, regexp.MustCompile(`^/serval: error while loading shared libraries: libffi\.so\.8: cannot open shared object file: No such file or directory\n$`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := rootWithout(t, c.binary)
			out, err := runIn(t, root)
			if err == nil {
				t.Fatalf("serval ran without libffi.so.8:\n%s", out)
			}
			if !c.want.MatchString(out) || strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
				t.Errorf("without libffi.so.8 serval said (%v):\n%s\nwant one line matching %s", err, out, c.want)
			}
			copyFile(t, libffi, filepath.Join(root, libffi))
			if out, err := runIn(t, root); err != nil || !strings.HasPrefix(out, "serval ") {
				t.Errorf("the same root with %s: %v\n%s", libffi, err, out)
			}
		})
	}
}

// rootWithout makes a root file system holding binary as /serval and the
// libraries ldd says it loads, except libffi.
func rootWithout(t *testing.T, binary string) string {
	t.Helper()
	root := t.TempDir()
	copyFile(t, binary, filepath.Join(root, "serval"))
	out, err := exec.Command("ldd", binary).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", binary, err)
	}
	for _, lib := range regexp.MustCompile(`(?m)(/\S+) \(0x`).FindAllStringSubmatch(string(out), -1) {
		if !strings.Contains(lib[1], "libffi") {
			copyFile(t, lib[1], filepath.Join(root, lib[1]))
		}
	}
	return root
}

// hostLibffi is the path of this machine's libffi.so.8, which serval's
// tests need anyway.
func hostLibffi(t *testing.T) string {
	t.Helper()
	out, _ := exec.Command("ldconfig", "-p").Output()
	if m := regexp.MustCompile(`libffi\.so\.8 \(libc6,x86-64\) => (\S+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	for _, p := range []string{"/lib/x86_64-linux-gnu/libffi.so.8", "/usr/lib/x86_64-linux-gnu/libffi.so.8", "/usr/lib64/libffi.so.8"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no libffi.so.8 on this machine to build the control root with")
	return ""
}

// runIn runs `serval version` as /serval in root; it returns stdout and stderr.
func runIn(t *testing.T, root string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-r", "-R", root, "/serval", "version")
	cmd.Env = []string{"PATH=/", "HOME=/"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from) // follows links, as the loader does
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
