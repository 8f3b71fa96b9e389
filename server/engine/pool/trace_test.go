package pool

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/servalhq/serval/server/engine"
)

// The engines' tracer delegates to the first provider installed, for the
// life of the process: one recorder for the whole test binary, each test
// reading the spans of its own trace.
var (
	recorderOnce sync.Once
	recorder     *tracetest.SpanRecorder
	provider     *sdktrace.TracerProvider
)

func spansOf(t *testing.T) (context.Context, func() []sdktrace.ReadOnlySpan) {
	recorderOnce.Do(func() {
		recorder = tracetest.NewSpanRecorder()
		provider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
		otel.SetTracerProvider(provider)
	})
	ctx, root := provider.Tracer("test").Start(context.Background(), t.Name())
	root.End()
	id := root.SpanContext().TraceID()
	return ctx, func() []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range recorder.Ended() {
			if s.SpanContext().TraceID() == id && s.Name() == "pool member" {
				out = append(out, s)
			}
		}
		return out
	}
}

func upstreamOf(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Attributes() {
		if kv.Key == engine.AttrUpstream {
			return kv.Value.AsString()
		}
	}
	return ""
}

// Each try is a "pool member" span naming the member: a failover shows the
// member that failed (an error) and the one that served.
func TestPoolMemberSpans(t *testing.T) {
	a, b := &fakeUpstream{name: "a"}, &fakeUpstream{name: "b"}
	p := newPool(t, a, b)
	a.down.Store(true) // dies after the health check saw it alive
	ctx, spans := spansOf(t)
	var got string
	if _, err := p.Generate(ctx, engine.Request{Prompt: "x"}, func(s string) error { got += s; return nil }); err != nil || got != "b" {
		t.Fatalf("%q %v", got, err)
	}
	ss := spans()
	if len(ss) != 2 || upstreamOf(ss[0]) != "a" || ss[0].Status().Code != codes.Error ||
		upstreamOf(ss[1]) != "b" || ss[1].Status().Code == codes.Error {
		for _, s := range ss {
			t.Logf("%s %s %v %v", s.Name(), upstreamOf(s), s.Status(), s.Attributes())
		}
		t.Fatalf("%d pool member spans, want a (failed) then b", len(ss))
	}
	if ss[1].SpanKind() != trace.SpanKindClient {
		t.Errorf("kind %v", ss[1].SpanKind())
	}
}
