package peers_test

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/peertest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// ollamaModel is the name the generated test model is imported under.
const ollamaModel = "serval-tiny"

// startOllama runs Ollama with the generated test model imported.
func startOllama(t *testing.T, env ...string) *peertest.Ollama {
	t.Helper()
	o := peertest.StartOllama(t, env...)
	o.Create(t, ollamaModel, testModel(t))
	return o
}

// servalOverOllama starts serval with --model ollama:NAME against o.
func servalOverOllama(t *testing.T, o *peertest.Ollama, args ...string) *servaltest.Server {
	t.Helper()
	args = append([]string{"--ollama-url", o.URL, "--config", fastPoolConfig(t)}, args...)
	return servaltest.Start(t, servaltest.Options{Model: "ollama:" + ollamaModel, Args: args})
}

// serval in front of a real Ollama: completions, streaming, and a cancelled
// stream that stops Ollama's generation.
func TestServalOverOllama(t *testing.T) {
	o := startOllama(t, "OLLAMA_NUM_PARALLEL=1")
	s := servalOverOllama(t, o)

	h := health(t, s)
	if h.Device != "remote" || len(h.Upstreams) != 1 || !h.Upstreams[0].Healthy {
		t.Fatalf("health %+v", h)
	}
	r, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(12))
	if err != nil {
		t.Fatalf("completion via Ollama: %v\n%s\nollama:\n%s", err, s.Logs(), o.Logs())
	}
	whole := r.Choices[0].Text
	if whole == "" {
		t.Fatalf("empty completion: %+v", r)
	}

	var deltas []string
	if _, err := s.Client.CompleteStream(ctxFor(t, requestBound), codeRequest(12), func(d string) bool {
		deltas = append(deltas, d)
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if len(deltas) < 2 || strings.Join(deltas, "") != whole {
		t.Errorf("stream %q, want the pieces of %q", deltas, whole)
	}

	t.Run("cancellation stops Ollama's generation", func(t *testing.T) { ollamaCancelStops(t, o, s) })
}

// A model Ollama does not have: without --ollama-pull serval refuses to start
// and says how to get it; with it, the pull (no registry can be reached from
// here) fails with a message naming Ollama and the model, within a bound.
func TestOllamaMissingModel(t *testing.T) {
	o := startOllama(t)
	for _, pull := range []bool{false, true} {
		args := []string{"serve", "--model", "ollama:no-such-model:1b", "--ollama-url", o.URL,
			"--host", "127.0.0.1", "--port", "0", "--data-dir", t.TempDir(), "--lib-dir", llamalib.Dir(t)}
		if pull {
			args = append(args, "--ollama-pull")
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestBound)
		start := time.Now()
		out, err := exec.CommandContext(ctx, servaltest.Binary(t), args...).CombinedOutput()
		hung := ctx.Err() != nil // read before cancel, which sets it
		cancel()
		if hung {
			t.Fatalf("pull=%v: serval still running after %s (a hang):\n%s", pull, requestBound, out)
		}
		if err == nil || !strings.Contains(string(out), "no-such-model") || !strings.Contains(string(out), o.URL[len("http://"):]) && !strings.Contains(string(out), "ollama") {
			t.Errorf("pull=%v: exit %v, output does not name Ollama and the model:\n%s", pull, err, out)
		}
		if !pull && !strings.Contains(string(out), "--ollama-pull") {
			t.Errorf("without --ollama-pull the message does not say how to get the model:\n%s", out)
		}
		t.Logf("pull=%v: failed in %s: %s", pull, time.Since(start).Round(time.Millisecond), lastLine(string(out)))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Ollama killed mid-stream: the stream ends with an error naming Ollama, the
// next request gets a clean 503 while it is down, and once restarted (same
// address, same models) health recovers by itself and requests succeed.
func TestOllamaKilledMidStreamAndRestarted(t *testing.T) {
	o := startOllama(t)
	s := servalOverOllama(t, o)

	got := 0
	_, err := s.Client.CompleteStream(ctxFor(t, requestBound), codeRequest(2000), func(string) bool {
		if got++; got == 2 {
			o.Kill()
		}
		return false
	})
	if err == nil || !strings.Contains(err.Error(), "ollama") {
		t.Fatalf("stream across a killed Ollama ended with %v (%d deltas)", err, got)
	}
	t.Logf("mid-stream kill: %v", err)

	waitFor(t, "Ollama marked down", requestBound, func() bool { return !upstreamOn(t, health(t, s), o.Port).Healthy })
	_, err = s.Client.Complete(ctxFor(t, requestBound), codeRequest(4))
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || !strings.Contains(se.Message, "ollama") {
		t.Fatalf("while Ollama is down: %v, want a 503 naming ollama", err)
	}
	t.Logf("while down: %v", err)

	o.Restart(requestBound)
	waitFor(t, "Ollama healthy again", requestBound, func() bool { return upstreamOn(t, health(t, s), o.Port).Healthy })
	if _, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(4)); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}

// A pool of Ollama and llama-server: Ollama is killed, and requests are served
// by llama-server; the one in flight on Ollama either was retried there (no
// text sent yet) or ended with a clean error.
func TestOllamaPoolOtherMemberServes(t *testing.T) {
	o := startOllama(t)
	ls := peertest.StartLlamaServer(t, testModel(t), peertest.LlamaServerOptions{Alias: testModelName})
	s := servalOverOllama(t, o, "--model", llamaSpec(ls))

	for _, u := range health(t, s).Upstreams {
		if !u.Healthy {
			t.Fatalf("upstream not healthy at start: %+v", u)
		}
	}
	o.Kill()
	for i := range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), requestBound)
		r, err := s.Client.Complete(ctx, codeRequest(8))
		cancel()
		if err != nil {
			t.Fatalf("completion %d after Ollama was killed: %v", i, err)
		}
		if r.Choices[0].Text == "" {
			t.Fatalf("completion %d empty", i)
		}
	}
	if u := upstreamOn(t, health(t, s), o.Port); u.Healthy {
		t.Errorf("killed Ollama shows healthy: %+v", u)
	}
	if u := upstreamOn(t, health(t, s), ls.Port); !u.Healthy {
		t.Errorf("llama-server shows %+v", u)
	}
}

// ollamaCancelStops cancels a long stream after its first text and shows from
// Ollama's side that the generation stopped: Ollama's own timings of a direct
// request say how long the whole generation would take; its model runner's
// CPU time stops growing after the cancel instead of running that long; and
// the next request is answered by the same single slot.
func ollamaCancelStops(t *testing.T, o *peertest.Ollama, s *servaltest.Server) {
	const maxTokens = 2000
	perToken := ollamaTokenTime(t, o)
	t.Logf("Ollama generates a token in %s: %d tokens would take %s", perToken, maxTokens, perToken*maxTokens)

	ctx, cancel := context.WithCancel(ctxFor(t, requestBound))
	got := 0
	_, err := s.Client.CompleteStream(ctx, codeRequest(maxTokens), func(string) bool {
		if got++; got == 2 {
			cancel()
		}
		return false
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stream after cancel: %v", err)
	}
	cancelled := time.Now()
	// Give the cancel a moment to reach the runner, then watch it for a second.
	time.Sleep(300 * time.Millisecond)
	before, err := o.ChildrenCPU()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	after, _ := o.ChildrenCPU()
	busy := after - before
	remaining := perToken*maxTokens - time.Since(cancelled)
	t.Logf("runner CPU after the cancel: %s in 1 s; the generation had %s left", busy, remaining.Round(time.Millisecond))
	if remaining > 2*time.Second && busy > 300*time.Millisecond {
		t.Errorf("Ollama's runner used %s of CPU in the second after the cancel: it kept generating", busy)
	}
	if _, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(4)); err != nil {
		t.Errorf("after the cancel: %v", err)
	}
}

// ollamaTokenTime asks Ollama directly for 64 tokens and returns its own
// eval_duration / eval_count.
func ollamaTokenTime(t *testing.T, o *peertest.Ollama) time.Duration {
	t.Helper()
	resp := postJSON(ctxFor(t, requestBound), t, o.URL+"/api/generate", "",
		`{"model":"`+ollamaModel+`","prompt":"<|fim_prefix|>func f() {\n<|fim_suffix|>}<|fim_middle|>","raw":true,"stream":false,
		"options":{"num_predict":64,"temperature":0,"num_thread":1}}`)
	raw := readAll(t, resp)
	m := decodeObject(t, "ollama /api/generate", raw)
	count, _ := m["eval_count"].(float64)
	dur, _ := m["eval_duration"].(float64)
	if resp.StatusCode != 200 || count == 0 || dur == 0 {
		t.Fatalf("ollama /api/generate: %d %s", resp.StatusCode, raw)
	}
	return time.Duration(dur / count)
}
