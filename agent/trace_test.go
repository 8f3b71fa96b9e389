package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/servalhq/serval/integration/testsupport/otlptest"
	"github.com/servalhq/serval/telemetry"
)

// tracingOn returns a tracer provider with the real OTLP/HTTP pipeline (the
// one serval-agent builds from OTEL_*) to an in-process collector, and
// installs the W3C propagator the agent's requests use; both are undone
// when tb ends.
func tracingOn(tb testing.TB) (trace.TracerProvider, *otlptest.Receiver) {
	collector := otlptest.Start(tb)
	tr, err := telemetry.New(context.Background(), telemetry.Config{ServiceName: "serval-agent", Endpoint: collector.URL})
	if err != nil {
		tb.Fatal(err)
	}
	otel.SetTextMapPropagator(telemetry.Propagator)
	tb.Cleanup(func() {
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		tr.Shutdown(context.Background())
	})
	return tr.TracerProvider(), collector
}

// newTracedAgent is newTestAgent with tracing through tp (nil: off).
func newTracedAgent(tb testing.TB, endpoint string, tp trace.TracerProvider) *Agent {
	stack := NewConfigStack(func(string) string { return "" })
	stack.Set(LayerFile, Config{Server: ServerConfig{Endpoint: endpoint}})
	a, err := New(Options{Config: stack, TracerProvider: tp})
	if err != nil {
		tb.Fatal(err)
	}
	a.Start()
	tb.Cleanup(func() { a.Close() })
	return a
}

// TestTracedCompletionCarriesTraceparent: with tracing on, the request to
// the server carries the completion's trace (W3C traceparent) and the
// completion is one trace of the agent's phases.
func TestTracedCompletionCarriesTraceparent(t *testing.T) {
	srv := newTestServer(t, "Println(x)")
	tp, collector := tracingOn(t)
	a := newTracedAgent(t, srv.URL, tp)
	doc := Document{URI: "file:///t/main.go", LanguageID: "go", Text: []byte("package main\n\nfunc main() {\n\tfmt.")}
	a.DidOpen(doc)
	res, err := a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text), Trigger: Automatic})
	if err != nil || len(res.Items) == 0 {
		t.Fatalf("Suggest: %+v %v", res, err)
	}
	srv.mu.Lock()
	traceparent := srv.lastHeader.Get("traceparent")
	srv.mu.Unlock()
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("traceparent %q", traceparent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var spans []otlptest.Span
	err = collector.WaitFor(ctx, func(got []otlptest.Span) bool {
		spans = otlptest.Trace(got, parts[1])
		return len(spans) >= 5
	})
	if err != nil {
		t.Fatal(err)
	}
	root, ok := otlptest.Find(spans, "serval-agent", "completion")
	if !ok || root.ParentID != "" || root.Attrs["serval.source"] != "server" || root.Attrs["serval.items"] != "1" {
		t.Fatalf("root span:\n%s", otlptest.Tree(spans))
	}
	request, ok := otlptest.Find(spans, "serval-agent", "POST /v1/completions")
	if !ok || request.SpanID != parts[2] || request.ParentID != root.SpanID || request.Kind != "client" {
		t.Fatalf("the traceparent %q is not the request span's:\n%s", traceparent, otlptest.Tree(spans))
	}
	for _, name := range []string{"debounce", "context", "postprocess"} {
		if s, ok := otlptest.Find(spans, "serval-agent", name); !ok || s.ParentID != root.SpanID || s.End.Before(s.Start) {
			t.Errorf("span %q:\n%s", name, otlptest.Tree(spans))
		}
	}
}

// TestUntracedRequestsCarryNoTraceparent: off (the default), nothing is
// added to the request.
func TestUntracedRequestsCarryNoTraceparent(t *testing.T) {
	srv := newTestServer(t, "Println(x)")
	a := newTestAgent(t, srv.URL, Config{})
	doc := Document{URI: "file:///t/main.go", LanguageID: "go", Text: []byte("package main\n\nfunc main() {\n\tfmt.")}
	a.DidOpen(doc)
	if _, err := a.Suggest(context.Background(), Request{Document: doc, Offset: len(doc.Text), Trigger: Invoked}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.requests.Load() != 1 || srv.lastHeader.Get("traceparent") != "" {
		t.Fatalf("%d requests, traceparent %q", srv.requests.Load(), srv.lastHeader.Get("traceparent"))
	}
}

// BenchmarkKeystrokeTracing measures the keystroke path with tracing off
// (no provider: every user without OTEL_* variables) and on (the real
// OTLP/HTTP exporter to an in-process collector), side by side:
//
//   - server: a completion at a new position each time, against an
//     in-process server that answers at once (debounce off: Invoked), on a
//     20,000-line file (plain windows: the context source is not traced);
//   - cached: the same position again, answered without a request
//     (typed-ahead or the LRU cache) — the path of most keystrokes while
//     ghost text is on screen.
//
// It reports the agent's own time per completion (p50, as
// BenchmarkCompleteOwnTime) besides ns/op.
func BenchmarkKeystrokeTracing(b *testing.B) {
	text := bigGoFile()
	for _, mode := range []string{"off", "on"} {
		for _, path := range []string{"server", "cached"} {
			b.Run(path+"/tracing="+mode, func(b *testing.B) {
				srv := newTestServer(b, "value := compute(input, 42)")
				var tp trace.TracerProvider
				if mode == "on" {
					tp, _ = tracingOn(b)
				}
				a := newTracedAgent(b, srv.URL, tp)
				doc := Document{URI: "file:///bench/big.go", LanguageID: "go", Text: []byte(text)}
				a.DidOpen(doc)
				own := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					off := len(text) / 2
					if path == "server" {
						off = (i*7919)%(len(text)-100) + 50
					}
					res, err := a.Suggest(context.Background(), Request{Document: doc, Offset: off, Trigger: Invoked})
					if err != nil {
						b.Fatal(err)
					}
					own = append(own, res.AgentTime)
				}
				b.StopTimer()
				sort.Slice(own, func(i, j int) bool { return own[i] < own[j] })
				b.ReportMetric(float64(own[len(own)/2].Nanoseconds())/1e3, "own-p50-µs")
			})
		}
	}
}

// bigGoFile is 2,000 functions of 10 lines: the shape of a real 20,000-line file.
func bigGoFile() string {
	var sb strings.Builder
	sb.WriteString("package big\n\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&sb, "// f%d computes a value.\nfunc f%d(input int) int {\n", i, i)
		for j := 0; j < 6; j++ {
			fmt.Fprintf(&sb, "\tv%d := compute(input, %d) // a typical line of code\n", j, i+j)
		}
		sb.WriteString("\treturn v5\n}\n")
	}
	return sb.String()
}
