package engine

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// recordSpans makes this package's tracer record into a span recorder.
func recordSpans(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	old := tracer
	tracer = tp.Tracer("test")
	t.Cleanup(func() { tracer = old; tp.Shutdown(context.Background()) })
	return tp, rec
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]int64 {
	m := map[attribute.Key]int64{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.AsInt64()
	}
	return m
}

// The phases are laid end to end back from the end, with the engine's own
// durations and counts.
func TestTracePhases(t *testing.T) {
	tp, rec := recordSpans(t)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "generate")
	end := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	u := Usage{PromptTokens: 120, ReusedTokens: 100, EvaluatedTokens: 20, GeneratedTokens: 7,
		QueueWait: 3 * time.Millisecond, PromptEval: 40 * time.Millisecond, Generation: 70 * time.Millisecond}
	TracePhases(ctx, end, u)
	parent.End()
	want := []struct {
		name       string
		start, end time.Time
		attrs      map[attribute.Key]int64
	}{
		{"queue wait", end.Add(-113 * time.Millisecond), end.Add(-110 * time.Millisecond), map[attribute.Key]int64{}},
		{"prompt eval", end.Add(-110 * time.Millisecond), end.Add(-70 * time.Millisecond),
			map[attribute.Key]int64{AttrPromptTokens: 120, AttrEvaluatedTokens: 20, AttrReusedTokens: 100}},
		{"generation", end.Add(-70 * time.Millisecond), end, map[attribute.Key]int64{AttrGeneratedTokens: 7}},
	}
	got := rec.Ended()
	if len(got) != 4 {
		t.Fatalf("%d spans, want the three phases and the parent", len(got))
	}
	for i, w := range want {
		s := got[i]
		if s.Name() != w.name || !s.StartTime().Equal(w.start) || !s.EndTime().Equal(w.end) || s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %s %v-%v parent %v; want %s %v-%v", i, s.Name(), s.StartTime(), s.EndTime(), s.Parent().SpanID(), w.name, w.start, w.end)
		}
		if a := attrs(s.Attributes()); len(a) != len(w.attrs) {
			t.Errorf("%s attributes %v, want %v", w.name, a, w.attrs)
		} else {
			for k, v := range w.attrs {
				if a[k] != v {
					t.Errorf("%s: %s = %d, want %d", w.name, k, a[k], v)
				}
			}
		}
	}

	// A phase that did not happen is left out; untraced, nothing is recorded.
	rec2 := len(rec.Ended())
	ctx2, p2 := tp.Tracer("test").Start(context.Background(), "generate")
	TracePhases(ctx2, end, Usage{Generation: time.Millisecond})
	p2.End()
	TracePhases(context.Background(), end, u)
	if n := len(rec.Ended()) - rec2; n != 2 {
		t.Fatalf("%d spans, want generation and its parent only", n)
	}
}

func TestTraceUpstreamEndsWithUsageAndError(t *testing.T) {
	_, rec := recordSpans(t)
	_, end := TraceUpstream(context.Background(), "pool member", "ollama:h/m", "h:11434")
	end(Usage{GeneratedTokens: 3, StopReason: StopEOS}, errors.New("boom"))
	_, end = TraceUpstream(context.Background(), "pool member", "b", "")
	end(Usage{StopReason: StopCancelled}, context.Canceled)
	got := rec.Ended()
	if len(got) != 2 {
		t.Fatalf("%d spans", len(got))
	}
	s := got[0]
	a := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		a[kv.Key] = kv.Value.Emit()
	}
	if s.Name() != "pool member" || a[AttrUpstream] != "ollama:h/m" || a[AttrUpstreamURL] != "h:11434" ||
		a[AttrGeneratedTokens] != "3" || a[AttrStopReason] != StopEOS || s.Status().Code != codes.Error {
		t.Errorf("span %s %v status %v", s.Name(), a, s.Status())
	}
	if got[1].Status().Code == codes.Error {
		t.Errorf("a cancelled call is not an error: %v", got[1].Status())
	}
}

// PropagatingTransport adds the context's traceparent (by the installed
// propagator) to a copy of the request, and nothing without a span.
func TestPropagatingTransport(t *testing.T) {
	old := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(old) })
	var got []string
	rt := PropagatingTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Header.Get("traceparent"))
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	}))

	tp, _ := recordSpans(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "ollama")
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/api/generate", http.NoBody)
	plain, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://127.0.0.1:1/api/generate", http.NoBody)
	for _, r := range []*http.Request{req, plain} {
		if _, err := rt.RoundTrip(r); err != nil {
			t.Fatal(err)
		}
	}
	sc := span.SpanContext()
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if len(got) != 2 || got[0] != want || got[1] != "" {
		t.Fatalf("traceparents sent %q, want [%q \"\"]", got, want)
	}
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
