// Package engines_test drives real serval binaries as upstreams of another
// real serval (--model openai:...), an Ollama replay server in the test
// process behind --model ollama:..., and chat through --chat-model, checking
// failover, rejoin, 503s while upstreams are down, and streaming chat.
package engines_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// testModelName is general.name of the generated test model, which serval
// serves under /openai/v1/models.
const testModelName = "serval-test-tiny"

func itoa(n int) string { return strconv.Itoa(n) }

// freePort returns a loopback port that was free a moment ago, so that an
// upstream can be restarted on the same address.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// openaiSpec is the --model value for a serval upstream on port.
func openaiSpec(port int) string {
	return fmt.Sprintf("openai:http://127.0.0.1:%d/openai/v1#%s", port, testModelName)
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

func completionRequest() *api.CompletionRequest {
	return &api.CompletionRequest{Language: "python", MaxTokens: 8,
		Segments: &api.Segments{Prefix: "def add(a, b):\n    return ", Suffix: "\n"}}
}

func complete(s *servaltest.Server) (*api.CompletionResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Client.Complete(ctx, completionRequest())
}

func health(t *testing.T, s *servaltest.Server) *api.HealthState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := s.Client.Health(ctx)
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	return h
}

// upstream returns the health entry of the upstream on port.
func upstream(t *testing.T, h *api.HealthState, role string, port int) api.UpstreamState {
	t.Helper()
	for _, u := range h.Upstreams {
		if u.Role == role && strings.Contains(u.URL, ":"+strconv.Itoa(port)+"/") {
			return u
		}
	}
	t.Fatalf("no %s upstream on port %d in %+v", role, port, h.Upstreams)
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

// metric returns the value of one series of s's /metrics (0 when absent).
func metric(t *testing.T, s *servaltest.Server, series string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/metrics", nil)
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// openaiServed counts the /openai/v1/completions requests s answered with 200.
func openaiServed(t *testing.T, s *servaltest.Server) float64 {
	return metric(t, s, `serval_http_request_duration_seconds_count{code="200",route="POST /openai/v1/completions"}`)
}

// post sends a JSON body to s with its token and returns the response.
func post(ctx context.Context, t *testing.T, s *servaltest.Server, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// errorBody reads an OpenAI-shaped or Tabby-shaped error message.
func errorBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	var shapes struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &shapes) == nil {
		var s string
		if json.Unmarshal(shapes.Error, &s) == nil {
			return s
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(shapes.Error, &o) == nil {
			return o.Message
		}
	}
	return string(b)
}

// chatChunk is the part of a chat.completion.chunk the tests read.
type chatChunk struct {
	Object  string `json:"object"`
	Choices []struct {
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// readEvents reads server-sent events until [DONE] (returned as done) or the
// end of the body; each event's data is passed to fn, which may stop early
// by returning false.
func readEvents(r io.Reader, fn func(data string) bool) (done bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			return true, nil
		}
		if !fn(data) {
			return false, nil
		}
	}
	return false, sc.Err()
}
