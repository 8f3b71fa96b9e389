package engines_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/server/api"
)

// startUpstream starts a serval on the test model at a fixed port (so a
// restart comes back at the same address), without auth on loopback.
func startUpstream(t *testing.T, model string, port int, extra ...string) *servaltest.Server {
	t.Helper()
	args := append([]string{"--no-auth", "--port", itoa(port)}, extra...)
	return servaltest.Start(t, servaltest.Options{Model: model, Args: args})
}

// Two real serval upstreams behind a third: completions succeed, one
// upstream is killed mid-run and requests keep succeeding on the other,
// health shows it down, and once restarted it rejoins and takes traffic.
func TestPoolFailoverAndRejoin(t *testing.T) {
	model := servaltest.TestModel(t, ggufgen.Options{})
	portA, portB := freePort(t), freePort(t)
	a := startUpstream(t, model, portA)
	b := startUpstream(t, model, portB)
	front := servaltest.Start(t, servaltest.Options{
		Model: openaiSpec(portA),
		Args:  []string{"--model", openaiSpec(portB), "--config", fastPoolConfig(t), "--max-tokens", "8"},
	})

	h := health(t, front)
	if h.Device != "remote" || h.Model != testModelName || len(h.Upstreams) != 2 {
		t.Fatalf("front health %+v", h)
	}
	for _, port := range []int{portA, portB} {
		if u := upstream(t, h, "completion", port); !u.Healthy {
			t.Fatalf("upstream %d not healthy at start: %+v", port, u)
		}
	}
	// No --chat-model: chat is not implemented here.
	resp := post(context.Background(), t, front, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(errorBody(resp), "--chat-model") {
		t.Errorf("chat without --chat-model: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// Requests one after another: the least-loaded pick keeps choosing the
	// first member while both are idle, so kill that one mid-run.
	servedBefore := openaiServed(t, b)
	for i := range 8 {
		if i == 3 {
			a.Kill()
		}
		r, err := complete(front)
		if err != nil {
			t.Fatalf("completion %d (upstream A killed before #3): %v", i, err)
		}
		if len(r.Choices) != 1 || r.Choices[0].Text == "" {
			t.Fatalf("completion %d: %+v", i, r)
		}
	}
	// B's request metric is recorded once its handler returns, which can be
	// just after the front has the answer: wait for it rather than read once.
	var served float64
	waitFor(t, "upstream B to record the 5 requests made after A died", 30*time.Second, func() bool {
		served = openaiServed(t, b) - servedBefore
		return served >= 5
	})
	h = health(t, front)
	if u := upstream(t, h, "completion", portA); u.Healthy || u.LastError == "" {
		t.Errorf("killed upstream A shows %+v", u)
	}
	if v := metric(t, front, `serval_upstream_healthy{role="completion",upstream="openai:127.0.0.1:`+itoa(portA)+`#`+testModelName+`"}`); v != 0 {
		t.Errorf("serval_upstream_healthy for A = %v", v)
	}

	// A comes back at the same address: its health check passes and it rejoins.
	a.Restart()
	waitFor(t, "upstream A healthy again", 30*time.Second, func() bool {
		return upstream(t, health(t, front), "completion", portA).Healthy
	})
	// With B gone, only A can serve: it really takes traffic again.
	b.Kill()
	servedByA := openaiServed(t, a)
	for i := range 3 {
		if _, err := complete(front); err != nil {
			t.Fatalf("completion %d after A rejoined and B died: %v", i, err)
		}
	}
	// As for B above: A records a request once its handler returns, which
	// can be just after the front has the answer.
	waitFor(t, "rejoined upstream A to record the 3 requests made after B died", 30*time.Second, func() bool {
		return openaiServed(t, a)-servedByA >= 3
	})

	// Both down: 503 with a message naming the upstreams.
	a.Kill()
	_, err := complete(front)
	if api.StatusCode(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "upstream") {
		t.Errorf("all upstreams down: %v", err)
	}
}
