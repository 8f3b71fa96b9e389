// Package container_test runs Serval's CPU image (Dockerfile, built by
// `make image`) with podman: a completion with the token printed in the
// container's log, the data volume surviving a restart and a new container,
// a clean stop on SIGTERM, the clear failures of bad volumes, models and
// ports, and the one-line message of serval in a container without libffi8.
// `make test-image` builds the image and runs it; without $SERVAL_TEST_IMAGE
// the tests skip with one line.
package container_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/server/api"
)

// imageUID owns /data in the image (Dockerfile).
const imageUID = 10001

// runFlags are what this sandbox needs on every `podman run` (issue 18).
var runFlags = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"}

var containerSeq atomic.Int64

// podman runs podman with the global flags make passes and returns its
// combined output.
func podman(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(strings.Fields(os.Getenv("SERVAL_PODMAN_FLAGS")), args...)
	out, err := exec.CommandContext(ctx, "podman", full...).CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("podman %s: no answer within %s", strings.Join(args, " "), timeout)
	}
	return string(out), err
}

// image returns the image under test, skipping the test when there is none.
func image(t *testing.T) string {
	t.Helper()
	img := os.Getenv("SERVAL_TEST_IMAGE")
	if img == "" {
		t.Skip("container test skipped: $SERVAL_TEST_IMAGE is not set (make test-image builds serval:latest and runs this)")
	}
	return img
}

// containerName returns a fresh name, removed (with its container) at the end.
func containerName(t *testing.T) string {
	name := fmt.Sprintf("serval-test-%d-%d", os.Getpid(), containerSeq.Add(1))
	t.Cleanup(func() { podman(t, time.Minute, "rm", "-f", "-t", "0", name) })
	return name
}

// modelDir writes the generated test model as <dir>/model.gguf, readable by
// the image's user.
func modelDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := ggufgen.WriteTestModel(filepath.Join(dir, "model.gguf"), ggufgen.Options{}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, "model.gguf"), 0o644)
	return dir
}

// dataDirWithSeedModels returns a data directory holding the generated test
// model under the registry names of the seed's `docker run` command, as
// `serval serve` downloads them (<data-dir>/models/NAME/model.gguf), all
// owned by the image's user.
func dataDirWithSeedModels(t *testing.T) string {
	t.Helper()
	data := dataDir(t)
	for _, name := range []string{"Qwen2.5-Coder-1.5B", "Qwen2-1.5B-Instruct"} {
		dir := filepath.Join(data, "models", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := ggufgen.WriteTestModel(filepath.Join(dir, "model.gguf"), ggufgen.Options{}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(data, "models"), dir, filepath.Join(dir, "model.gguf")} {
			chownToImageUser(t, p)
		}
	}
	return data
}

// dataDir returns an empty directory owned by the image's user.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	chownToImageUser(t, dir)
	return dir
}

func chownToImageUser(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Chown(path, imageUID, imageUID); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Rootless podman: the container's uids live in a user namespace.
	if out, err := podman(t, time.Minute, "unshare", "chown", fmt.Sprintf("%d:%d", imageUID, imageUID), path); err != nil {
		t.Fatalf("podman unshare chown: %v\n%s", err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var (
	tokenLine  = regexp.MustCompile(`srv_[A-Za-z0-9]{32}`)
	listenLine = regexp.MustCompile(`serval: listening on http://`)
	setupLine  = regexp.MustCompile(`setup: (http://\S+/setup\?code=\S+)`)
)

const adminPassword = "container-test-password"

// postForm posts a form and returns the status, without following redirects.
func postForm(t *testing.T, target string, form url.Values) int {
	t.Helper()
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.PostForm(target, form)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitForLog polls the container's log until re matches n times; it fails
// when the container exits first or after two minutes.
func waitForLog(t *testing.T, name string, re *regexp.Regexp, n int) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		logs, _ := podman(t, 30*time.Second, "logs", name)
		if len(re.FindAllString(logs, -1)) >= n {
			return logs
		}
		state, _ := podman(t, 30*time.Second, "inspect", "--format", "{{.State.Status}}", name)
		if s := strings.TrimSpace(state); s == "exited" || s == "stopped" {
			t.Fatalf("container %s %s before %q appeared %d times:\n%s", name, s, re, n, logs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear %d times in %s's log within 2 minutes:\n%s", re, n, name, logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func complete(t *testing.T, base, token string) {
	t.Helper()
	c, err := api.NewClient(base, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Complete(ctx, &api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: "func main() {\n\t"}}); err != nil {
		t.Fatalf("completion through the container: %v", err)
	}
}

// stopCleanly stops the container with a 20 s grace period and checks that
// serval exited by itself (status 0, not the SIGKILL's 137).
func stopCleanly(t *testing.T, name string) {
	t.Helper()
	start := time.Now()
	if out, err := podman(t, time.Minute, "stop", "-t", "20", name); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	took := time.Since(start)
	code, _ := podman(t, 30*time.Second, "inspect", "--format", "{{.State.ExitCode}}", name)
	logs, _ := podman(t, 30*time.Second, "logs", name)
	if strings.TrimSpace(code) != "0" || !strings.Contains(logs, "serval: shut down") {
		t.Fatalf("stop after %s: exit status %s (137: killed after the grace period); log:\n%s", took.Round(time.Millisecond), strings.TrimSpace(code), logs)
	}
	t.Logf("stopped cleanly in %s", took.Round(time.Millisecond))
}

// TestImageServesRestartsAndStops is issue 18's container path end to end:
// the token and the setup link in the log, a completion, the admin account,
// tokens and events surviving a restart and a new container, clean stops.
func TestImageServesRestartsAndStops(t *testing.T) {
	img := image(t)
	data := dataDirWithSeedModels(t)
	name := containerName(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	// The seed's command with Serval's names (no network here: the registry
	// models are already in the volume, where a download would put them).
	args := append([]string{"run", "-d", "--name", name}, runFlags...)
	args = append(args, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "-v", data+":/data",
		img, "serve", "--model", "Qwen2.5-Coder-1.5B", "--chat-model", "Qwen2-1.5B-Instruct", "--threads", "1")
	if out, err := podman(t, 2*time.Minute, args...); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	logs := waitForLog(t, name, listenLine, 1)
	token := tokenLine.FindString(logs)
	if token == "" {
		t.Fatalf("no token in the container's log:\n%s", logs)
	}
	if !strings.Contains(logs, "serval: chat model serval-test-tiny") {
		t.Errorf("the chat model was not loaded:\n%s", logs)
	}
	if !regexp.MustCompile(`listening on http://(0\.0\.0\.0|\[::\]):8080`).MatchString(logs) {
		t.Errorf("serval does not listen on 0.0.0.0:8080 inside:\n%s", logs)
	}
	saved, err := os.ReadFile(filepath.Join(data, "initial-token"))
	if err != nil || strings.TrimSpace(string(saved)) != token {
		t.Errorf("/data/initial-token: %q %v", saved, err)
	}
	if info, err := os.Stat(filepath.Join(data, "serval.db")); err != nil || fileUID(info) != imageUID {
		t.Errorf("serval.db on the volume: %v, want owned by uid %d (the image's non-root user)", err, imageUID)
	}

	// Liveness needs no token and says nothing more; the API needs the token.
	if code, body := get(t, base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, base+"/v1/health", ""); code != 401 {
		t.Errorf("/v1/health without a token: %d, want 401", code)
	}
	// The web app's first-run setup link is in the log too; create the admin.
	m := setupLine.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no setup link in the container's log:\n%s", logs)
	}
	setupURL, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if code := postForm(t, base+"/setup", url.Values{"code": {setupURL.Query().Get("code")}, "username": {"admin"}, "password": {adminPassword}}); code != http.StatusSeeOther {
		t.Fatalf("POST /setup with the logged code: %d, want 303", code)
	}
	complete(t, base, token)
	c, _ := api.NewClient(base, token, nil)
	for _, typ := range []string{api.EventView, api.EventSelect} {
		if err := c.LogEvent(context.Background(), &api.LogEventRequest{Type: typ, CompletionID: "cmpl-container", Language: "go"}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := podman(t, time.Minute, "healthcheck", "run", name); err != nil {
		t.Errorf("podman healthcheck run: %v\n%s", err, out)
	}

	stopCleanly(t, name)

	// The same container again: same volume, same token, no new one printed.
	if out, err := podman(t, 2*time.Minute, "start", name); err != nil {
		t.Fatalf("podman start: %v\n%s", err, out)
	}
	logs = waitForLog(t, name, listenLine, 2)
	if tokens := tokenLine.FindAllString(logs, -1); len(tokens) != 1 {
		t.Errorf("tokens printed over two starts: %d, want 1", len(tokens))
	}
	if links := setupLine.FindAllString(logs, -1); len(links) != 1 {
		t.Errorf("setup links printed over two starts: %d, want 1 (the admin exists)", len(links))
	}
	if code := postForm(t, base+"/login", url.Values{"username": {"admin"}, "password": {adminPassword}}); code != http.StatusSeeOther {
		t.Errorf("the admin cannot sign in after a restart: %d, want 303", code)
	}
	complete(t, base, token)
	stopCleanly(t, name)

	// A new container on the same volume sees the tokens and events.
	out, err := podman(t, 2*time.Minute, append(append([]string{"run", "--rm"}, runFlags...), "-v", data+":/data", img, "stats")...)
	if err != nil || !regexp.MustCompile(`go\s+1\s+1\s+0\s+100.0%`).MatchString(out) {
		t.Errorf("serval stats in a new container: %v\n%s", err, out)
	}
	out, err = podman(t, 2*time.Minute, append(append([]string{"run", "--rm"}, runFlags...), "-v", data+":/data", img, "token", "list")...)
	if err != nil || !strings.Contains(out, "initial") {
		t.Errorf("serval token list in a new container: %v\n%s", err, out)
	}
}

// runFails runs the image in the foreground and expects it to fail; it
// returns the output.
func runFails(t *testing.T, podmanArgs []string, servalArgs ...string) string {
	t.Helper()
	name := containerName(t)
	args := append(append([]string{"run", "--name", name}, runFlags...), podmanArgs...)
	args = append(append(args, image(t)), servalArgs...)
	out, err := podman(t, 2*time.Minute, args...)
	if err == nil {
		t.Fatalf("the container started and exited 0:\n%s", out)
	}
	if tokenLine.MatchString(out) {
		t.Errorf("a failed start printed a token:\n%s", out)
	}
	return out
}

// TestImageBadInput: each mistake gives a clear message and a non-zero exit,
// and leaves nothing half-written.
func TestImageBadInput(t *testing.T) {
	image(t)
	models := modelDir(t)
	serve := []string{"serve", "--model", "/models/model.gguf", "--threads", "1"}

	t.Run("volume not writable", func(t *testing.T) {
		data := t.TempDir() // root's, mode 0700: the image's user cannot write
		out := runFails(t, []string{"-v", data + ":/data", "-v", models + ":/models:ro"}, serve...)
		if !strings.Contains(out, "not writable") {
			t.Errorf("output does not say the volume is not writable:\n%s", out)
		}
		if entries, _ := os.ReadDir(data); len(entries) > 0 {
			t.Errorf("files left in the volume: %v", entries)
		}
	})

	t.Run("data dir from a newer serval", func(t *testing.T) {
		data := dataDir(t)
		db := filepath.Join(data, "serval.db")
		writeNewerDatabase(t, db)
		chownToImageUser(t, db)
		before, _ := os.ReadFile(db)
		out := runFails(t, []string{"-v", data + ":/data", "-v", models + ":/models:ro"}, serve...)
		if !strings.Contains(out, "newer serval") {
			t.Errorf("output does not say the data is newer:\n%s", out)
		}
		if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
			t.Error("the newer database was changed")
		}
	})

	t.Run("model path missing in the container", func(t *testing.T) {
		data := dataDir(t)
		out := runFails(t, []string{"-v", data + ":/data", "-v", models + ":/models:ro"},
			"serve", "--model", "/models/missing.gguf", "--threads", "1")
		if !strings.Contains(out, "/models/missing.gguf") {
			t.Errorf("output does not name the missing model:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(data, "initial-token")); err == nil {
			t.Error("a failed start left an initial token")
		}
	})

	t.Run("host port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		data := dataDir(t)
		out := runFails(t, []string{"-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "-v", data + ":/data", "-v", models + ":/models:ro"}, serve...)
		if !strings.Contains(out, "address already in use") {
			t.Errorf("output does not say the port is taken:\n%s", out)
		}
	})

	t.Run("port in use on the host network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		data := dataDir(t)
		out := runFails(t, []string{"--network", "host", "-v", data + ":/data", "-v", models + ":/models:ro"},
			append(serve, "--host", "127.0.0.1", "--port", port)...)
		if !strings.Contains(out, "127.0.0.1:"+port) || !strings.Contains(out, "address already in use") {
			t.Errorf("output does not name the port in use:\n%s", out)
		}
		if entries, _ := os.ReadDir(data); len(entries) > 0 {
			t.Errorf("a start that could not listen wrote %v", entries)
		}
	})
}
