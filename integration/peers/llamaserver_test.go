package peers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/peertest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// llamaSpec is the --model value for a llama-server.
func llamaSpec(p *peertest.Process) string {
	return fmt.Sprintf("openai:%s/v1#%s", p.URL, testModelName)
}

// The context both sides budget for: room for a long generation to cancel.
const longCtx = 16384

// serval in front of a real llama-server: completions (FIM prompts built by
// serval, the same text as serval's own engine gives on the same model),
// streaming, stop words passed on, and cancellation that frees llama-server's
// slot before the generation would have ended.
func TestServalOverLlamaServer(t *testing.T) {
	model := testModel(t)
	ls := peertest.StartLlamaServer(t, model, peertest.LlamaServerOptions{Alias: testModelName, CtxSize: longCtx})
	s := servaltest.Start(t, servaltest.Options{Model: llamaSpec(ls),
		Args: []string{"--config", fastPoolConfig(t), "--ctx-size", fmt.Sprint(longCtx)}})
	local := servaltest.Start(t, servaltest.Options{Model: model})

	h := health(t, s)
	if h.Device != "remote" || len(h.Upstreams) != 1 || !h.Upstreams[0].Healthy {
		t.Fatalf("health %+v", h)
	}

	var whole string
	t.Run("completion matches the in-process engine", func(t *testing.T) {
		r, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(12))
		if err != nil {
			t.Fatalf("completion via llama-server: %v\n%s", err, s.Logs())
		}
		whole = r.Choices[0].Text
		lr, err := local.Client.Complete(ctxFor(t, requestBound), codeRequest(12))
		if err != nil {
			t.Fatal(err)
		}
		// Same model, same llama.cpp, greedy decoding: the FIM prompt serval
		// sends (special tokens in the text) is tokenized alike upstream.
		if whole == "" || whole != lr.Choices[0].Text {
			t.Errorf("via llama-server %q, in-process %q", whole, lr.Choices[0].Text)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		var deltas []string
		_, err := s.Client.CompleteStream(ctxFor(t, requestBound), codeRequest(12), func(d string) bool {
			deltas = append(deltas, d)
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(deltas) < 2 || strings.Join(deltas, "") != whole {
			t.Errorf("deltas %q, want pieces of %q", deltas, whole)
		}
	})

	t.Run("stop words", func(t *testing.T) {
		const p = `{"prompt":"<|fim_prefix|>func f() {\n\t<|fim_suffix|>\n}<|fim_middle|>","max_tokens":24,"temperature":0`
		full := openaiCompletion(t, s, p+"}")
		if len(full.text) < 8 {
			t.Fatalf("completion %q too short to cut", full.text)
		}
		stop := full.text[4:7]
		cut := openaiCompletion(t, s, p+`,"stop":[`+quoteJSON(stop)+`]}`)
		if want := full.text[:strings.Index(full.text, stop)]; cut.text != want || cut.finish != "stop" {
			t.Errorf("stop %q: got %q (%s), want %q (stop)", stop, cut.text, cut.finish, want)
		}
	})

	t.Run("cancellation frees the llama-server slot", func(t *testing.T) {
		const maxTokens = 4000
		logged := len(ls.Logs()) // what llama-server logged before this request
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
		// /slots resets a slot's counters when it is released, so llama-server's
		// own log says where it stopped: the task was cancelled and the slot
		// released long before the 4000 tokens asked for. The log is read as
		// it arrives through a pipe, which may lag /slots saying the slot is
		// idle (seen under load): wait for the lines themselves.
		stopped := regexp.MustCompile(`stop processing: n_tokens = (\d+)`)
		var logs string
		var released [][]string
		cancelledAndReleased := func() bool {
			logs = ls.Logs()[logged:]
			released = stopped.FindAllStringSubmatch(logs, -1)
			return strings.Contains(logs, "cancel task") && len(released) > 0
		}
		deadline := time.Now().Add(requestBound)
		for !cancelledAndReleased() {
			if time.Now().After(deadline) {
				t.Fatalf("llama-server's log shows no cancelled task and released slot within %s:\n%s", requestBound, logs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		n, _ := strconv.Atoi(released[len(released)-1][1])
		if n >= maxTokens {
			t.Errorf("llama-server released the slot at %d tokens of %d asked: the cancel did not stop it", n, maxTokens)
		}
		t.Logf("cancelled after 2 deltas: llama-server released its slot at %d tokens (prompt included) of %d asked", n, maxTokens)
		// And the next request is served at once by the same slot.
		if _, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(4)); err != nil {
			t.Errorf("after the cancel: %v", err)
		}
	})
}

type openaiResult struct{ text, finish string }

// openaiCompletion posts a finished prompt to serval's OpenAI-compatible route.
func openaiCompletion(t *testing.T, s *servaltest.Server, body string) openaiResult {
	t.Helper()
	resp := postJSON(ctxFor(t, requestBound), t, s.URL+"/openai/v1/completions", s.Token, body)
	raw := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var c struct {
		Choices []struct {
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("answer %s: %v", raw, err)
	}
	return openaiResult{c.Choices[0].Text, c.Choices[0].FinishReason}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A pool of two llama-servers under load from four clients; one is killed.
// Requests in flight on it that had sent text end with a clean error (the
// pool retries on the other member only before any text went out: text
// already shown cannot be taken back); every other request is served, by the
// survivor once health checks take the dead one out. Restarted, it rejoins.
func TestLlamaServerPoolMemberKilledUnderLoad(t *testing.T) {
	model := testModel(t)
	a := peertest.StartLlamaServer(t, model, peertest.LlamaServerOptions{Alias: testModelName, Parallel: 2})
	b := peertest.StartLlamaServer(t, model, peertest.LlamaServerOptions{Alias: testModelName, Parallel: 2})
	s := servaltest.Start(t, servaltest.Options{Model: llamaSpec(a),
		Args: []string{"--model", llamaSpec(b), "--config", fastPoolConfig(t), "--parallel", "4"}})

	const clients, perClient, killAfter = 4, 10, 8
	var (
		done, failed atomic.Int64
		mu           sync.Mutex
		errs         []string
		wg           sync.WaitGroup
		killOnce     sync.Once
	)
	for range clients {
		wg.Go(func() {
			for range perClient {
				ctx, cancel := context.WithTimeout(context.Background(), requestBound)
				// Streamed, so that a request can die after its first text.
				_, err := s.Client.CompleteStream(ctx, codeRequest(48), func(string) bool { return false })
				cancel()
				if err != nil {
					failed.Add(1)
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
				if done.Add(1) == killAfter {
					killOnce.Do(a.Kill)
				}
			}
		})
	}
	wg.Wait()
	if !a.Exited() {
		t.Fatal("member A was never killed")
	}
	// At most the requests in flight on A when it died: at most every client.
	if n := failed.Load(); n > clients {
		t.Errorf("%d of %d requests failed, more than the %d that can have been in flight on A: %q", n, clients*perClient, clients, errs)
	}
	for _, e := range errs {
		if !strings.Contains(e, fmt.Sprint(a.Port)) && !strings.Contains(e, "503") && !strings.Contains(e, "upstream") {
			t.Errorf("error does not name the upstream: %q", e)
		}
	}
	t.Logf("%d of %d requests failed when A was killed mid-load: %q", failed.Load(), clients*perClient, errs)
	if u := upstreamOn(t, health(t, s), a.Port); u.Healthy || u.LastError == "" {
		t.Errorf("killed member A shows %+v", u)
	}

	a.Restart(requestBound)
	waitFor(t, "member A healthy again", requestBound, func() bool { return upstreamOn(t, health(t, s), a.Port).Healthy })
	if _, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(4)); err != nil {
		t.Errorf("after A rejoined: %v", err)
	}
}

// A llama-server that dies mid-stream, or is not there at all: serval says
// which upstream and what to do, never hangs; health recovers when it returns.
func TestLlamaServerDiesMidStreamAndReturns(t *testing.T) {
	model := testModel(t)
	ls := peertest.StartLlamaServer(t, model, peertest.LlamaServerOptions{Alias: testModelName, CtxSize: longCtx})
	s := servaltest.Start(t, servaltest.Options{Model: llamaSpec(ls),
		Args: []string{"--config", fastPoolConfig(t), "--ctx-size", fmt.Sprint(longCtx)}})

	got := 0
	_, err := s.Client.CompleteStream(ctxFor(t, requestBound), codeRequest(4000), func(string) bool {
		if got++; got == 2 {
			ls.Kill()
		}
		return false
	})
	var se *api.StatusError
	if err == nil || errors.As(err, &se) && se.StatusCode == 200 {
		t.Fatalf("stream across a dead upstream ended with %v", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", ls.Port)) {
		t.Errorf("mid-stream error does not name the upstream: %v", err)
	}
	t.Logf("mid-stream death: %v", err)

	// Down: a clean 503 naming the upstream, at once.
	waitFor(t, "upstream marked down", requestBound, func() bool { return !upstreamOn(t, health(t, s), ls.Port).Healthy })
	_, err = s.Client.Complete(ctxFor(t, requestBound), codeRequest(4))
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("while llama-server is down: %v, want a 503", err)
	}
	t.Logf("while down: %v", err)

	ls.Restart(requestBound)
	waitFor(t, "upstream healthy again", requestBound, func() bool { return upstreamOn(t, health(t, s), ls.Port).Healthy })
	if _, err := s.Client.Complete(ctxFor(t, requestBound), codeRequest(4)); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}
