// Package server_test drives the real serval binary over HTTP: auth, rate
// limits, bad input, streaming, cancellation, concurrency, the prompt cache,
// the command line and startup failures.
package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

func completionRequest(prefix string) *api.CompletionRequest {
	return &api.CompletionRequest{Language: "python", Segments: &api.Segments{Prefix: prefix, Suffix: "\n"}}
}

// do sends a raw request and returns the status, headers and body.
func do(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// serval runs a serval subcommand and returns its stdout.
func serval(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := servaltest.Binary(t) // may build it: not on the command's clock
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestCompletionsAuthAndBadInput(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	ctx := context.Background()

	// A completion with the initial token.
	res, err := s.Client.Complete(ctx, completionRequest("def add(a, b):\n    "))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ID, "cmpl-") || len(res.Choices) != 1 {
		t.Fatalf("%+v", res)
	}

	// 401 without a token, with a wrong one; the error says how to get one.
	for _, token := range []string{"", "srv_wrong"} {
		code, _, body := do(t, "POST", s.URL+"/v1/completions", token, `{"segments":{"prefix":"x"}}`)
		if code != 401 || !strings.Contains(body, "serval token create --name NAME") {
			t.Errorf("token %q: %d %s", token, code, body)
		}
	}
	if code, _, _ := do(t, "GET", s.URL+"/metrics", "", ""); code != 401 {
		t.Errorf("/metrics without a token: %d", code)
	}

	// 400 naming the field; 413 over 1 MiB.
	for body, want := range map[string]string{
		`{"segments":{"prefix":`:                           "truncated",
		`{"segments":{"prefix":42}}`:                       "segments.prefix",
		`{"language":"go"}`:                                "segments.prefix",
		`{"segments":{"prefix":"x"},"temperature":"warm"}`: "temperature",
	} {
		code, _, got := do(t, "POST", s.URL+"/v1/completions", s.Token, body)
		if code != 400 || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s", body, code, got)
		}
	}
	big := `{"segments":{"prefix":"` + strings.Repeat("a", 1<<20) + `"}}`
	if code, _, got := do(t, "POST", s.URL+"/v1/completions", s.Token, big); code != 413 {
		t.Errorf("over 1 MiB: %d %s", code, got)
	}
	// An over-long prefix under the body limit is cut by the budget, not refused.
	long := completionRequest(strings.Repeat("x = 1\n", 20_000)) // ~40000 tokens, 10 × the context
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := s.Client.Complete(lctx, long); err != nil {
		t.Errorf("long prefix: %v", err)
	}

	// Streaming: SSE events then [DONE]; the same text as the plain answer (greedy).
	code, hdr, body := do(t, "POST", s.URL+"/v1/completions", s.Token, `{"language":"python","segments":{"prefix":"def add(a, b):\n    ","suffix":"\n"},"stream":true}`)
	if code != 200 || hdr.Get("Content-Type") != "text/event-stream" || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("stream: %d %q %q", code, hdr.Get("Content-Type"), body)
	}
	var streamed strings.Builder
	if err := api.ReadStream(strings.NewReader(body), func(ev *api.StreamEvent) error {
		for _, c := range ev.Choices {
			streamed.WriteString(c.Text)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if streamed.String() != res.Choices[0].Text {
		t.Errorf("streamed %q, plain %q", streamed.String(), res.Choices[0].Text)
	}

	// Health has every field Tabby's agents read.
	h, err := s.Client.Health(ctx)
	if err != nil || h.Model == "" || h.Device != "cpu" || h.CUDADevices == nil || h.CPUCount == 0 || h.Version.GitDescribe == "" || h.Slots == nil {
		t.Fatalf("health %+v %v", h, err)
	}
	if _, err := s.Client.ServerSetting(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTokensEventsAndStats(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	ctx := context.Background()

	// The initial token file is private.
	fi, err := os.Stat(filepath.Join(s.DataDir, "initial-token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("initial-token: %v %v", fi.Mode(), err)
	}
	if !strings.Contains(s.Logs(), s.Token) {
		t.Error("the initial token was not printed")
	}

	// token create prints the token as the last line; it works at once.
	out, err := serval(t, "token", "create", "--name", "ci", "--data-dir", s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	tok := lastLine(out)
	if !strings.HasPrefix(tok, "srv_") || len(tok) != 36 {
		t.Fatalf("token line %q", tok)
	}
	c, _ := api.NewClient(s.URL, tok, nil)
	res, err := c.Complete(ctx, &api.CompletionRequest{Language: "go", Segments: &api.Segments{Prefix: "func main() {\n\t"}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := serval(t, "token", "list", "--data-dir", s.DataDir); err != nil || !strings.Contains(out, "ci") || !strings.Contains(out, "initial") || strings.Contains(out, tok) {
		t.Fatalf("token list: %q %v", out, err)
	}
	if _, err := serval(t, "token", "create", "--name", "ci", "--data-dir", s.DataDir); err == nil {
		t.Error("a duplicate token name was accepted")
	}

	// Events are stored and counted per language.
	ms := int64(300)
	for _, typ := range []string{api.EventView, api.EventSelect} {
		if err := c.LogEvent(ctx, &api.LogEventRequest{Type: typ, CompletionID: res.ID, Elapsed: &ms}); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, body := do(t, "POST", s.URL+"/v1/events?select_kind=line", tok, `{"type":"nope","completion_id":"x"}`); code != 400 {
		t.Errorf("bad event type: %d %s", code, body)
	}
	out, err = serval(t, "stats", "--data-dir", s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexpLine(out, `go\s+1\s+1\s+0\s+100.0%`) {
		t.Fatalf("stats:\n%s", out)
	}

	// Revoked by another process sharing the data directory: refused on
	// the very next request.
	if _, err := serval(t, "token", "revoke", "ci", "--data-dir", s.DataDir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Health(ctx); api.StatusCode(err) != 401 {
		t.Fatalf("the request right after revocation: %v, want 401", err)
	}

	// A restart keeps the tokens and makes no new initial one.
	s.Restart()
	if _, err := s.Client.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _ := serval(t, "token", "list", "--data-dir", s.DataDir); strings.Count(out, "initial") != 1 {
		t.Fatalf("after restart: %s", out)
	}
}

func regexpLine(text, pattern string) bool {
	for _, line := range strings.Split(text, "\n") {
		if regexp.MustCompile(pattern).MatchString(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}

func TestRateLimit(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--rate-limit", "6", "--rate-burst", "3"}})
	// The burst is 3 (servaltest's own health check took one of them).
	var err error
	allowed := 0
	for range 5 {
		if _, err = s.Client.Complete(context.Background(), completionRequest("x")); err != nil {
			break
		}
		allowed++
	}
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.RetryAfter < time.Second || !strings.Contains(se.Message, "rate limit") {
		t.Fatalf("over the limit: %v", err)
	}
	if allowed > 3 {
		t.Fatalf("%d requests passed a burst of 3", allowed)
	}
	// Another token has its own budget.
	out, err := serval(t, "token", "create", "--name", "other", "--data-dir", s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := api.NewClient(s.URL, lastLine(out), nil)
	if _, err := c.Complete(context.Background(), completionRequest("x")); err != nil {
		t.Fatalf("other token: %v", err)
	}
}

func TestConcurrencyBeyondSlots(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--parallel", "2", "--max-queue", "16"}})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, errs[i] = sessionClient(t, s, i).Complete(ctx, completionRequest(fmt.Sprintf("def f%d(x):\n    return ", i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

// sessionClient is a client of s with its own editor session, as each
// serval-agent process has: requests of one token and one session replace
// each other in the wait queue (409), those of different sessions do not.
func sessionClient(t *testing.T, s *servaltest.Server, i int) *api.Client {
	c, err := api.NewClient(s.URL, s.Token, nil)
	if err != nil {
		t.Error(err)
		return s.Client
	}
	c.Header = http.Header{api.SessionHeader: {fmt.Sprintf("session-%d", i)}}
	return c
}

func TestOverloadAnswers503NeverHangs(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--parallel", "1", "--max-queue", "1"}})
	const n = 12
	var wg sync.WaitGroup
	codes := make([]int, n)
	retry := make([]time.Duration, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := completionRequest(fmt.Sprintf("def g%d():\n    ", i))
			r.MaxTokens = 256
			_, err := sessionClient(t, s, i).Complete(ctx, r)
			var se *api.StatusError
			switch {
			case err == nil:
				codes[i] = 200
			case errors.As(err, &se):
				codes[i], retry[i] = se.StatusCode, se.RetryAfter
			default:
				t.Errorf("request %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	ok := 0
	for i, c := range codes {
		switch {
		case c == 200:
			ok++
		case c == 503 && retry[i] > 0:
		default:
			t.Errorf("request %d: status %d (retry %v), want 200 or 503 with Retry-After", i, c, retry[i])
		}
	}
	if ok == 0 {
		t.Error("no request succeeded")
	}
}

// metric reads one series from /metrics.
func metric(t *testing.T, s *servaltest.Server, series string) float64 {
	t.Helper()
	code, _, body := do(t, "GET", s.URL+"/metrics", s.Token, "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && line[:i] == series {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// longGeneration finds a request whose generation runs long (over 1000
// tokens) on the generated model: sampled at a high temperature with a
// fixed seed, so the same request generates the same text again. Greedy
// output of a random model hits a stop word within ~100 tokens, too soon to
// observe a request while it holds its slot.
//
// Each probe has its own generous deadline: the client's default (30 s) is
// shorter than a 1500-token generation on a loaded machine (seen: every
// run failed with 'context deadline exceeded' at load 30 on 2 cores, when
// the probes asked for 4000 tokens). 1500 is enough: what counts is that
// the generation does not stop before 1000.
func longGeneration(t *testing.T, s *servaltest.Server) (*api.CompletionRequest, int) {
	t.Helper()
	temp := float32(2)
	for seed := uint32(1); seed <= 12; seed++ {
		req := &api.CompletionRequest{
			Language:     "plaintext",
			Segments:     &api.Segments{Prefix: "hello"},
			MaxTokens:    1500,
			Temperature:  &temp,
			Seed:         &seed,
			DebugOptions: &api.DebugOptions{},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		res, err := s.Client.Complete(ctx, req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if n := res.DebugData.Usage.GeneratedTokens; n >= 1000 {
			return req, n
		}
	}
	t.Skip("no seed among 12 made the test model generate 1000 tokens; cannot hold a slot")
	return nil, 0
}

func TestCancelledRequestFreesItsSlot(t *testing.T) {
	// One slot, no queue: while the slot is taken, other requests get 503.
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--parallel", "1", "--max-queue", "-1", "--ctx-size", "8192"}})
	long, natural := longGeneration(t, s)
	generatedBefore := metric(t, s, "serval_generated_tokens_total")

	ctx, cancel := context.WithCancel(context.Background())
	var busyErr error
	first := true
	_, err := s.Client.CompleteStream(ctx, long, func(string) bool {
		if first {
			first = false
			// The slot is held by this stream: beyond slots + queue the
			// answer is 503 with Retry-After, at once.
			_, busyErr = s.Client.Complete(context.Background(), completionRequest("x = "))
			cancel() // then the client goes away
		}
		return false
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled stream: %v", err)
	}
	var se *api.StatusError
	if !errors.As(busyErr, &se) || se.StatusCode != 503 || se.RetryAfter <= 0 {
		t.Errorf("a request while the only slot was busy and no queue: %v, want 503 with Retry-After", busyErr)
	}
	// The engine records the generation as cancelled (not finished) and the
	// slot is free again.
	freed := false
	for range 200 {
		if metric(t, s, `serval_completions_total{stop_reason="cancelled"}`) == 1 && metric(t, s, "serval_slots_busy") == 0 {
			freed = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !freed {
		t.Fatalf("the cancelled generation was not stopped; metrics:\n%s", metricsDump(t, s))
	}
	if gen := metric(t, s, "serval_generated_tokens_total") - generatedBefore; gen >= float64(natural) {
		t.Errorf("the cancelled request generated %v tokens, as many as uncancelled (%d)", gen, natural)
	}
	if _, err := s.Client.Complete(context.Background(), completionRequest("x = ")); err != nil {
		t.Fatalf("after the cancel: %v", err)
	}
}

func metricsDump(t *testing.T, s *servaltest.Server) string {
	_, _, body := do(t, "GET", s.URL+"/metrics", s.Token, "")
	var keep []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "serval_") && !strings.Contains(l, "_bucket") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestPrefixSharingReusesCachedTokens(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--parallel", "1"}})
	ctx := context.Background()
	base := "import os\n\n" + strings.Repeat("def helper(path):\n    return os.path.join(path, 'x')\n\n", 10)
	first := &api.CompletionRequest{Language: "python", Segments: &api.Segments{Prefix: base + "def main():\n    ", Suffix: ""}, DebugOptions: &api.DebugOptions{}}
	second := &api.CompletionRequest{Language: "python", Segments: &api.Segments{Prefix: base + "def main():\n    pri", Suffix: ""}, DebugOptions: &api.DebugOptions{}}
	r1, err := s.Client.Complete(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Client.Complete(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	u1, u2 := r1.DebugData.Usage, r2.DebugData.Usage
	if u2.ReusedTokens < u1.PromptTokens/2 || u2.EvaluatedTokens >= u1.EvaluatedTokens || u2.ReusedTokens+u2.EvaluatedTokens != u2.PromptTokens {
		t.Fatalf("first %+v, second %+v: the shared prefix was not reused", u1, u2)
	}
	if got := metric(t, s, "serval_prompt_tokens_reused_total"); got < float64(u2.ReusedTokens) {
		t.Errorf("reused metric %v < %d", got, u2.ReusedTokens)
	}
	tm := r2.DebugData.Timing
	if tm == nil || tm.TotalMS <= 0 || tm.OverheadMS < 0 {
		t.Errorf("timing %+v", tm)
	}
}

func TestNoAuth(t *testing.T) {
	// Refused when listening beyond loopback, before anything else happens.
	out, err := serval(t, "serve", "--no-auth", "--host", "0.0.0.0", "--data-dir", t.TempDir(), "--model", "/nonexistent.gguf")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("--no-auth on 0.0.0.0: %v %s", err, out)
	}
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--no-auth"}})
	if s.Token != "" {
		t.Fatal("a token with --no-auth")
	}
	if _, err := s.Client.Complete(context.Background(), completionRequest("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "initial-token")); err == nil {
		t.Error("--no-auth wrote an initial token")
	}
}

func TestGracefulShutdown(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{})
	if err := s.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, s.Logs())
	}
	if !strings.Contains(s.Logs(), "serval: shut down") {
		t.Errorf("logs:\n%s", s.Logs())
	}
}

// startFails runs serve expecting a startup error; it returns the output.
func startFails(t *testing.T, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := serval(t, append([]string{"serve", "--port", "0", "--data-dir", t.TempDir()}, args...)...)
	if err == nil {
		t.Fatalf("serve %q started", args)
	}
	t.Logf("failed after %s", time.Since(start).Round(time.Millisecond))
	if strings.Contains(out, "srv_") {
		t.Errorf("serve %q failed but printed a token first:\n%s", args, out)
	}
	return out + err.Error()
}

func TestStartupErrors(t *testing.T) {
	libDir := llamalib.Dir(t)
	dir := t.TempDir()

	// A file that is not GGUF: named in the error.
	bad := filepath.Join(dir, "broken.gguf")
	os.WriteFile(bad, []byte("this is not a model"), 0o644)
	if out := startFails(t, "--model", bad, "--lib-dir", libDir); !strings.Contains(out, bad) {
		t.Errorf("corrupt model: %s", out)
	}

	// Missing libraries: says to run make deps or set --lib-dir.
	model := servaltest.TestModel(t, ggufgen.Options{})
	if out := startFails(t, "--model", model, "--lib-dir", filepath.Join(dir, "nolibs")); !strings.Contains(out, "make deps") || !strings.Contains(out, "--lib-dir") {
		t.Errorf("missing libraries: %s", out)
	}

	// A registry model that is not downloaded, with no network: names the
	// file to place and the URL, within seconds.
	reg := filepath.Join(dir, "registry.toml")
	os.WriteFile(reg, []byte(`[models."Offline-Test"]
kind = "completion"
url = "http://127.0.0.1:1/offline-test.gguf"
sha256 = "`+strings.Repeat("ab", 32)+`"
template = "qwen"
`), 0o644)
	out := startFails(t, "--model", "Offline-Test", "--registry", reg, "--lib-dir", libDir)
	if !strings.Contains(out, filepath.Join("models", "Offline-Test", "model.gguf")) || !strings.Contains(out, "http://127.0.0.1:1/offline-test.gguf") {
		t.Errorf("offline without the file: %s", out)
	}

	// Bad flags: usage error.
	if out := startFails(t, "--parallel", "0"); !strings.Contains(out, "--parallel") {
		t.Errorf("bad flag: %s", out)
	}
}

// TestOfflineWithFileStarts places the registry model's file in the data
// directory, points its URL at an unreachable address, and starts: nothing
// may touch the network.
func TestOfflineWithFileStarts(t *testing.T) {
	dataDir := t.TempDir()
	dest := filepath.Join(dataDir, "models", "Offline-Test", "model.gguf")
	os.MkdirAll(filepath.Dir(dest), 0o755)
	src := servaltest.TestModel(t, ggufgen.Options{})
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dest, b, 0o644)
	reg := filepath.Join(t.TempDir(), "registry.toml")
	os.WriteFile(reg, []byte(`[models."Offline-Test"]
url = "http://127.0.0.1:1/never.gguf"
sha256 = "`+strings.Repeat("cd", 32)+`"
template = "qwen"
`), 0o644)
	s := servaltest.Start(t, servaltest.Options{Model: "Offline-Test", DataDir: dataDir, Args: []string{"--registry", reg}})
	if _, err := s.Client.Complete(context.Background(), completionRequest("x")); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Client.Health(context.Background()); h == nil || h.Model == "" {
		t.Fatalf("health %+v", h)
	}
}

func TestVersionAndUsage(t *testing.T) {
	out, err := serval(t, "version")
	if err != nil || !strings.HasPrefix(out, "serval ") {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := serval(t, "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
}
