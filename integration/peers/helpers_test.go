// Package peers_test runs serval against the real peers it fronts and is
// compared with, built by build.sh (`make peers`): llama.cpp's llama-server
// behind --model openai:..., Ollama behind --model ollama:..., and llama.cpp's
// /infill served by both, compared field by field. The peers run the
// generated test model on free loopback ports, one thread each.
package peers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// testModelName is general.name of the generated test model.
const testModelName = "serval-test-tiny"

// testModel writes the generated test model once per test. It writes no
// line breaks, so no stop word ends a completion before its token budget:
// the tests that cut a stream after its second delta (a cancel, a killed
// peer) need it still running then on every CPU, and where a line-break
// model meets its first stop word depends on the CPU's float rounding (CI
// once saw a stream end before the cut).
func testModel(t *testing.T) string {
	t.Helper()
	return servaltest.TestModel(t, ggufgen.Options{NoLineBreaks: true})
}

// fastPoolConfig writes a --config file whose pool notices failures and
// recoveries within a fraction of a second.
func fastPoolConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serval.toml")
	const cfg = `[pool]
check_interval = "300ms"
check_timeout = "5s"
backoff = "200ms"
max_backoff = "1s"
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func codeRequest(maxTokens int) *api.CompletionRequest {
	return &api.CompletionRequest{Language: "go", MaxTokens: maxTokens,
		Segments: &api.Segments{Prefix: "package main\n\nfunc add(a, b int) int {\n\treturn ", Suffix: "\n}\n", Filepath: "main.go"}}
}

// requestBound bounds one request to a peer or to serval in these tests. It
// only tells a hang from an answer: on a 2-core machine at a load average of
// 30 a 12-token stream through serval and Ollama was seen to take over a
// minute (every process starved), so it is far above any expected time.
const requestBound = 5 * time.Minute

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// postJSON sends body to url with the Bearer token (if any) and returns the response.
func postJSON(ctx context.Context, t *testing.T, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// sseEvents splits a server-sent-event body into its data payloads.
func sseEvents(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, data)
		}
	}
	return out
}

// health reads serval's /v1/health.
func health(t *testing.T, s *servaltest.Server) *api.HealthState {
	t.Helper()
	h, err := s.Client.Health(ctxFor(t, requestBound))
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	return h
}

// upstreamOn returns the health entry of the upstream whose URL has port.
func upstreamOn(t *testing.T, h *api.HealthState, port int) api.UpstreamState {
	t.Helper()
	for _, u := range h.Upstreams {
		if strings.Contains(u.URL, fmt.Sprintf(":%d", port)) {
			return u
		}
	}
	t.Fatalf("no upstream on port %d in %+v", port, h.Upstreams)
	return api.UpstreamState{}
}

// waitFor polls cond every 50 ms for at most limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsonShape describes v's structure: object keys with the shapes of their
// values, "array", "string", "number", "bool" or "null".
func jsonShape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = jsonShape(e)
		}
		return m
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	default:
		return "null"
	}
}

func decodeObject(t *testing.T, what, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: not a JSON object: %v\n%s", what, err, s)
	}
	return m
}
