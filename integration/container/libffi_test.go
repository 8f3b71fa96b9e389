package container_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
)

// removeLibffi8 is a shell line that takes Debian's libffi8 package out of
// the container (it leaves the packages that depend on it in place, as a
// machine that never had it would be) and then runs the command after it.
const removeLibffi8 = `dpkg --remove --force-depends libffi8 >/dev/null 2>&1 && ! ls /usr/lib/*/libffi.so.8* 2>/dev/null && exec "$@"`

// TestWithoutLibffi8 runs serval in the image's container with the libffi8
// package removed: serval must say so in one line, not die with the Go
// panic of github.com/jupiterrider/ffi's package init. The image holds the
// cgo build (make build: a constructor checks before Go starts); a
// CGO_ENABLED=0 build (the release archives) mounted into the same
// container names libffi.so.8 as a needed library, so the dynamic loader
// says it. The same containers with libffi8 left in run `serval version`,
// so the failure is the missing library and nothing else.
func TestWithoutLibffi8(t *testing.T) {
	img := image(t)
	nocgo := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(nocgo, "serval"), "./server/cmd/serval")
	build.Dir, build.Env = llamalib.RepoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	os.Chmod(nocgo, 0o755)
	for _, c := range []struct {
		name, binary string
		mount        []string
		want         *regexp.Regexp
	}{
		{"image (cgo)", "/opt/serval/serval", nil,
			regexp.MustCompile(`^serval: cannot load libffi\.so\.8 \(.*\); install libffi .*apt-get install libffi8.*\n$`)},
		{"CGO_ENABLED=0", "/nocgo/serval", []string{"-v", nocgo + ":/nocgo:ro"},
			regexp.MustCompile(`^/nocgo/serval: error while loading shared libraries: libffi\.so\.8: cannot open shared object file: No such file or directory\n$`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(script string) (string, error) {
				args := append(append([]string{"run", "--rm", "--no-healthcheck", "--user", "0:0", "--entrypoint", "/bin/sh"}, runFlags...), c.mount...)
				return podman(t, 2*time.Minute, append(args, img, "-c", script, "sh", c.binary, "version")...)
			}
			if out, err := run(`exec "$@"`); err != nil || !strings.HasPrefix(out, "serval ") {
				t.Fatalf("with libffi8 in the container, serval version: %v\n%s", err, out)
			}
			out, err := run(removeLibffi8)
			if err == nil {
				t.Fatalf("serval ran without libffi8:\n%s", out)
			}
			if !c.want.MatchString(out) || strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
				t.Errorf("without libffi8 serval said (%v):\n%s\nwant one line matching %s", err, out, c.want)
			}
		})
	}
}
