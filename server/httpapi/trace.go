package httpapi

import (
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/servalhq/serval/server/httpapi")

// traceRequests starts the server span of each API request, continuing the
// caller's trace when the request carries a W3C traceparent (the agent's,
// or any traced client's). Health polls, metrics scrapes and the web app's
// pages are not traced: they would bury the completions. With tracing off
// the propagator and tracer are no-ops.
func traceRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !traced(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		if !span.IsRecording() {
			span.End()
			next.ServeHTTP(w, r.WithContext(ctx)) // the trace id still reaches the logs
			return
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.code == http.StatusNotFound {
			span.SetName(r.Method) // not a route: keep scanners' paths out of span names
		}
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.Int("http.response.status_code", rec.code))
		if rec.code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.code))
		}
		span.End()
	})
}

// attrWarmup marks a request's span as a warm-up: it evaluates a prompt and
// generates nothing, and comes before the completions it speeds up (in a
// trace of its own, the agent's "warm-up"), so a trace search tells it apart.
const attrWarmup = attribute.Key("serval.warmup")

// markWarmup marks the request span of r as a warm-up.
func markWarmup(r *http.Request) {
	trace.SpanFromContext(r.Context()).SetAttributes(attrWarmup.Bool(true))
}

// traced reports whether r gets a span: the API's routes but health,
// liveness and metrics.
func traced(r *http.Request) bool {
	p := r.URL.Path
	return isAPIPath(p) && p != "/v1/health" && p != "/metrics" && p != LivenessPath
}
