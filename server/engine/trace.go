package engine

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of generations. Engines already measure their phases for /metrics
// and debug timing (Usage); the trace reuses those measurements, recorded
// once a generation returns, so traces and metrics agree and no span work
// runs inside a decode loop. With tracing off (no provider installed) these
// calls do nothing.

var tracer = otel.Tracer("github.com/servalhq/serval/server/engine")

// Span attributes of a generation.
const (
	AttrPromptTokens    = attribute.Key("serval.prompt.tokens")
	AttrEvaluatedTokens = attribute.Key("serval.prompt.tokens_evaluated")
	AttrReusedTokens    = attribute.Key("serval.prompt.tokens_reused")
	AttrGeneratedTokens = attribute.Key("serval.generation.tokens")
	AttrStopReason      = attribute.Key("serval.stop_reason")
	AttrUpstream        = attribute.Key("serval.upstream")
	AttrUpstreamURL     = attribute.Key("server.address")
)

// TracePhases records u's phases as child spans of ctx's span, laid end to
// end and ending at end (when the generation returned): "queue wait",
// "prompt eval" (tokens evaluated and reused) and "generation" (tokens
// generated). A phase that did not happen (zero duration) is left out.
func TracePhases(ctx context.Context, end time.Time, u Usage) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	genStart := end.Add(-u.Generation)
	evalStart := genStart.Add(-u.PromptEval)
	queueStart := evalStart.Add(-u.QueueWait)
	phase := func(name string, from, to time.Time, attrs ...attribute.KeyValue) {
		if !to.After(from) {
			return
		}
		_, span := tracer.Start(ctx, name, trace.WithTimestamp(from), trace.WithAttributes(attrs...))
		span.End(trace.WithTimestamp(to))
	}
	phase("queue wait", queueStart, evalStart)
	phase("prompt eval", evalStart, genStart,
		AttrPromptTokens.Int(u.PromptTokens), AttrEvaluatedTokens.Int(u.EvaluatedTokens), AttrReusedTokens.Int(u.ReusedTokens))
	phase("generation", genStart, end, AttrGeneratedTokens.Int(u.GeneratedTokens))
}

// TraceUpstream starts the span of a call to a remote upstream (an Ollama or
// OpenAI-compatible server, a pool's member) named by name, at address
// (credentials redacted). The returned function ends it with the call's
// usage and error.
func TraceUpstream(ctx context.Context, spanName, name, address string) (context.Context, func(Usage, error)) {
	ctx, span := tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrUpstream.String(name), AttrUpstreamURL.String(address)))
	return ctx, func(u Usage, err error) {
		if span.IsRecording() {
			EndSpan(span, u, err)
		} else {
			span.End()
		}
	}
}

// EndSpan ends span with u's counts and stop reason, and err as its status.
func EndSpan(span trace.Span, u Usage, err error) {
	span.SetAttributes(AttrPromptTokens.Int(u.PromptTokens), AttrEvaluatedTokens.Int(u.EvaluatedTokens),
		AttrReusedTokens.Int(u.ReusedTokens), AttrGeneratedTokens.Int(u.GeneratedTokens))
	if u.StopReason != "" {
		span.SetAttributes(AttrStopReason.String(u.StopReason))
	}
	if u.Upstream != "" {
		span.SetAttributes(AttrUpstream.String(u.Upstream))
	}
	if err != nil && u.StopReason != StopCancelled {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// PropagatingTransport sends each request's trace context (the W3C
// traceparent of its context's span, by the process's propagator) to the
// upstream, for clients that take an *http.Client but no headers, such as
// Ollama's api.Client. With tracing off the propagator writes nothing and
// the request goes out as it came.
func PropagatingTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return propagatingTransport{base}
}

type propagatingTransport struct{ base http.RoundTripper }

func (t propagatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(req.Context()).IsValid() {
		return t.base.RoundTrip(req)
	}
	h := http.Header{}
	otel.GetTextMapPropagator().Inject(req.Context(), propagation.HeaderCarrier(h))
	if len(h) == 0 {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context()) // a RoundTripper must not change its caller's request
	for k, v := range h {
		req.Header[k] = v
	}
	return t.base.RoundTrip(req)
}
