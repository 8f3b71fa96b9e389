package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// serval runs the real binary and returns its exit code, stdout and stderr.
func serval(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, servaltest.Binary(t), args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("serval %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// Every command `serval help` lists answers --help and `serval help X` on
// stdout with exit status 0, including the groups (serval token --help).
func TestHelpForEveryCommand(t *testing.T) {
	code, usage, _ := serval(t, "help")
	if code != 0 {
		t.Fatalf("serval help: %d", code)
	}
	listed := regexp.MustCompile(`(?m)^  serval ([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?:\s|$)`).FindAllStringSubmatch(usage, -1)
	if len(listed) < 8 {
		t.Fatalf("serval help lists %d commands:\n%s", len(listed), usage)
	}
	seen := map[string]bool{}
	for _, m := range listed {
		name := m[1]
		if name == "help" {
			continue
		}
		words := strings.Fields(name)
		for _, args := range [][]string{append(words, "--help"), append([]string{"help"}, words...)} {
			code, out, errOut := serval(t, args...)
			if code != 0 || !strings.Contains(out, "Usage: serval "+name) || errOut != "" {
				t.Errorf("serval %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
			}
		}
		if len(words) == 2 && !seen[words[0]] {
			seen[words[0]] = true
			for _, args := range [][]string{{words[0], "--help"}, {"help", words[0]}} {
				code, out, _ := serval(t, args...)
				if code != 0 || !strings.Contains(out, "serval "+name) {
					t.Errorf("serval %s: exit %d\n%s", strings.Join(args, " "), code, out)
				}
			}
		}
	}
	if !seen["token"] {
		t.Errorf("serval help does not list the token subcommands:\n%s", usage)
	}
}

// Mistakes give one short line, error first, with a suggestion; no usage dump.
func TestMistakesGiveOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--modle", "x.gguf"}, "unknown flag --modle (did you mean --model?); see 'serval serve --help'"},
		{[]string{"token", "create", "--nmae", "x"}, "did you mean --name?"},
		{[]string{"tokn", "list"}, `unknown command "tokn" (did you mean token?)`},
		{[]string{"token"}, "serval token needs a subcommand: create, list, revoke"},
		{[]string{"token", "lsit"}, `(did you mean list?)`},
	} {
		code, out, errOut := serval(t, c.args...)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != 2 || out != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "serval: ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("serval %q: exit %d, stdout %q, stderr:\n%s\nwant one line with %q", c.args, code, out, errOut, c.want)
		}
	}
}

// A failed start shows the error first, with no settings dump before it,
// and the hints for the commonest causes.
func TestStartupFailuresAreShortWithHints(t *testing.T) {
	libDir := llamalib.Dir(t)
	model := servaltest.TestModel(t, ggufgen.Options{})

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	code, _, errOut := serval(t, "serve", "--model", model, "--lib-dir", libDir, "--port", port, "--data-dir", t.TempDir())
	if code != 1 || !strings.HasPrefix(errOut, "serval: listen on 127.0.0.1:"+port) ||
		!strings.Contains(errOut, "another serval running? use --port") || strings.Count(errOut, "\n") > 2 {
		t.Errorf("port in use: exit %d\n%s", code, errOut)
	}

	// A GGUF without FIM tokens is refused, saying why and what to pass, and
	// without creating (or printing) a first token.
	noFIM := servaltest.TestModel(t, ggufgen.Options{NoFIM: true})
	dataDir := t.TempDir()
	code, out, errOut := serval(t, "serve", "--model", noFIM, "--lib-dir", libDir, "--port", "0", "--data-dir", dataDir)
	if code != 2 || !strings.Contains(errOut, "no fill-in-the-middle tokens") || !strings.Contains(errOut, "--prompt-template") || strings.Contains(out+errOut, "srv_") {
		t.Errorf("model without FIM tokens: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "initial-token")); err == nil {
		t.Errorf("a refused start left %s/initial-token behind", dataDir)
	}

	code, _, errOut = serval(t, "serve", "--model", model, "--device", "cuda", "--lib-dir", filepath.Join(t.TempDir(), "none"), "--port", "0", "--data-dir", t.TempDir())
	if code != 1 || strings.Count(errOut, "make deps") != 1 || !strings.Contains(errOut, "DEVICE=cuda") || strings.Contains(errOut, "settings") {
		t.Errorf("--device cuda without its libraries: exit %d\n%s", code, errOut)
	}
}

// A running server says what it runs with and what to do next, logs one line
// per completion request naming the token (never the secret or the code),
// as JSON with --log-format json, and its 401 body is readable.
func TestServeTellsNextStepAndLogsRequests(t *testing.T) {
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--log-format", "json"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const code = "func secretAlgorithmXYZ() {"
	if _, err := srv.Client.Complete(ctx, &api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: code, Suffix: "}"}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/completions", strings.NewReader(`{"segments":{"prefix":"x"}}`))
	req.Header.Set("Authorization", "Bearer srv_wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Bearer <token>") {
		t.Errorf("401 body %d %s: want <token> unescaped", resp.StatusCode, body)
	}

	// The log lines come after the responses; wait (bounded) for both.
	var logs string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if logs = srv.Logs(); strings.Count(logs, `"path":"/v1/completions"`) >= 2 {
			break
		}
	}
	for _, want := range []string{
		"serval: settings: ",
		"serval: next: check it with  curl -s -H \"Authorization: Bearer $(cat " + filepath.Join(srv.DataDir, "initial-token") + ")\" " + srv.URL + "/v1/health",
		"serval: web app: " + srv.URL + "/",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("startup output lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, " 1 slots ") {
		t.Errorf("startup says \"1 slots\":\n%s", logs)
	}
	// The first token is printed once at startup, before the listening line.
	_, after, _ := strings.Cut(logs, "serval: listening on")
	if strings.Contains(after, srv.Token) || strings.Contains(logs, "secretAlgorithmXYZ") || strings.Contains(logs, "srv_wrong") {
		t.Errorf("the log shows a token or the code:\n%s", logs)
	}
	got := map[int]string{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var rec struct {
			Level, Msg, Method, Path, Token string
			Status                          int
			Latency                         float64
		}
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", sc.Text())
			continue
		}
		if rec.Msg == "request" && rec.Path == "/v1/completions" && rec.Method == "POST" && rec.Level == "INFO" && rec.Latency > 0 {
			got[rec.Status] = rec.Token
		}
	}
	if got[200] != "initial" || got[401] != "-" {
		t.Errorf("access log lines (status → token) %v, want 200 → initial and 401 → -:\n%s", got, logs)
	}
}

func execCommand(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	return cmd
}
