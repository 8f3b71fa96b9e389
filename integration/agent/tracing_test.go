package agent_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/servalhq/serval/integration/testsupport/otlptest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// TestOneTraceAcrossAgentAndServer: with the standard OTEL_* variables set
// for both programs, one completion asked through the real serval-agent of
// the real serval is one trace in the collector: the agent's phases, its
// request, and under it the server's auth, prompt, queue, evaluation and
// generation spans; log lines on both sides carry its trace id.
func TestOneTraceAcrossAgentAndServer(t *testing.T) {
	collector := otlptest.Start(t)
	export := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_BSP_SCHEDULE_DELAY=50"}
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "8"}, Env: export})
	a := startAgent(t, append([]string{"SERVAL_ENDPOINT=" + srv.URL, "SERVAL_TOKEN=" + srv.Token}, export...)...)
	a.initialize(map[string]any{"completion": map[string]any{"debounce": map[string]any{"mode": "fixed", "interval": 10}}})
	a.waitStatus("ready", 30*time.Second)

	uri := "file://" + filepath.Join(t.TempDir(), "main.py")
	a.open(uri, "python", "def total(items):\n    ")
	a.inline(uri, protocol.Position{Line: 1, Character: 4}, 2) // automatic: debounced

	// The agent's root span and the server's last phase, in one trace.
	var root otlptest.Span
	err := collector.WaitFor(bounded(t, 60*time.Second), func(spans []otlptest.Span) bool {
		r, ok := otlptest.Find(spans, "serval-agent", "completion")
		if !ok {
			return false
		}
		root = r
		tr := otlptest.Trace(spans, r.TraceID)
		_, gen := otlptest.Find(tr, "serval", "generation")
		_, pp := otlptest.Find(tr, "serval-agent", "postprocess")
		return gen && pp
	})
	if err != nil {
		t.Fatal(err)
	}
	all := collector.Spans()
	tr := otlptest.Trace(all, root.TraceID)
	if root.ParentID != "" {
		t.Errorf("the agent's completion span has a parent %s: the agent starts the trace", root.ParentID)
	}
	want := func(service, name, parent, kind string) otlptest.Span {
		t.Helper()
		s, ok := otlptest.Find(tr, service, name)
		switch {
		case !ok:
			t.Fatalf("no %s span %q in the trace:\n%s", service, name, otlptest.Tree(tr))
		case s.ParentID != parent:
			t.Fatalf("%s span %q: parent %s, want %s:\n%s", service, name, s.ParentID, parent, otlptest.Tree(tr))
		case kind != "" && s.Kind != kind:
			t.Fatalf("%s span %q: kind %s, want %s", service, name, s.Kind, kind)
		}
		return s
	}
	want("serval-agent", "debounce", root.SpanID, "")
	want("serval-agent", "context", root.SpanID, "")
	want("serval-agent", "postprocess", root.SpanID, "")
	request := want("serval-agent", "POST /v1/completions", root.SpanID, "client")
	server := want("serval", "POST /v1/completions", request.SpanID, "server")
	want("serval", "auth", server.SpanID, "")
	want("serval", "prompt build", server.SpanID, "")
	generate := want("serval", "generate", server.SpanID, "")
	want("serval", "queue wait", generate.SpanID, "")
	eval := want("serval", "prompt eval", generate.SpanID, "")
	gen := want("serval", "generation", generate.SpanID, "")
	if n, err := strconv.Atoi(eval.Attrs["serval.prompt.tokens_evaluated"]); err != nil || n <= 0 {
		t.Errorf("prompt eval attributes %v: want tokens evaluated", eval.Attrs)
	}
	if _, err := strconv.Atoi(eval.Attrs["serval.prompt.tokens_reused"]); err != nil {
		t.Errorf("prompt eval attributes %v: want tokens reused", eval.Attrs)
	}
	if n, err := strconv.Atoi(gen.Attrs["serval.generation.tokens"]); err != nil || n < 0 || n > 8 {
		t.Errorf("generation attributes %v: want the tokens generated (at most --max-tokens 8)", gen.Attrs)
	}
	if server.Attrs["http.response.status_code"] != "200" {
		t.Errorf("server span attributes %v", server.Attrs)
	}
	// One completion, one trace: no server completion span elsewhere.
	for _, s := range all {
		if s.Service == "serval" && s.Name == "POST /v1/completions" && s.TraceID != root.TraceID {
			t.Errorf("a second trace %s for the one completion:\n%s", s.TraceID, otlptest.Tree(all))
		}
	}
	// Log lines carry the trace id: the server's access line, the agent's
	// debug line for the answer.
	if !strings.Contains(srv.Logs(), "trace_id="+root.TraceID) {
		t.Errorf("no server log line carries trace_id=%s:\n%s", root.TraceID, srv.Logs())
	}
	if !strings.Contains(a.c.Stderr(), "trace_id="+root.TraceID) {
		t.Errorf("no agent log line carries trace_id=%s:\n%s", root.TraceID, a.c.Stderr())
	}
}

// TestWarmupTraceIsMarked: a warm-up (the editor focused a place, nothing
// was asked for yet) is a trace of its own, "warm-up" marked serval.warmup,
// with its request and the server's span, marked too, under it: a trace
// search tells warm-ups from completions.
func TestWarmupTraceIsMarked(t *testing.T) {
	collector := otlptest.Start(t)
	export := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_BSP_SCHEDULE_DELAY=50"}
	srv := servaltest.Start(t, servaltest.Options{Args: []string{"--max-tokens", "8"}, Env: export})
	a := startAgent(t, append([]string{"SERVAL_ENDPOINT=" + srv.URL, "SERVAL_TOKEN=" + srv.Token}, export...)...)
	a.initialize(nil)
	a.waitStatus("ready", 30*time.Second)

	uri := "file://" + filepath.Join(t.TempDir(), "main.py")
	a.open(uri, "python", "def total(items):\n    \n")
	a.focus(uri, protocol.Position{Line: 1, Character: 4})

	var root otlptest.Span
	err := collector.WaitFor(bounded(t, 60*time.Second), func(spans []otlptest.Span) bool {
		r, ok := otlptest.Find(spans, "serval-agent", "warm-up")
		if !ok {
			return false
		}
		root = r
		_, ok = otlptest.Find(otlptest.Trace(spans, r.TraceID), "serval", "POST /v1/completions")
		return ok
	})
	if err != nil {
		t.Fatalf("%v:\n%s", err, otlptest.Tree(collector.Spans()))
	}
	tr := otlptest.Trace(collector.Spans(), root.TraceID)
	request, ok := otlptest.Find(tr, "serval-agent", "POST /v1/completions")
	server, _ := otlptest.Find(tr, "serval", "POST /v1/completions")
	switch {
	case root.ParentID != "" || root.Attrs["serval.warmup"] != "true":
		t.Errorf("the warm-up's root span: parent %q, attributes %v", root.ParentID, root.Attrs)
	case !ok || request.ParentID != root.SpanID || server.ParentID != request.SpanID:
		t.Errorf("the warm-up's request is not under its root:\n%s", otlptest.Tree(tr))
	case server.Attrs["serval.warmup"] != "true":
		t.Errorf("the server's span of the warm-up is not marked: %v", server.Attrs)
	}
	if _, ok := otlptest.Find(collector.Spans(), "serval-agent", "completion"); ok {
		t.Errorf("a completion span without a completion:\n%s", otlptest.Tree(collector.Spans()))
	}
}
