package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/servalhq/serval/integration/testsupport/otlptest"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want bool
	}{
		{Config{}, false},
		{Config{Getenv: envOf()}, false},
		{Config{Endpoint: "http://127.0.0.1:4318"}, true},
		{Config{Getenv: envOf(EnvEndpoint, "http://c:4318")}, true},
		{Config{Getenv: envOf(EnvTracesEndpoint, "http://c:4318/v1/traces")}, true},
		{Config{Getenv: envOf(EnvEndpoint, "http://c:4318", "OTEL_SDK_DISABLED", "true")}, false},
		{Config{Getenv: envOf(EnvEndpoint, "http://c:4318", "OTEL_TRACES_EXPORTER", "none")}, false},
		{Config{Endpoint: "http://c:4318", Getenv: envOf("OTEL_SDK_DISABLED", "TRUE")}, false},
	} {
		if got := Enabled(c.cfg); got != c.want {
			t.Errorf("Enabled(endpoint %q, env) = %v, want %v", c.cfg.Endpoint, got, c.want)
		}
	}
	tr, err := Start(context.Background(), Config{Getenv: envOf()})
	if tr != nil || err != nil {
		t.Fatalf("Start with nothing set: %v, %v; want off", tr, err)
	}
	// Off: a nil *Tracing's methods do nothing.
	if tr.Endpoint() != "" || tr.Shutdown(context.Background()) != nil {
		t.Fatal("nil Tracing")
	}
}

func TestStartRefusesBadSettings(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Endpoint: "localhost:4318"}, "--otlp-endpoint"},
		{Config{Endpoint: "ftp://collector"}, "--otlp-endpoint"},
		{Config{Getenv: envOf(EnvEndpoint, "http://")}, EnvEndpoint},
		{Config{Getenv: envOf(EnvTracesEndpoint, "://x")}, EnvTracesEndpoint},
		{Config{Getenv: envOf(EnvEndpoint, "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")}, "http/protobuf"},
		{Config{Getenv: envOf(EnvEndpoint, "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")}, "http/protobuf"},
		{Config{Getenv: envOf(EnvEndpoint, "http://c:4318", "OTEL_TRACES_EXPORTER", "zipkin")}, "only otlp"},
	} {
		tr, err := Start(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start(%q, env): %v, want an error naming %q", c.cfg.Endpoint, err, c.want)
		}
		tr.Shutdown(context.Background())
	}
	// Credentials in the endpoint never reach the error.
	_, err := Start(context.Background(), Config{Endpoint: "ftp://user:hunter2@collector"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSpansReachTheCollector(t *testing.T) {
	collector := otlptest.Start(t)
	for _, c := range []struct {
		name string
		cfg  Config
		want string // service.name
	}{
		{"flag", Config{ServiceName: "serval", Endpoint: collector.URL}, "serval"},
		{"endpoint variable", Config{ServiceName: "serval-agent", Getenv: envOf(EnvEndpoint, collector.URL)}, "serval-agent"},
		{"traces variable", Config{ServiceName: "serval", Getenv: envOf(EnvTracesEndpoint, collector.URL+"/v1/traces", "OTEL_SERVICE_NAME", "serval-eu")}, "serval-eu"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Start(context.Background(), c.cfg)
			if err != nil || tr == nil {
				t.Fatalf("Start: %v, %v", tr, err)
			}
			_, span := otel.Tracer("test").Start(context.Background(), "span "+c.name)
			traceID := span.SpanContext().TraceID().String()
			span.End()
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := otlptest.Trace(collector.Spans(), traceID)
			if len(spans) != 1 || spans[0].Name != "span "+c.name || spans[0].Service != c.want {
				t.Fatalf("received %+v, want one span of service %q", spans, c.want)
			}
		})
	}
}

// The sampler comes from the standard variables, read by the SDK.
func TestSamplerVariablesAreHonoured(t *testing.T) {
	collector := otlptest.Start(t)
	for _, c := range []struct {
		sampler, arg string
		recording    bool
	}{
		{"always_off", "", false},
		{"traceidratio", "0", false},
		{"traceidratio", "1", true},
		{"", "", true}, // default: parentbased_always_on
	} {
		t.Setenv("OTEL_TRACES_SAMPLER", c.sampler)
		t.Setenv("OTEL_TRACES_SAMPLER_ARG", c.arg)
		tr, err := Start(context.Background(), Config{Endpoint: collector.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, span := otel.Tracer("test").Start(context.Background(), "sampled?")
		if span.IsRecording() != c.recording {
			t.Errorf("OTEL_TRACES_SAMPLER=%q _ARG=%q: recording %v, want %v", c.sampler, c.arg, span.IsRecording(), c.recording)
		}
		span.End()
		tr.Shutdown(context.Background())
	}
}

// A collector that is down: spans are dropped with one log line for the
// outage, however many batches fail, and one when it is back.
func TestCollectorDownLogsOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	var logs logBuffer
	tr, err := Start(context.Background(), Config{Endpoint: down, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	for i := range 3 {
		_, span := otel.Tracer("test").Start(context.Background(), "dropped")
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := tr.provider.ForceFlush(ctx)
		cancel()
		if err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), "spans are dropped"); n != 1 {
		t.Fatalf("%d lines about dropped spans, want 1:\n%s", n, logs.String())
	}
	if strings.Count(logs.String(), "\n") != 1 {
		t.Fatalf("more than the one line:\n%s", logs.String())
	}
}

type failingExporter struct{ fail bool }

func (f *failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	if f.fail {
		return errors.New("connection refused")
	}
	return nil
}
func (f *failingExporter) Shutdown(context.Context) error { return nil }

func TestOutageIsReportedOnceAndItsEnd(t *testing.T) {
	var logs logBuffer
	f := &failingExporter{}
	e := &reportingExporter{SpanExporter: f, log: slog.New(slog.NewTextHandler(&logs, nil)), endpoint: "http://c:4318/v1/traces"}
	ctx := context.Background()
	for _, fail := range []bool{false, true, true, true, false, false, true} {
		f.fail = fail
		if err := e.ExportSpans(ctx, nil); err != nil {
			t.Fatalf("ExportSpans returned %v: the failure is reported once, not for every batch", err)
		}
	}
	out := logs.String()
	if strings.Count(out, "spans are dropped") != 2 || strings.Count(out, "reachable again") != 1 {
		t.Fatalf("two outages and one recovery, got:\n%s", out)
	}
}

func TestLogHandlerAddsTheTraceID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&buf, nil))).With("component", "test")
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "traced")
	log.InfoContext(context.Background(), "untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", buf.String())
	}
	if !strings.Contains(lines[0], "trace_id=4bf92f3577b34da6a3ce929d0e0e4736") || !strings.Contains(lines[0], "span_id=00f067aa0ba902b7") ||
		!strings.Contains(lines[0], "component=test") {
		t.Errorf("traced line: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("untraced line: %s", lines[1])
	}
}
