package agent

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of completions: each Suggest is one trace, started here, with the
// debounce wait, context gathering, the request to the server (which
// carries the trace on as a W3C traceparent header, see server/api) and
// post-processing as its spans. The phases are timed anyway; spans for them
// are recorded afterwards from the same timestamps, so the keystroke path
// does no tracing work when tracing is off (no provider installed: the
// spans are not recording).

var tracer = otel.Tracer("github.com/servalhq/serval/agent")

// Attributes of a completion's root span.
const (
	attrSource    = attribute.Key("serval.source") // server, cache, typed-ahead, or none
	attrItems     = attribute.Key("serval.items")
	attrLanguage  = attribute.Key("serval.language")
	attrDiscarded = attribute.Key("serval.postprocess.discarded")
)

// traceSpan records a finished phase from..to as a child of ctx's span.
func traceSpan(ctx context.Context, name string, from, to time.Time) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	_, span := tracer.Start(ctx, name, trace.WithTimestamp(from))
	span.End(trace.WithTimestamp(to))
}

// endCompletionSpan ends a completion's root span with what it answered.
func endCompletionSpan(span trace.Span, language string, res *Result, err error) {
	if span.IsRecording() {
		source, items := "none", 0
		if res != nil && len(res.Items) > 0 {
			source, items = res.Source, len(res.Items)
		}
		span.SetAttributes(attrLanguage.String(language), attrSource.String(source), attrItems.Int(items))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// endRequestSpan ends the span of the request to the server.
func endRequestSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
