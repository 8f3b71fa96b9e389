package agent

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of completions: with Options.TracerProvider set, each Suggest is
// one trace, started here, with the debounce wait, context gathering, the
// request to the server (which carries the trace on as a W3C traceparent
// header, see server/api) and post-processing as its spans. The phases are
// timed anyway; their spans are recorded afterwards from the same
// timestamps. Without a provider (the default) every call below returns at
// its first test: the keystroke path allocates nothing for tracing.

// tracerName names the agent's instrumentation.
const tracerName = "github.com/servalhq/serval/agent"

// Attributes of a completion's root span.
const (
	attrSource    = attribute.Key("serval.source") // server, cache, typed-ahead, or none
	attrItems     = attribute.Key("serval.items")
	attrLanguage  = attribute.Key("serval.language")
	attrDiscarded = attribute.Key("serval.postprocess.discarded")
	attrWarmup    = attribute.Key("serval.warmup") // on a warm-up's root span
)

// startCompletion starts a completion's root span when tracing is on; off,
// it returns ctx and the non-recording span already in it.
func (a *Agent) startCompletion(ctx context.Context) (context.Context, trace.Span) {
	if a.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return a.tracer.Start(ctx, "completion")
}

// startWarmup starts a warm-up's root span when tracing is on: a warm-up
// comes before the completion it speeds up, so it is a trace of its own,
// "warm-up" marked serval.warmup, with its request (and the server's spans)
// under it. Off, it returns ctx and the non-recording span already in it.
func (a *Agent) startWarmup(ctx context.Context) (context.Context, trace.Span) {
	if a.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return a.tracer.Start(ctx, "warm-up", trace.WithAttributes(attrWarmup.Bool(true)))
}

// endSpan ends span with err as its status.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceSpan records a finished phase from..to as a child of ctx's span.
func (a *Agent) traceSpan(ctx context.Context, name string, from, to time.Time) {
	if a.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	_, span := a.tracer.Start(ctx, name, trace.WithTimestamp(from))
	span.End(trace.WithTimestamp(to))
}

// traceRequest starts the span of the request to the server; end ends it
// with the request's error.
func (a *Agent) traceRequest(ctx context.Context) (_ context.Context, end func(error)) {
	if a.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noEnd
	}
	ctx, span := a.tracer.Start(ctx, "POST /v1/completions", trace.WithSpanKind(trace.SpanKindClient))
	return ctx, func(err error) { endSpan(span, err) }
}

func noEnd(error) {}

// endCompletion ends a completion's root span with what it answered.
func endCompletion(span trace.Span, language string, res *Result, err error) {
	source, items := "none", 0
	if res != nil && len(res.Items) > 0 {
		source, items = res.Source, len(res.Items)
	}
	span.SetAttributes(attrLanguage.String(language), attrSource.String(source), attrItems.Int(items))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracerName)
}
