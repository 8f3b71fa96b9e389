package platforms_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// distScript runs mk/dist.sh ARGS in the checkout root with env added, and
// returns its stdout and stderr.
func distScript(t *testing.T, root string, env []string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "mk", "dist.sh"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mk/dist.sh %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), stderr.String()
}

// copyCheckout copies the tracked files of the checkout at root (as they are
// on disk, uncommitted changes included) into a new folder.
func copyCheckout(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	files, err := exec.Command("git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Fields(string(files)) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// keyInputsDiff says which of the lines the darwin-arm64 agent's build key
// hashes (mk/dist.sh build-key-inputs) differ between checkouts a and b.
func keyInputsDiff(t *testing.T, a, b string) string {
	t.Helper()
	inputs := func(dir string) map[string]bool {
		out, _ := distScript(t, dir, nil, "build-key-inputs", "darwin-arm64")
		lines := make(map[string]bool)
		for _, l := range strings.Split(out, "\n") {
			lines[l] = true
		}
		return lines
	}
	onlyIn := func(x, y map[string]bool) []string {
		var only []string
		for l := range x {
			if !y[l] {
				only = append(only, l)
			}
		}
		sort.Strings(only)
		return only
	}
	ia, ib := inputs(a), inputs(b)
	return fmt.Sprintf("inputs only in %s: %q; only in %s: %q", a, onlyIn(ia, ib), b, onlyIn(ib, ia))
}

func appendTo(t *testing.T, file, text string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestDarwinAgentBuildCache: the darwin agents (minutes to link with Zig)
// are cached by the content of what they are built from. The key is the
// same for the same sources in another folder and for a change they do not
// build from, and differs for a changed source file or linker flag; a build
// whose key is not cached links and stores the agent (miss), the next one
// with the same key copies it back, byte for byte (hit).
func TestDarwinAgentBuildCache(t *testing.T) {
	distDir(t) // make test-platforms: Zig and the Go build cache are in place
	root := repoRoot(t)
	key := func(dir string, env ...string) string {
		out, _ := distScript(t, dir, env, "build-key", "darwin-arm64")
		if len(out) != 32 {
			t.Fatalf("build-key printed %q", out)
		}
		return out
	}
	original := key(root)
	work := copyCheckout(t, root)
	if got := key(work); got != original {
		t.Errorf("the same sources in another folder: key %s, want %s; %s", got, original, keyInputsDiff(t, root, work))
	}
	appendTo(t, filepath.Join(work, "docs", "platforms.md"), "\nnot built from\n")
	if got := key(work); got != original {
		t.Errorf("a changed doc: key %s, want it unchanged (%s); %s", got, original, keyInputsDiff(t, root, work))
	}
	if got := key(work, "VERSION_LDFLAGS=-X github.com/servalhq/serval/buildinfo.version=v9"); got == original {
		t.Error("another -ldflags: the key did not change")
	}
	// A source file of the agent, changed: the test's own build below is a miss.
	appendTo(t, filepath.Join(work, "agent", "cmd", "serval-agent", "main.go"), "\n// changed by TestDarwinAgentBuildCache at "+time.Now().UTC().Format(time.RFC3339Nano)+"\n")
	if key(work) == original {
		t.Fatal("a changed source file of the agent: the key did not change")
	}
	// The copy links with the checkout's framework stubs: CGO_LDFLAGS is part of
	// every cgo package's key in Go's build cache, so stubs at the copy's path
	// would recompile every tree-sitter grammar (about 15 minutes here).
	env := []string{"DARWIN_FRAMEWORKS=" + filepath.Join(root, "mk", "darwin", "frameworks")}
	changed := key(work, env...)

	cache := t.TempDir()
	build := func(dist string) (string, time.Duration) {
		start := time.Now()
		_, stderr := distScript(t, work, append([]string{"DIST_DIR=" + dist, "VERSION=test", "PLATFORMS=darwin-arm64", "SERVAL_BUILD_CACHE=" + cache}, env...), "binaries")
		return stderr, time.Since(start)
	}
	first, missTime := build(t.TempDir())
	if !strings.Contains(first, "serval-agent built, cached as "+cache+"/darwin-arm64-serval-agent-"+changed) {
		t.Fatalf("first build (a miss) said:\n%s", first)
	}
	secondDist := t.TempDir()
	second, hitTime := build(secondDist)
	entry := filepath.Join(cache, "darwin-arm64-serval-agent-"+changed)
	if !strings.Contains(second, "serval-agent reused from "+entry) {
		t.Fatalf("second build (a hit) said:\n%s", second)
	}
	cached, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(secondDist, "build", "darwin-arm64", "serval-agent"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, cached) || len(got) < 1<<20 {
		t.Errorf("the reused agent (%d bytes) is not the cached one (%d bytes)", len(got), len(cached))
	}
	t.Logf("key %s: miss (link) %v, hit %v (both include serval's own build and the framework check)", changed, missTime.Round(time.Second), hitTime.Round(time.Second))
}
