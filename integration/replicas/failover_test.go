package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/pgtest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/store"
)

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// haproxyConfig is docs/deploy/haproxy.cfg with the test's ports: the
// file operators copy is the one tested.
func haproxyConfig(t testing.TB, port int, replicaPorts []int) []byte {
	b, err := os.ReadFile("../../docs/deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	n := 0
	for _, line := range strings.SplitAfter(string(b), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "bind *:8080":
			fmt.Fprintf(&out, "\tbind 127.0.0.1:%d\n", port)
		case strings.HasPrefix(trimmed, "server "):
			if n == 0 {
				for i, p := range replicaPorts {
					fmt.Fprintf(&out, "\tserver r%d 127.0.0.1:%d check inter 500ms fall 2 rise 2\n", i, p)
				}
			}
			n++
		default:
			out.WriteString(line)
		}
	}
	if n == 0 || !strings.Contains(out.String(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("docs/deploy/haproxy.cfg has no 'bind *:8080' or server lines:\n%s", b)
	}
	return []byte(out.String())
}

// startHAProxy runs HAProxy in front of the replica ports and returns its URL.
func startHAProxy(t testing.TB, ports []int) string {
	t.Helper()
	return startHAProxyWith(t, ports, nil)
}

// startHAProxyWith is startHAProxy with the configuration changed by edit
// (nil: as docs/deploy/haproxy.cfg has it).
func startHAProxyWith(t testing.TB, ports []int, edit func(cfg string) string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("SERVAL_REQUIRE_HAPROXY") == "1" {
			t.Fatal("haproxy not installed (SERVAL_REQUIRE_HAPROXY=1): install Debian's haproxy package (make pg-deps)")
		}
		t.Skip("haproxy not installed: install Debian's haproxy package (make pg-deps)")
	}
	port := freePort(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	config := haproxyConfig(t, port, ports)
	if edit != nil {
		edited := edit(string(config))
		if edited == string(config) {
			t.Fatal("the HAProxy configuration edit changed nothing: docs/deploy/haproxy.cfg changed?")
		}
		config = []byte(edited)
	}
	if err := os.WriteFile(cfg, config, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(u + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return u
			}
		}
		if i == 100 {
			t.Fatalf("haproxy does not answer /healthz:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// agentResult is what one simulated agent saw.
type agentResult struct {
	acked    []string       // completion ids of events answered 200
	failures map[string]int // "POST /v1/events 502" → count
	requests int
	slowest  time.Duration
}

// runAgent sends, until ctx ends, a view event every 50 ms and a short
// completion every fourth time, recording what the server acknowledged.
func runAgent(ctx context.Context, base, token, id string) agentResult {
	res := agentResult{failures: map[string]int{}}
	client := &http.Client{Timeout: 20 * time.Second}
	do := func(path string, body any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		res.requests++
		res.slowest = max(res.slowest, time.Since(start))
		if err != nil {
			// HAProxy closes the client's connection when the replica
			// died with the request: EOF or reset, like a 502.
			res.failures["POST "+path+" transport error"]++
			return 0
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			key := fmt.Sprintf("POST %s %d", path, resp.StatusCode)
			if resp.StatusCode == http.StatusServiceUnavailable && !strings.Contains(string(msg), "database is unavailable") {
				key += " " + string(msg)
			}
			res.failures[key]++
		}
		return resp.StatusCode
	}
	for n := 0; ctx.Err() == nil; n++ {
		cid := fmt.Sprintf("%s-%d", id, n)
		if do("/v1/events", api.LogEventRequest{Type: "view", CompletionID: cid, Language: "go"}) == 200 {
			res.acked = append(res.acked, cid)
		}
		if n%4 == 0 {
			do("/v1/completions", api.CompletionRequest{Language: "go", MaxTokens: 4,
				Segments: &api.Segments{Prefix: "func add(a, b int) int {\n\treturn ", Suffix: "\n}\n"}})
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return res
}

// runAgents runs n agents (each with its own token) for d and merges what they saw.
func runAgents(t *testing.T, base string, tokens []string, d time.Duration) agentResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	results := make([]agentResult, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runAgent(ctx, base, tok, fmt.Sprintf("agent%02d", i))
		}()
	}
	wg.Wait()
	all := agentResult{failures: map[string]int{}}
	for _, r := range results {
		all.acked = append(all.acked, r.acked...)
		all.requests += r.requests
		all.slowest = max(all.slowest, r.slowest)
		for k, v := range r.failures {
			all.failures[k] += v
		}
	}
	return all
}

func makeTokens(t testing.TB, dbURL string, n int) []string {
	st, err := store.OpenPostgres(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var tokens []string
	for i := range n {
		s, err := st.CreateToken(context.Background(), "agent"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, s)
	}
	return tokens
}

// storedIDs returns the completion ids of the stored events.
func storedIDs(t *testing.T, dbURL string) map[string]bool {
	st, err := store.OpenPostgres(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.Events(context.Background(), 10_000_000)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range events {
		ids[e.CompletionID] = true
	}
	return ids
}

// TestFailoverThroughHAProxy: 20 agents for 30 s through HAProxy in front of
// two replicas; one replica is SIGKILLed at 8 s and started again at 14 s.
// Only requests in flight on the killed replica fail, and every event a
// replica acknowledged is in PostgreSQL.
func TestFailoverThroughHAProxy(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	ports := []int{freePort(t), freePort(t)}
	var rs []*servaltest.Server
	first := servaltest.Start(t, servaltest.Options{Args: []string{"--database", dbURL, "--port", strconv.Itoa(ports[0]), "--rate-limit", "-1"}})
	rs = append(rs, first, servaltest.Start(t, servaltest.Options{Model: first.ModelPath, DataDir: first.DataDir,
		Args: []string{"--database", dbURL, "--port", strconv.Itoa(ports[1]), "--rate-limit", "-1"}}))
	lb := startHAProxy(t, ports)
	tokens := makeTokens(t, dbURL, 20)

	var chaos sync.WaitGroup
	chaos.Add(1)
	go func() {
		defer chaos.Done()
		time.Sleep(8 * time.Second)
		rs[0].Kill() // SIGKILL
		time.Sleep(6 * time.Second)
		rs[0].Restart()
	}()
	res := runAgents(t, lb, tokens, 30*time.Second)
	chaos.Wait()

	failed := 0
	for _, n := range res.failures {
		failed += n
	}
	t.Logf("20 agents, 30 s through HAProxy, replica 0 SIGKILLed at 8 s and restarted at 14 s: %d requests, %d failed %v, %d events acknowledged, slowest %v",
		res.requests, failed, res.failures, len(res.acked), res.slowest.Round(time.Millisecond))
	for k := range res.failures {
		if !strings.HasSuffix(k, " 502") && !strings.HasSuffix(k, " 503") && !strings.HasSuffix(k, " transport error") {
			t.Errorf("failure %q: only the requests in flight on the killed replica should fail (502 from HAProxy, or the connection closed)", k)
		}
	}
	if failed > 2*len(tokens) {
		t.Errorf("%d requests failed: more than the ones in flight on the killed replica", failed)
	}
	stored := storedIDs(t, dbURL)
	lost := 0
	for _, id := range res.acked {
		if !stored[id] {
			lost++
		}
	}
	t.Logf("acknowledged events found in PostgreSQL: %d of %d", len(res.acked)-lost, len(res.acked))
	if lost > 0 || len(res.acked) < 1000 {
		t.Fatalf("%d acknowledged events lost (of %d acknowledged)", lost, len(res.acked))
	}
}

// TestPostgresRestartUnderLoad: while PostgreSQL is down requests get 503
// with a clear message, at once (no hang); service resumes by itself.
func TestPostgresRestartUnderLoad(t *testing.T) {
	c := pgtest.Shared(t)
	dbURL := c.NewDatabase(t)
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--database", dbURL, "--rate-limit", "-1"}})
	tokens := makeTokens(t, dbURL, 5)

	var outage agentResult
	var after agentResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(3 * time.Second)
		if err := c.StopServer(); err != nil {
			t.Error(err)
			return
		}
		outage = runAgents(t, s.URL, tokens[:2], 4*time.Second)
		if err := c.StartServer(); err != nil {
			t.Error(err)
		}
	}()
	before := runAgents(t, s.URL, tokens, 3*time.Second)
	wg.Wait()
	// Resumes by itself: within 20 s every request succeeds again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = runAgents(t, s.URL, tokens, 2*time.Second)
		if len(after.failures) == 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("before: %d requests, failures %v; PostgreSQL stopped: %d requests, failures %v, slowest %v; after restart: %d requests, failures %v",
		before.requests, before.failures, outage.requests, outage.failures, outage.slowest.Round(time.Millisecond), after.requests, after.failures)
	if len(outage.acked) != 0 || outage.failures["POST /v1/events 503"] == 0 {
		t.Fatalf("while PostgreSQL was down: %d events acknowledged, failures %v; want 503s", len(outage.acked), outage.failures)
	}
	for k := range outage.failures {
		if !strings.HasSuffix(k, " 503") {
			t.Errorf("while PostgreSQL was down: %q, want only 503 with the database message", k)
		}
	}
	if outage.slowest > 10*time.Second {
		t.Errorf("a request took %v while PostgreSQL was down: it should fail fast", outage.slowest)
	}
	if len(after.failures) != 0 || len(after.acked) == 0 {
		t.Fatalf("after PostgreSQL came back: failures %v", after.failures)
	}
	stored := storedIDs(t, dbURL)
	for _, id := range append(before.acked, after.acked...) {
		if !stored[id] {
			t.Fatalf("acknowledged event %s lost", id)
		}
	}
}

// TestUnreachableDatabaseAtStart: serve stops at once with what to fix.
func TestUnreachableDatabaseAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := fmt.Sprintf("postgres://serval:hunter2@127.0.0.1:%d/serval", freePort(t))
	cmd := exec.CommandContext(ctx, servaltest.Binary(t), "serve", "--database", url, "--port", "0", "--host", "127.0.0.1",
		"--data-dir", t.TempDir(), "--model", "/nonexistent.gguf")
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve with an unreachable database: %v\n%s", err, out)
	}
	for _, want := range []string{"cannot use PostgreSQL at postgres://serval:xxxxx@127.0.0.1", "is PostgreSQL running and reachable"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("the password is in the output:\n%s", out)
	}
}
