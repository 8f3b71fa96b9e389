// Package telemetry owns the OpenTelemetry tracing set-up that serval and
// serval-agent share: whether tracing is on (the standard OTEL_* variables or
// an explicit endpoint), the OTLP/HTTP exporter, the resource (service name
// and version), the sampler (OTEL_TRACES_SAMPLER and _ARG, read by the SDK),
// the W3C trace-context propagator, what happens when the collector is down
// (spans are dropped with one log line; nothing waits for it), and the log
// handler that puts the trace id on log lines.
//
// Instrumented packages use the OpenTelemetry API directly (otel.Tracer,
// otel.GetTextMapPropagator): until Start installs a provider that API is a
// no-op, which is what "off" means. This package imports no other Serval
// package, so either program may use it.
package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// The standard variables that turn tracing on or off.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envServiceName    = "OTEL_SERVICE_NAME"
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// Config says how to trace.
type Config struct {
	// ServiceName is service.name when OTEL_SERVICE_NAME is unset.
	ServiceName string
	// Version is service.version.
	Version string
	// Endpoint is the collector's OTLP/HTTP base URL (http://host:4318; spans
	// go to its /v1/traces), from --otlp-endpoint. It wins over the
	// environment; "" leaves the choice to OTEL_EXPORTER_OTLP_ENDPOINT and
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
	Endpoint string
	// Getenv reads the environment (os.Getenv; tests pass their own). The
	// SDK reads the variables it owns (sampler, batching, headers, timeout,
	// OTEL_RESOURCE_ATTRIBUTES) from the process environment itself.
	Getenv func(string) string
	// Logger receives the line that says spans are being dropped, and the
	// SDK's other errors; nil discards them.
	Logger *slog.Logger
}

// Tracing is tracing turned on. A nil *Tracing is tracing off: its methods
// do nothing.
type Tracing struct {
	provider *sdktrace.TracerProvider
	endpoint string // redacted, for the start-up line
	log      *slog.Logger
}

// ShutdownTimeout bounds the last export at exit: a collector that is down
// must not hold the process up.
const ShutdownTimeout = 2 * time.Second

// Enabled reports whether cfg asks for tracing: an endpoint from the flag or
// the environment, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none.
func Enabled(cfg Config) bool {
	getenv := cfg.getenv()
	if strings.EqualFold(strings.TrimSpace(getenv(envSDKDisabled)), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv(envTracesExporter)), "none") {
		return false
	}
	return cfg.Endpoint != "" || getenv(EnvEndpoint) != "" || getenv(EnvTracesEndpoint) != ""
}

// Start turns tracing on when cfg asks for it (see Enabled) and installs it
// as the process's tracer provider and propagator; it returns nil, nil when
// tracing stays off. A malformed endpoint or an unsupported exporter or
// protocol is an error naming the setting.
func Start(ctx context.Context, cfg Config) (*Tracing, error) {
	t, err := New(ctx, cfg)
	if t != nil {
		t.install()
	}
	return t, err
}

// Propagator is the W3C trace-context (and baggage) propagator Start installs.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// New is Start without installing anything: its TracerProvider is the
// caller's to use (a benchmark comparing tracing off and on in one process).
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if !Enabled(cfg) {
		return nil, nil
	}
	getenv := cfg.getenv()
	if e := strings.TrimSpace(getenv(envTracesExporter)); e != "" && !strings.EqualFold(e, "otlp") {
		return nil, fmt.Errorf("%s=%q: only otlp (or none) is supported", envTracesExporter, e)
	}
	for _, key := range []string{envTracesProtocol, envProtocol} {
		if p := strings.TrimSpace(getenv(key)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%q: only http/protobuf is supported (the OTLP/HTTP port, 4318)", key, p)
			}
			break
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// Retries are off: a batch the collector cannot take is dropped rather
	// than held while newer spans queue up behind it.
	opts := []otlptracehttp.Option{otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
	var shown string
	switch {
	case cfg.Endpoint != "":
		u, err := parseEndpoint("--otlp-endpoint", cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		shown = u.Redacted()
	case getenv(EnvTracesEndpoint) != "":
		u, err := parseEndpoint(EnvTracesEndpoint, getenv(EnvTracesEndpoint))
		if err != nil {
			return nil, err
		}
		// Given explicitly: the exporter would otherwise read it from the
		// process environment, which may differ from getenv's.
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		shown = u.Redacted()
	default:
		u, err := parseEndpoint(EnvEndpoint, getenv(EnvEndpoint))
		if err != nil {
			return nil, err
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		shown = u.Redacted()
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}

	res, err := resource.New(ctx,
		resource.WithAttributes(
			semconv.ServiceName(cmp.Or(getenv(envServiceName), cfg.ServiceName, "serval")),
			semconv.ServiceVersion(cfg.Version)),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
		resource.WithTelemetrySDK())
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES: keep what could be read.
		log.Warn("tracing: resource attributes", "err", err)
	}
	// The sampler is left to the SDK, which reads OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG (default: parentbased_always_on).
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(&reportingExporter{SpanExporter: exp, log: log, endpoint: shown}))
	return &Tracing{provider: tp, endpoint: shown, log: log}, nil
}

// install makes t the process's tracer provider, propagator and handler of
// the SDK's errors.
func (t *Tracing) install() {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		t.log.Warn("tracing", "err", err)
	}))
	otel.SetTracerProvider(t.provider)
	otel.SetTextMapPropagator(Propagator)
}

// TracerProvider is t's provider, nil when t is nil (off).
func (t *Tracing) TracerProvider() *sdktrace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}

// parseEndpoint checks that s is an http or https URL with a host.
func parseEndpoint(setting, s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := s
		if err == nil {
			shown = u.Redacted()
		} else {
			shown = "(unparsable)"
		}
		return nil, fmt.Errorf("%s %s: want an http:// or https:// URL of the collector's OTLP/HTTP port, like http://localhost:4318", setting, shown)
	}
	return u, nil
}

// Endpoint is where spans go (credentials redacted), "" when off.
func (t *Tracing) Endpoint() string {
	if t == nil {
		return ""
	}
	return t.endpoint
}

// Shutdown exports what is left, waiting at most ShutdownTimeout.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return t.provider.Shutdown(ctx)
}

// reportingExporter turns export failures into one log line per outage: the
// first failure says spans are being dropped, the next success says the
// collector is back. The failed batch is dropped either way.
type reportingExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string

	mu   sync.Mutex
	down bool
}

func (e *reportingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err != nil && !e.down:
		e.down = true
		e.log.Warn("tracing: the collector cannot be reached; spans are dropped until it is back",
			"endpoint", e.endpoint, "err", err)
	case err == nil && e.down:
		e.down = false
		e.log.Info("tracing: the collector is reachable again", "endpoint", e.endpoint)
	}
	return nil // a failure was reported above; the SDK would log it again for every batch
}

func (c Config) getenv() func(string) string {
	if c.Getenv == nil {
		return func(string) string { return "" }
	}
	return c.Getenv
}
